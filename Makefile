# Two commands on a fresh machine (Python >= 3.10):
#   make test   install into .venv, then `pytest --nbval`: the unit tests and every chapter, strictly
#   make book   build the HTML book into _build/html from the stored notebook outputs (offline, once
#               npm ci has installed ONNX Runtime Web from the npm registry: the book needs npm)
# and one more for the Colab path:
#   make test-colab   the same tests on Colab's stack (constraints-colab.txt), in .venv-colab
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# The environment the chapters are executed with (make execute). `pytest` sets the same values itself
# (conftest.py), so a bare `pytest --nbval` verifies them in it too.
export PYTHONHASHSEED := 0
export MPLBACKEND := module://matplotlib_inline.backend_inline
export MNV3LIB_OFFLINE := 1

.PHONY: install test unit nbval test-browser test-colab install-colab book book-strict browser-assets execute constraints sync-repository-url clean

$(STAMP): requirements.txt requirements-deploy.txt constraints.txt pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "mnv3lib needs Python >= 3.10, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel -c constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-deploy.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

install: $(STAMP)

# The README's command, nothing more: pyproject.toml and conftest.py hold the settings.
test: $(STAMP)
	$(BIN)/pytest --nbval

# Parts of it: the unit tests alone, the chapters alone.
unit: $(STAMP)
	$(BIN)/pytest

nbval: $(STAMP)
	@test -n "$(NOTEBOOKS)" || { echo "no chapters found in notebooks/"; exit 1; }
	$(BIN)/pytest --nbval $(NOTEBOOKS)

# The in-browser explorers (mnv3lib/viz/browser_explorers.py) need ONNX Runtime Web, from the npm
# registry (package.json, package-lock.json), and the book's models as ONNX files, exported from the
# committed checkpoints by mnv3lib/book/browser.py (about 40 s, again only when a checkpoint or the
# exporter changes). Both go into the built book's _static/mnv3-browser/ after the build.
NODE_STAMP := node_modules/.package-lock.json
BROWSER_MODELS := _build/browser-models
BROWSER_MODELS_STAMP := $(BROWSER_MODELS)/.exported
BROWSER_MODEL_SOURCES := mnv3lib/book/artifacts/shapes_mobilenet_v3_small.pt mnv3lib/book/artifacts/minicoco_lraspp_mobilenet_v3_large.pt \
	mnv3lib/viz/browser_models.py mnv3lib/book/browser.py

$(NODE_STAMP): package.json package-lock.json
	@command -v npm > /dev/null || { echo "make: npm is missing. The book's in-browser explorers need ONNX Runtime Web (onnxruntime-web," \
		"pinned in package.json) from the npm registry: install Node.js with npm (Debian: apt-get install npm), then run make again."; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund

$(BROWSER_MODELS_STAMP): $(STAMP) $(BROWSER_MODEL_SOURCES)
	$(BIN)/python -m mnv3lib.book.browser export $(BROWSER_MODELS)
	touch $@

INSTALL_BROWSER_ASSETS := $(BIN)/python -m mnv3lib.book.browser install _build/html --models $(BROWSER_MODELS) --node-modules node_modules
browser-assets: $(NODE_STAMP) $(BROWSER_MODELS_STAMP)
	$(INSTALL_BROWSER_ASSETS)

# The explorers in headless Chromium (Debian's chromium and chromium-driver; .ci/run installs them):
# pages made from the explorer functions with small data, then the built book's chapter pages, so
# build the book first (make book). A missing browser or book is a failure here, not a skip.
BROWSER_STAMP := $(VENV)/.browser-installed
BOOK_HTML := _build/html
$(BROWSER_STAMP): $(STAMP) requirements-browser.txt
	$(BIN)/python -m pip install --quiet -r requirements-browser.txt -c constraints.txt
	touch $(BROWSER_STAMP)

test-browser: $(BROWSER_STAMP) $(NODE_STAMP) $(BROWSER_MODELS_STAMP)
	@for page in 01_anatomy 02_training 03_quantization 04_detection 05_ssdlite 06_segmentation; do \
		test -f $(BOOK_HTML)/notebooks/$$page.html || { echo "test-browser: $(BOOK_HTML)/notebooks/$$page.html is missing: build the book first (make book)"; exit 1; }; \
	done
	@test -f $(BOOK_HTML)/_static/mnv3-browser/ort/ort.wasm.min.mjs || { echo "test-browser: the book has no ONNX Runtime Web: build it with make book"; exit 1; }
	MNV3_REQUIRE_BROWSER=1 MNV3_BOOK_HTML=$(BOOK_HTML) MNV3_BROWSER_MODELS=$(BROWSER_MODELS) $(BIN)/pytest -m browser -s \
		tests/test_explorers_browser.py tests/test_book_pages.py tests/test_book_layout.py tests/test_browser_models_in_browser.py

# Colab's stack. .venv-colab gets Colab's versions (constraints-colab.txt, also the lower bounds that
# requirements.txt and pyproject.toml claim), then mnv3lib the way the chapters' Colab cell installs it:
# a regular pip install of the package (a wheel built from this checkout, not an editable install).
# Then Chapter 7's deployment packages, as its Colab cell installs them: the versions that the
# installed mnv3lib's deploy_requirements() gives for the installed torch (for torch 2.9: onnx 1.17.0,
# onnxscript 0.7.0, onnxruntime 1.21.1, torchao 0.14.0, executorch 1.0.1, also the deploy extra's
# lower bounds). Here constraints-colab.txt holds Colab's versions, so that the job fails if they
# would replace Colab's torch. The tests import that installed copy (--import-mode=importlib keeps the
# checkout off sys.path; the report header says which copy ran). The unit tests and the chapters in
# COLAB_STRICT_CHAPTERS are compared strictly (with the sanitiser they verify on torch 2.9.1), except the
# output of the cells tagged torch-version-sensitive (conftest.py; tests/test_book.py lists them); in the
# others every cell must run without error (--nbval-lax): Chapter 3's int8 accuracies (PTQ, and the
# QAT tables fine-tuned live) move by a few hundredths under torch 2.9.1 (6 cells), the appendix on
# quantization's backends prints the deprecations of the pinned torch, which torch 2.9.1 does not have
# (1 cell), and in Chapter 7's table of agreements Chapter 3's eager int8 route agrees with float on
# 88.4 % of the images instead of 88.5 % under torch 2.9.1 (1 cell; its eight routes all run).
COLAB_VENV := .venv-colab
COLAB_BIN := $(COLAB_VENV)/bin
COLAB_STAMP := $(COLAB_VENV)/.installed
COLAB_STRICT_CHAPTERS := 01_anatomy.ipynb 02_training.ipynb 04_detection.ipynb 05_ssdlite.ipynb 06_segmentation.ipynb 80_model_zoo.ipynb
COLAB_STRICT := $(filter $(addprefix notebooks/,$(COLAB_STRICT_CHAPTERS)),$(NOTEBOOKS))
COLAB_LAX := $(filter-out $(COLAB_STRICT),$(NOTEBOOKS))
COLAB_PYTEST := $(COLAB_BIN)/pytest --import-mode=importlib

$(COLAB_STAMP): constraints-colab.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "mnv3lib needs Python >= 3.10, found " + sys.version'
	rm -rf $(COLAB_VENV)
	$(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_BIN)/python -m pip install --quiet --upgrade pip
	$(COLAB_BIN)/python -m pip install --quiet -r constraints-colab.txt
	touch $(COLAB_STAMP)

# (-I: the installed mnv3lib, not the checkout's)
COLAB_DEPLOY_REQUIREMENTS := $(COLAB_BIN)/python -I -c 'from mnv3lib.deploy import deploy_requirements; print(*deploy_requirements())'

install-colab: $(COLAB_STAMP)
	rm -rf build
	$(COLAB_BIN)/python -m pip install --quiet -c constraints-colab.txt .
	rm -rf build
	requirements=$$($(COLAB_DEPLOY_REQUIREMENTS)) && echo "deployment packages: $$requirements" && \
		$(COLAB_BIN)/python -m pip install --quiet -c constraints-colab.txt $$requirements
	$(COLAB_BIN)/python -m pip check

test-colab: install-colab
	@test -n "$(NOTEBOOKS)" || { echo "no chapters found in notebooks/"; exit 1; }
	$(COLAB_PYTEST) --nbval tests $(COLAB_STRICT)
	$(if $(COLAB_LAX),$(COLAB_PYTEST) --nbval-lax $(COLAB_LAX))

book: $(STAMP) $(NODE_STAMP) $(BROWSER_MODELS_STAMP)
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)
	$(INSTALL_BROWSER_ASSETS)

# What CI runs: every warning is an error, and every cross-reference must resolve.
book-strict: BOOK_FLAGS := -W -n --keep-going
book-strict: book

# Re-execute the chapters in place, as they are committed. The book renders no ipywidgets: what a
# kernel widget (the playgrounds) leaves in a notebook, its view in the cell's outputs and the widget
# state nbclient saves in the metadata, is dropped afterwards (scripts/drop_widgets.py).
execute: $(STAMP)
	for nb in $(NOTEBOOKS); do \
		start=$$(date +%s); $(BIN)/jupyter execute --inplace --timeout=600 $$nb || exit 1; \
		$(BIN)/python scripts/drop_widgets.py $$nb || exit 1; \
		echo "$$nb executed in $$(( $$(date +%s) - start )) s"; \
	done

constraints: $(STAMP)
	( head -n 2 constraints.txt; $(BIN)/python -m pip freeze --all --exclude-editable ) > constraints.new && mv constraints.new constraints.txt

sync-repository-url: $(STAMP)
	$(BIN)/python scripts/sync_repository_url.py

clean:
	rm -rf _build
