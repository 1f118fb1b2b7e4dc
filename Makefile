# tradedeck developer entry points. Two commands from a fresh clone: `make run`, `make test`.
#
# Every target creates .venv when missing and (re)installs the project only when pyproject.toml
# changed: a stamp .venv/.installed-<extras>-<hash of pyproject.toml> records the last install.
# pip's index configuration is whatever this machine has; nothing here names an index.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYPROJECT_HASH := $(shell sha256sum pyproject.toml | cut -c1-12)
STAMP_RUN := $(VENV)/.installed-run-$(PYPROJECT_HASH)
STAMP_TEST := $(VENV)/.installed-test-$(PYPROJECT_HASH)
STAMP_PACKAGE := $(VENV)/.installed-package-$(PYPROJECT_HASH)
SYSTEM_DEPS := packaging/system-deps.sh

ARGS ?=
PYTEST_ARGS ?=
MYPY_TARGETS ?= engine app widgets

.PHONY: help run test lint typecheck pytest fmt fmt-check bench package install-desktop \
	system-deps venv clean distclean

help:
	@echo "make run            open the tradedeck window (ARGS='--venue sim --seed 7' passes flags)"
	@echo "make test           ruff, import contracts, mypy, pytest (offscreen Qt; screenshot on Xvfb)"
	@echo "make bench          run bench/bench_*.py, print one table, write bench/results.json"
	@echo "make package        build the PyInstaller one-folder bundle in dist/tradedeck"
	@echo "make install-desktop  add a desktop launcher and icon for this user"
	@echo "make fmt / fmt-check  ruff format (not part of make test yet)"
	@echo "make clean          remove build/, dist/ and caches (keeps .venv)"

# ---------------------------------------------------------------- environment

# Create the venv with python3.11 when there is one, else python3. A Debian python without
# ensurepip fails here; as root we install python3-venv (and python3.11-venv) and retry once.
$(PY):
	@py=$$(command -v python3.11 || command -v python3 || true); \
	if [ -z "$$py" ]; then echo "make: no python3.11 or python3 on PATH" >&2; exit 1; fi; \
	echo "creating $(VENV) with $$py ($$($$py --version 2>&1))"; \
	if ! $$py -m venv $(VENV); then \
		rm -rf $(VENV); \
		if [ "$$(id -u)" = 0 ]; then \
			echo "venv failed: installing python3-venv and retrying"; \
			bash $(SYSTEM_DEPS) --venv; \
			$$py -m venv $(VENV); \
		else \
			echo "make: '$$py -m venv' failed; install python3-venv (or python3.11-venv)" >&2; \
			exit 1; \
		fi; \
	fi

venv: $(PY)

system-deps:
	@bash $(SYSTEM_DEPS)

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PIP) install -e .
	@rm -f $(VENV)/.installed-run-*
	@touch $@

# The test extras include the runtime ones, so this stamp also satisfies `make run`.
$(STAMP_TEST): pyproject.toml | $(PY)
	$(PIP) install -e '.[test]'
	@rm -f $(VENV)/.installed-run-* $(VENV)/.installed-test-*
	@touch $@ $(STAMP_RUN)

$(STAMP_PACKAGE): pyproject.toml | $(PY)
	$(PIP) install -e '.[package]'
	@rm -f $(VENV)/.installed-run-* $(VENV)/.installed-package-*
	@touch $@ $(STAMP_RUN)

# ---------------------------------------------------------------- run

# Without a display the window cannot be seen; run it on a virtual one so the app still starts
# (useful over ssh or in CI) and say so, rather than dying with "could not connect to display".
run: $(STAMP_RUN) system-deps
	@if [ -z "$${DISPLAY:-}" ] && [ -z "$${WAYLAND_DISPLAY:-}" ]; then \
		if command -v xvfb-run >/dev/null 2>&1; then \
			echo "make run: no DISPLAY or WAYLAND_DISPLAY; running on a virtual X server" \
				"(xvfb-run), so no window will be visible. Ctrl+C to stop."; \
			exec xvfb-run -a -s "-screen 0 1600x1000x24" $(VENV)/bin/tradedeck $(ARGS); \
		else \
			echo "make run: no DISPLAY or WAYLAND_DISPLAY and no xvfb-run; running with" \
				"QT_QPA_PLATFORM=offscreen, so no window will be visible. Ctrl+C to stop."; \
			QT_QPA_PLATFORM=offscreen exec $(VENV)/bin/tradedeck $(ARGS); \
		fi; \
	else \
		exec $(VENV)/bin/tradedeck $(ARGS); \
	fi

# ---------------------------------------------------------------- checks

lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

fmt: $(STAMP_TEST)
	$(VENV)/bin/ruff format .

fmt-check: $(STAMP_TEST)
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP_TEST)
	$(VENV)/bin/mypy $(MYPY_TARGETS)

# Qt widgets tests run offscreen; tests marked xvfb start their own Xvfb (tests/xvfb.py).
pytest: $(STAMP_TEST) system-deps
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest $(PYTEST_ARGS)

test: $(STAMP_TEST) system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy $(MYPY_TARGETS)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest $(PYTEST_ARGS)

# ---------------------------------------------------------------- bench, package, install

bench: $(STAMP_RUN)
	$(PY) -m bench

package: $(STAMP_PACKAGE) system-deps
	@start=$$(date +%s); \
	$(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/tradedeck.spec; \
	end=$$(date +%s); \
	echo "bundle: dist/tradedeck ($$(du -sh dist/tradedeck | cut -f1)," \
		"built in $$((end - start)) s); run dist/tradedeck/tradedeck"

install-desktop: $(STAMP_RUN)
	$(PY) packaging/install_desktop.py

clean:
	rm -rf build dist tests/artifacts bench/results.json .mypy_cache .ruff_cache .pytest_cache \
		.hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
