# The two commands a newcomer runs (see README.md):
#   make serve   install everything and start the server on :3000 with ./strata-data
#   make test    install what the tests need and run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test lint install install-test browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# The web console tests drive Debian's Chromium; install it when it is missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || scripts/install-chromium.sh

serve: install
	$(BIN)/strata serve

lint: install-test
	$(BIN)/ruff check .

# `make test` has just installed the browser, so the console tests must run, not skip (tests/console).
test: install-test browser
	$(BIN)/ruff check .
	STRATA_REQUIRE_BROWSER=1 $(BIN)/python -m pytest

bench: install
	$(BIN)/python -m benchmarks.ingest

clean:
	rm -rf $(VENV) strata-data
