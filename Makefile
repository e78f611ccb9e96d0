# Two commands for a fresh machine (see README): `make demo` and `make test`.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
AS ?= demo-tuson-app
PORT ?= 8000
# Test processes: most tests wait on servers and subprocesses, so three share two cores well.
TEST_PROCESSES ?= 3

.PHONY: demo test token lint install

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		(echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))" >&2; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## start the hub on embedded PostgreSQL with the demo catalogue and data
	$(BIN)/hub serve --demo --port $(PORT)

token: $(STAMP)  ## print a token for a demo client: make token AS=demo-syt-owner
	@$(BIN)/python -c 'import json,sys; c=json.load(open(".hub/demo-clients.json"))[sys.argv[1]]; print(c["client_id"], c["client_secret"])' $(AS) | \
		{ read id secret; $(BIN)/hub token --client-id $$id --client-secret $$secret; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP) lint  ## lint, type-check and run the whole suite against real services
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_PROCESSES) --dist loadfile
