# Two commands on a fresh machine (Python >= 3.10):
#   make test   install into .venv, run the unit tests and strict `pytest --nbval` over every chapter
#   make book   build the HTML book into _build/html from the stored notebook outputs (offline)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider
# The same environment for executing chapters (make execute) and for verifying them (make test).
export PYTHONHASHSEED := 0
export MPLBACKEND := module://matplotlib_inline.backend_inline

.PHONY: install test unit nbval book book-strict execute constraints sync-repository-url vendor-widgets clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "mnv3lib needs Python >= 3.10, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel -c constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

install: $(STAMP)

test: unit nbval

unit: $(STAMP)
	$(BIN)/python -m pytest tests -p no:cacheprovider

nbval: $(STAMP)
	@test -n "$(NOTEBOOKS)" || { echo "no chapters found in notebooks/"; exit 1; }
	$(BIN)/python -m pytest $(NBVAL) $(NOTEBOOKS)

book: $(STAMP)
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)

# What CI runs: every warning is an error, and every cross-reference must resolve.
book-strict: BOOK_FLAGS := -W -n --keep-going
book-strict: book

# Re-execute the chapters in place (outputs and widget state), as they are committed.
execute: $(STAMP)
	for nb in $(NOTEBOOKS); do \
		start=$$(date +%s); $(BIN)/jupyter execute --inplace --timeout=600 $$nb || exit 1; \
		echo "$$nb executed in $$(( $$(date +%s) - start )) s"; \
	done

constraints: $(STAMP)
	( head -n 2 constraints.txt; $(BIN)/python -m pip freeze --all --exclude-editable ) > constraints.new && mv constraints.new constraints.txt

sync-repository-url: $(STAMP)
	$(BIN)/python scripts/sync_repository_url.py

vendor-widgets:
	scripts/vendor_widgets.sh

clean:
	rm -rf _build
