"""`python -m agent`: see agent/cli.py. The guard matters: job processes start under forkserver."""

from agent.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
