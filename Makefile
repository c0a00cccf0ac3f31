# Two entry points a newcomer needs: `make dev` and `make test`.
# Everything else (uv itself, the virtualenv, the locked dependencies) is installed on demand,
# so a fresh machine with Python 3.11+, git and make is enough.

PYTHON ?= python3
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
VENV   := .venv
RUN    := $(UV) run --locked --no-sync

.PHONY: setup dev start test test-realtime lint typecheck check schema bench simulate clean

# uv is bootstrapped into a private venv so we never touch the system Python.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv>=0.4"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	@touch $@

setup: $(VENV)/.synced

## Start the worker against a local `livekit-server --dev` (ws://localhost:7880, devkey/secret).
dev: setup
	$(RUN) python -m agent dev

## Production worker (drains on SIGTERM).
start: setup
	$(RUN) python -m agent start

## The test suite: no network beyond loopback, no LiveKit server, no provider account.
## Simulated calls run 8x faster than real time (VOICE_AGENT_TEST_SPEED; tests/conftest.py),
## two test processes at once (TEST_WORKERS); the real-time tier is `make test-realtime`.
TEST_WORKERS ?= 2
test: setup
	$(RUN) pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not realtime"

## The tests that wait on real time: the bench, real job processes, killed processes, and
## sped-up calls compared with real-time ones. CI runs it after `make test`.
test-realtime: setup
	$(RUN) pytest -q -m realtime

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup
	$(RUN) mypy

check: lint typecheck test

schema: setup
	$(RUN) python -m agent schema --write

bench: setup
	$(RUN) python -m agent bench

## A whole call offline: `make simulate SCENARIO=config/scenarios/booking.yaml`
SCENARIO ?= config/scenarios/booking.yaml
simulate: setup
	$(RUN) python -m agent simulate $(SCENARIO)

clean:
	rm -rf $(TOOLS) $(VENV) .pytest_cache .mypy_cache .ruff_cache
