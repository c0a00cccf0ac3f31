"""Where the tests find the repository's files and the platforms' seed documents."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
SCENARIOS = CONFIG / "scenarios"
EXAMPLES = CONFIG / "examples"

# CI runs a fresh clone with a copy of shared/ beside it; a developer's checkout has it at
# /work/shared. The seeds are the platforms' own documents (the verifiers come from there).
SEEDS = next(
    (p for p in (REPO.parent / "shared" / "seeds", Path("/work/shared/seeds")) if p.is_dir()),
    REPO.parent / "shared" / "seeds",
)
