# Lifecycle CRM — two commands for a fresh machine: `make run` and `make test`.
# Only Python 3.11 (or newer) is needed: everything else is installed into .venv.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3.11)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CONTACTS ?= 2000
DEMO_SEED ?= 42
PYTEST_ARGS ?=
# `make run` is the embedded development mode: debug on, SQLite file, tasks in-process,
# unless DATABASE_URL / CELERY_BROKER_URL are set in the environment.
DEV_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-1}

.PHONY: run test lint format bench worker beat migrate seed venv venv-dev clean check fuzz-api

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || \
		{ echo "Python 3.11 or newer is required (found: $(PYTHON)); set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Runtime packages for `make run`; the test tools (Playwright, schemathesis…) only for test/lint/check.
$(VENV)/.installed-runtime: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed-runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed-runtime

venv-dev: $(VENV)/.installed-dev

migrate: venv
	$(DEV_ENV) $(PY) manage.py migrate --noinput

# Seeds demo data only into an empty database (so once), printing the demo users' passwords.
seed: migrate
	$(DEV_ENV) $(PY) manage.py seed_demo --contacts $(DEMO_CONTACTS) --seed $(DEMO_SEED) --if-empty

# Migrate, seed once, serve on http://127.0.0.1:8000 (admin at /admin/).
run: seed
	$(DEV_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

test: venv-dev
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: venv-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: venv-dev
	$(DEV_ENV) $(PY) manage.py check
	$(DEV_ENV) $(PY) manage.py makemigrations --check --dry-run

bench: venv-dev
	$(PY) bench/run.py --small

worker: venv
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0): without it tasks run in-process and no worker is needed."; exit 1; }
	$(DEV_ENV) $(BIN)/celery -A lifecycle_crm worker --loglevel=INFO

beat: venv
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run the beat scheduler."; exit 1; }
	$(DEV_ENV) $(BIN)/celery -A lifecycle_crm beat --loglevel=INFO --schedule=$(VENV)/celerybeat-schedule

clean:
	rm -rf $(VENV) .make-seeded

# Schemathesis with every phase and check, once per role's key (issue 19). Not yet in .ci/run: it still reports failures.
FUZZ_MAX_EXAMPLES ?= 5
fuzz-api: venv-dev
	tests/fuzz/run_all_roles.sh $(FUZZ_MAX_EXAMPLES)
