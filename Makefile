# Two commands do all set-up on a fresh clone (Python 3.11+ and make):
#   make demo   - the daemon dialing a simulated Asterisk on an embedded SQLite store
#   make test   - ruff, mypy on src/, pytest
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dialerd needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,fast]'
	@touch $(STAMP)

DEMO_ARGS ?= --minutes 3

demo: $(STAMP)
	$(BIN)/dialerd demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/dialerd bench all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
