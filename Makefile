# tcnb — set up and run everything from a fresh clone.
#
#   make lab     venv + .[notebook], Graphviz; derive examples/logreg.tensor; execute the tour
#                notebook into build/01-tour.ipynb; then open that executed copy in JupyterLab (only
#                on a terminal and when TCNB_NO_SERVER is unset)
#   make test    venv + .[test,notebook,docs], Graphviz, Chromium (for the browser test); run pytest
#   make docs    venv + .[docs,notebook], Graphviz; build the documentation site into build/docs/
#   make bench   venv + .[bench]; run benchmarks/run_all.py (also what 04-benchmarks.ipynb needs)
#   make clean   remove build outputs and caches (keeps .venv); `make distclean` also removes .venv
#
# Installs are stamped (.venv/.stamp-<target>, remade when pyproject.toml changes), so a second run
# does not reinstall anything.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
ENSURE := bash scripts/ensure-system-deps.sh
# Use the venv's own Jupyter kernels and config, never a user-level or system-wide one.
JUPYTER := JUPYTER_PREFER_ENV_PATH=1 $(VENV)/bin/jupyter

# Extras installed for each stamp. `lab` needs no benchmark frameworks (PyTorch and JAX are most of
# a 1.9 GB venv): `make bench` adds them, for 04-benchmarks.ipynb too.
EXTRAS_lab   := notebook
EXTRAS_test  := test,notebook,docs
EXTRAS_docs  := docs,notebook
EXTRAS_bench := bench

.PHONY: help lab test docs bench clean distclean graphviz chromium

help:
	@sed -n '3,9p' Makefile | sed 's/^# \{0,1\}//'

$(PY):
	@PYTHON=$(PYTHON) $(ENSURE) --venv $(VENV)

$(VENV)/.stamp-%: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[$(EXTRAS_$*)]'
	@touch $@

graphviz:
	@$(ENSURE) --graphviz

chromium:
	@$(ENSURE) --chromium

lab: graphviz $(VENV)/.stamp-lab
	$(PY) -m tcnb derive examples/logreg.tensor --of f --wrt w --order 2 --format latex
	@mkdir -p build
	$(JUPYTER) nbconvert --to notebook --execute --ExecutePreprocessor.timeout=600 \
		--output-dir build --output 01-tour.ipynb notebooks/01-tour.ipynb
	@echo "Executed tour notebook: build/01-tour.ipynb"
	@if [ -z "$${TCNB_NO_SERVER+set}" ] && [ -t 0 ]; then \
		echo "Starting JupyterLab (Ctrl-C to stop; set TCNB_NO_SERVER=1 to skip)"; \
		$(JUPYTER) lab $$([ "$$(id -u)" -eq 0 ] && echo --allow-root) build/01-tour.ipynb; \
	else \
		echo "Not starting JupyterLab (TCNB_NO_SERVER is set or stdin is not a terminal)."; \
	fi

test: graphviz chromium $(VENV)/.stamp-test
	$(PY) -m pytest -q -x -n auto --timeout=900 -p no:cacheprovider tests

# The site: docs/*.md and the notebooks (01, 02 and 05 executed by MyST-NB; 03 and 04 shown as
# written). SPHINXOPTS=-W turns warnings into errors.
SPHINXOPTS ?=
docs: graphviz $(VENV)/.stamp-docs
	JUPYTER_PREFER_ENV_PATH=1 $(PY) -m sphinx -b html -q $(SPHINXOPTS) docs build/docs
	@echo "Documentation: build/docs/index.html"

bench: $(VENV)/.stamp-bench
	$(PY) benchmarks/run_all.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
