# The README's two commands: `make run` and `make test`. Both set themselves up from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
WORKERS ?= 2
PG_URL ?= postgres://postgres@127.0.0.1:5432/huzhu_test

.PHONY: run test test-sqlite test-pg lint typecheck check bench clean install assets

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/huzhu serve --port $(PORT) --workers $(WORKERS)

# The whole suite on SQLite; PostgreSQL-only tests are deselected here and run by `make test-pg`.
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not postgres"

# The whole suite again on PostgreSQL (CI runs both). Creates a throwaway database per run.
test-pg: $(STAMP)
	DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# Front-end assets are committed under src/huzhu/web/static/vendor/ so that `make run` needs only
# Python; this refreshes them from npm (package.json, package-lock.json) after an upgrade.
ECHARTS := src/huzhu/web/static/vendor/echarts
assets:
	npm ci --no-audit --no-fund
	mkdir -p $(ECHARTS)
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE node_modules/echarts/NOTICE $(ECHARTS)/

clean:
	rm -rf $(VENV) var build *.egg-info
