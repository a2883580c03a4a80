# pocketdesk: every target bootstraps its own virtual environment.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The official Kite client, only as a differential-test oracle. It pins 2019-era autobahn and
# Twisted, so it lives in its own venv and is only ever run as a subprocess.
ORACLE_VENV  := .venv-oracle
ORACLE_PY    := $(ORACLE_VENV)/bin/python
KITECONNECT  := 5.2.2
ORACLE_STAMP := $(ORACLE_VENV)/.installed-kiteconnect-$(KITECONNECT)

.PHONY: demo test lint typecheck pytest bench oracle run clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(ORACLE_STAMP):
	@test -x $(ORACLE_PY) || $(PYTHON) -m venv $(ORACLE_VENV)
	@$(ORACLE_PY) -m pip install --quiet --upgrade pip
	@$(ORACLE_PY) -m pip install --quiet 'kiteconnect==$(KITECONNECT)'
	@touch $(ORACLE_STAMP)

oracle: $(ORACLE_STAMP)

demo: $(STAMP)
	@$(BIN)/pocketdesk demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check bot core brokers tests bench
	$(BIN)/ruff format --check bot core brokers tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(ORACLE_STAMP)
	POCKETDESK_KITE_ORACLE=$(CURDIR)/$(ORACLE_PY) $(BIN)/pytest

bench: $(STAMP) $(ORACLE_STAMP)
	POCKETDESK_KITE_ORACLE=$(CURDIR)/$(ORACLE_PY) $(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(ORACLE_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
