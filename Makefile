# The few verbs of this project. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
# The PostgreSQL+Redis pass of `make test`; both run on the loopback on this project's machines.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_WORKERS ?= 2
# The browser tests' npm packages (axe-core), reinstalled when package-lock.json changes.
E2E := tests/e2e
E2E_STAMP := $(E2E)/node_modules/.installed-$(shell cksum $(E2E)/package-lock.json | cut -d' ' -f1)

.PHONY: run test test-sqlite test-postgres lint format bench bench-all install clean messages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

$(E2E_STAMP): $(E2E)/package-lock.json
	npm ci --prefix $(E2E) --no-audit --no-fund
	@touch $(E2E_STAMP)

run: $(STAMP)
	$(BIN)/payfacile migrate
	PAYFACILE_PUBLIC_PORT=$${PAYFACILE_PUBLIC_PORT:-$(PORT)} $(BIN)/payfacile demo
	$(BIN)/payfacile serve --host $(HOST) --port $(PORT)

test: test-sqlite test-postgres

test-sqlite: $(STAMP)
	@echo "== tests on SQLite, in-process cache"
	env -u PAYFACILE_TEST_DATABASE_URL -u PAYFACILE_TEST_REDIS_URL \
	  $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

test-postgres: $(STAMP) $(E2E_STAMP)
	@echo "== tests on PostgreSQL + Redis (and the browser tests in tests/e2e)"
	PAYFACILE_TEST_DATABASE_URL=$(TEST_DATABASE_URL) PAYFACILE_TEST_REDIS_URL=$(TEST_REDIS_URL) \
	  $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The suite: issue 16's cases at scale on PostgreSQL + Redis, written to bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/suite.py --profile --postgres $(TEST_DATABASE_URL) --redis $(TEST_REDIS_URL)

# The suite, then the narrower benchmarks, each printing its own figures.
bench-all: bench
	$(BIN)/python bench/resolution.py
	$(BIN)/python bench/orders.py
	$(BIN)/python bench/link_timing.py
	$(BIN)/python bench/dashboard_customers.py
	$(BIN)/python bench/domains.py
	$(BIN)/python bench/certificates.py
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/floor.py --postgres $(TEST_DATABASE_URL) --redis $(TEST_REDIS_URL)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Extract every translatable string and merge it into the catalogs (then translate the new ones).
messages: $(STAMP)
	@mkdir -p var
	$(BIN)/pybabel extract -F babel.cfg -k _ -k _l -k gettext -k ngettext:1,2 --no-location \
	  --omit-header -o var/messages.pot .
	$(BIN)/pybabel update -i var/messages.pot -d payfacile/translations \
	  --width 100
