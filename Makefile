# The README's two commands: `make run` and `make test`. Both set themselves up from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
WORKERS ?= 2
PG_URL ?= postgres://postgres@127.0.0.1:5432/huzhu_test

.PHONY: run test test-sqlite test-pg lint typecheck check bench clean install assets browser

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/huzhu serve --port $(PORT) --workers $(WORKERS)

# Browser tests drive Debian's chromium (never a downloaded browser). As root it is installed
# when missing; otherwise those tests skip with the reason (and fail under CI=true).
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei; \
	  else echo "browser tests will skip: $(CHROMIUM) is missing and this is not root (apt-get install chromium)"; fi; \
	fi

# The whole suite on SQLite; PostgreSQL-only tests are deselected here and run by `make test-pg`.
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -m "not postgres"

# The whole suite again on PostgreSQL (CI runs both). Creates a throwaway database per run.
test-pg: $(STAMP) browser
	DATABASE_URL=$(PG_URL) HUZHU_FUZZ_EXAMPLES=$${HUZHU_FUZZ_EXAMPLES:-1} $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	PYTHONPATH=src $(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# Front-end libraries: `npm ci` then copy their built files (and licences) into the package's
# static folder. The copies are committed, so `make run` needs only Python and make.
VENDOR := src/huzhu/web/static/vendor
assets:
	npm ci --no-fund --no-audit
	mkdir -p $(VENDOR)/htmx $(VENDOR)/html5-qrcode $(VENDOR)/echarts
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/htmx.org/LICENSE $(VENDOR)/htmx/
	cp node_modules/html5-qrcode/html5-qrcode.min.js node_modules/html5-qrcode/LICENSE $(VENDOR)/html5-qrcode/
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE node_modules/echarts/NOTICE $(VENDOR)/echarts/
	@# axe-core runs in the accessibility tests only (tests/web/browser/test_axe.py), never on a page.
	mkdir -p tests/web/browser/vendor/axe-core
	cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE tests/web/browser/vendor/axe-core/

clean:
	rm -rf $(VENV) var build *.egg-info
