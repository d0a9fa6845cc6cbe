# The two commands of README.md: `make demo` and `make test`. Everything else is a helper of those.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed

.PHONY: demo test lint typecheck suite unit integration e2e test-slow bench setup clean schema browser deploy-check explorer-assets

# The suite on two xdist workers; loadgroup keeps each store backend's shared pipeline run on one
# worker (tests/e2e/conftest.py), so no session fixture is built twice for nothing. Every pytest
# exit code passes through make: 5 (no tests collected) fails the target like any failure.
PYTEST_WORKERS ?= -n 2 --dist loadgroup
DEFAULT_MARKS := not slow and not bench

setup: $(STAMP_PY) $(STAMP_NODE) explorer-assets

# The explorer's browser libraries, copied from node_modules into the app (gitignored).
explorer-assets: $(STAMP_PY) $(STAMP_NODE)
	$(PY) -m dataops.explorer.vendor node_modules

# Headless Chromium for the devhost dashboard test (Debian's package; no browser download).
# Installed when we can (root, as in CI); otherwise the dashboard test skips locally and fails
# under CI=true, so a missing browser never passes silently in CI.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: install Debian's chromium package to run the dashboard browser test"; \
	  fi; }

$(STAMP_PY): pyproject.toml requirements.txt requirements-dev.txt extract_worker/requirements.txt requirements-worker-indexing.txt requirements-nodeps.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt -c constraints.txt
	$(PIP) install --quiet --no-deps --ignore-requires-python -r requirements-worker-indexing.txt
	$(PIP) install --quiet --no-deps -r requirements-nodeps.txt -c constraints.txt
	# The project itself, editable, so .venv/bin/avops runs this checkout's code.
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

# Everything but slow tests and benchmarks (docs/testing.md).
suite: setup browser
	$(PY) -m pytest $(PYTEST_WORKERS)

# One tier at a time (tests/conftest.py sets each test's tier from what it uses).
unit: setup browser
	$(PY) -m pytest $(PYTEST_WORKERS) -m 'unit and $(DEFAULT_MARKS)'

integration: setup
	$(PY) -m pytest $(PYTEST_WORKERS) -m 'integration and $(DEFAULT_MARKS)'

e2e: setup
	$(PY) -m pytest $(PYTEST_WORKERS) -m 'e2e and $(DEFAULT_MARKS)'

# Lint first (seconds); then mypy runs in the background while the suite runs, so the suite's
# two workers are not kept waiting for a minute of single-threaded type checking. mypy's output
# is printed after the suite's; either one failing fails the target. mypy keeps its cache in
# .mypy_cache/ in the checkout, so after the first run it only re-checks what changed.
test: lint browser
	@log=$$(mktemp); $(VENV)/bin/mypy >"$$log" 2>&1 & mypy_pid=$$!; \
	$(PY) -m pytest $(PYTEST_WORKERS); suite=$$?; \
	wait $$mypy_pid; typecheck=$$?; \
	echo "--- mypy"; cat "$$log"; rm -f "$$log"; \
	[ $$suite -eq 0 ] || echo "make test: the suite failed (pytest exit code $$suite)"; \
	[ $$typecheck -eq 0 ] || echo "make test: mypy failed (exit code $$typecheck)"; \
	[ $$suite -eq 0 ] && [ $$typecheck -eq 0 ]

test-slow: setup
	$(PY) -m pytest -m slow

bench: setup
	$(PY) -m pytest bench -m bench -p no:cacheprovider -s

schema: setup
	$(PY) -m dataops.schema_export docs/manifest.schema.json

demo: setup
	$(VENV)/bin/avops demo

# Bicep build and lint, and azd provision --preview, when az / azd are installed (docs/deployment.md).
deploy-check:
	@sh infra/scripts/deploy-check.sh

clean:
	rm -rf $(VENV) node_modules .avops .pytest_cache .mypy_cache .ruff_cache
