# Entry points for a fresh Debian machine: `make run` (install, open the GUI), `make demo`
# (install, open the GUI on a demo project) and `make test` (install, run the whole suite).
# All are idempotent.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh "$(PYTHON)" "$(VENV)"
	touch $(STAMP)

run: install
	$(PY) main.py

demo: install
	$(PY) main.py --demo

test: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
