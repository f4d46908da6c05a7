# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, and start ModelPilot with embedded defaults
#   make test   create .venv, install, and run the whole test suite
#   make dist   build the wheel and the release archive into dist/ (docs/install.md)
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
UV := $(VENV)/bin/uv

.PHONY: run test test-fast lint check bench dist clean

$(UV):
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# --compile-bytecode: the packages' bytecode is written once, here (about 20 s). Without it, where
# PYTHONDONTWRITEBYTECODE is set (as in our dev containers) every process compiled each module it
# imported anew: about 3 s of CPU for each server, CLI or benchmark the tests start
# (`import modelpilot.control.cli`: 4-6 s without bytecode, 1.6 s with it). `make test` compiles
# src/ the same way (only what changed). The Makefile is a prerequisite so that an environment
# made before a change here is synced again.
$(STAMP): pyproject.toml uv.lock Makefile | $(UV)
	$(VENV)/bin/uv sync --frozen --inexact --all-extras --all-groups --compile-bytecode --python $(VENV)/bin/python
	touch $(STAMP)

# Other ports: make run PORT=9787 CONTROL_PORT=9700 SIM_PORT=9788 (or MODELPILOT_PORT, ... set).
run: $(STAMP)
	$(VENV)/bin/modelpilot up $(if $(PORT),--port $(PORT)) $(if $(CONTROL_PORT),--control-port $(CONTROL_PORT)) $(if $(SIM_PORT),--sim-port $(SIM_PORT))

# The browser tests need Debian's Chromium: installed when missing and possible; otherwise they are
# skipped with a loud message naming the install command (never in CI; see scripts/ensure-chromium).
test: $(STAMP)
	@$(VENV)/bin/python -m compileall -q src
	@status=0; sh scripts/ensure-chromium || status=$$?; \
	if [ $$status = 0 ]; then $(VENV)/bin/python -m pytest -n 2 --dist loadgroup; \
	elif [ $$status = 3 ]; then \
	  $(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "not browser"; result=$$?; \
	  echo "make test: the browser tests were SKIPPED (no Chromium); install it: sudo apt-get install -y chromium" >&2; \
	  exit $$result; \
	else exit $$status; fi

# Everything but the slow fault/soak/browser tests, for the edit-test loop.
test-fast: $(STAMP)
	@$(VENV)/bin/python -m compileall -q src
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "not slow and not browser"

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

check: lint
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/python -m bench.overhead

# A wheel and a release archive (sdist) in dist/, for installing elsewhere (docs/install.md).
dist: $(UV)
	rm -rf dist
	$(UV) build --quiet --out-dir dist

clean:
	rm -rf dist $(VENV) .pytest_cache .mypy_cache .ruff_cache
