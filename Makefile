# Two entry points for a fresh Debian machine: `make run` (install, open the GUI) and
# `make test` (install, run the whole suite). Both are idempotent.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench-seek

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh "$(PYTHON)" "$(VENV)"
	touch $(STAMP)

run: install
	$(PY) main.py

test: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
