# ArbSphere: every target creates .venv and installs on first use, so a fresh clone needs nothing else.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck proto proto-check bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@# The console's browser tests drive Debian's chromium (never Playwright's own download). Root installs
	@# it when missing; anyone else gets a note, and those tests skip (they fail under CI=true).
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y chromium || (apt-get update && apt-get install -y chromium) \
	      || echo "note: apt-get install chromium failed; browser tests will skip"; \
	  else \
	    echo "note: /usr/bin/chromium missing (as root: apt-get install -y chromium); browser tests will skip"; \
	  fi; \
	fi
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/arbsphere demo

test: $(STAMP) lint typecheck
	$(PY) -m pytest -q -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy energibridge sdk agents coordinator registry arbsphere

proto: $(STAMP)
	$(PY) -m energibridge.codegen generate

proto-check: $(STAMP)
	$(PY) -m energibridge.codegen check

bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache bench/results/*.json
