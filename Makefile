# vessel-risk: `make demo` and `make test` work on a fresh machine with Python 3.11 and the
# package registries. The venv is (re)built from the lock file when the lock changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
DEMO_HOME ?= var/demo

.PHONY: install demo test lint bench clean browser

$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --python $(PY) --compile-bytecode -q -r requirements-dev.lock
	$(VENV)/bin/uv pip install --python $(PY) --compile-bytecode -q --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/vessel-risk --home $(DEMO_HOME) demo

lint: install
	$(VENV)/bin/ruff check pipeline tests benchmarks config/build $(wildcard dags) $(wildcard models/*.py)
	$(VENV)/bin/mypy

# Browser tests drive Debian's Chromium through Playwright (no browser download: the network
# of a PIU or a CI box may not reach one). Installed from Debian's packages when missing.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }

test: lint browser
	$(PY) -m pytest -n 2 -q

bench: install
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
