# The commands of the README. `make` alone lists them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The development FranceConnect (`permis fcdev`) that `make run` starts beside the site.
FCDEV_PORT ?= 8001
# The database the PostgreSQL pass of `make test` uses; pytest-django creates and drops test_<name> in it.
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/permis
PO_FILES := $(wildcard src/permis/locale/*/LC_MESSAGES/django.po)
MO_FILES := $(PO_FILES:.po=.mo)
APT_UPDATED := $(VENV)/.apt-updated

.PHONY: help install system-packages messages messages-update run test lint fix bench clean

help: ## list the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) messages ## create .venv, install permis with its dev tools, Chromium and gettext

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "permis needs Python 3.11 or newer, found " + sys.version.split()[0])'
	@if [ ! -x $(BIN)/python ]; then echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@$(MAKE) --no-print-directory system-packages
	@touch $@

# Debian's Chromium for the browser tests (never Playwright's own download), gettext for the translations,
# Pango and fonts for WeasyPrint's PDFs, poppler-utils (pdftotext, pdftoppm) to read them back in the tests,
# wrk for the portal's benchmark (bench/portal_bench.py).
system-packages:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium chromium-driver"; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	ldconfig -p | grep -q libpangoft2-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
		echo "please install:$$missing (e.g. sudo apt-get install$$missing);"; \
		echo "without them the browser and PDF tests are skipped and the English pages stay in French"; \
	fi

messages: $(MO_FILES) ## compile the translations (.po -> .mo)

messages-update: install ## collect the translatable strings into src/permis/locale/en/LC_MESSAGES/django.po
	cd src/permis && DATABASE_URL=sqlite://:memory: DJANGO_SETTINGS_MODULE=permis.config.settings ../../$(BIN)/python -m django makemessages \
		-l en --add-location file --no-obsolete --ignore 'rules/*'

%.mo: %.po
	@if command -v msgfmt >/dev/null; then msgfmt --check -o $@ $<; \
	else echo "msgfmt not found (apt-get install gettext): $@ not compiled"; fi

# The worker (daily run at 00:05 Paris time, background jobs) runs beside the web server and stops with it.
DEMO_LICENCES ?= 2000

run: install ## migrate the SQLite database under var/, load the demo (once), start the worker and the development FranceConnect (:8001), serve :8000
	$(BIN)/permis migrate --no-input
	$(BIN)/permis demo --if-empty --licences $(DEMO_LICENCES)
	export PERMIS_DEBUG=$${PERMIS_DEBUG:-true}; \
	$(BIN)/permis worker --no-reload & worker=$$!; \
	$(BIN)/permis fcdev --port $(FCDEV_PORT) & fcdev=$$!; \
	trap 'kill $$worker $$fcdev 2>/dev/null || true; wait $$worker $$fcdev 2>/dev/null || true' EXIT; \
	$(BIN)/permis serve --host $(HOST) --port $(PORT)

# pytest exits with 5 when it selects no test: make stops on it like on any failure, never silently.
test: install ## lint and format check, then every test on SQLite, then the database tests again on PostgreSQL
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DATABASE_URL= $(BIN)/python -m pytest -m 'not postgres'
	DATABASE_URL='$(POSTGRES_URL)' $(BIN)/python -m pytest -m 'django_db or postgres'

lint: install ## check the code's style (ruff)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fix: install ## fix what ruff can fix and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## run the benchmarks (bench/run.py; BENCH_ARGS=--quick for a smoke run)
	@if [ -f bench/run.py ]; then $(BIN)/python bench/run.py $(BENCH_ARGS); else echo "no bench/run.py yet"; fi

clean: ## remove caches, test artifacts and compiled translations (keeps .venv and var/)
	rm -rf .pytest_cache .ruff_cache .hypothesis test-artifacts build dist src/*.egg-info
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -f $(MO_FILES)
