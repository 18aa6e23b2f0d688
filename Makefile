# Lifecycle CRM — two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CONTACTS ?= 2000
PYTEST_ARGS ?=

.PHONY: run test lint format bench worker beat migrate seed venv clean check

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

migrate: venv
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput

# Seeds the demo data once (a marker file remembers it), then serves with SQLite and in-process tasks.
run: migrate
	@if [ ! -f .make-seeded ] || [ db.sqlite3 -nt .make-seeded ] && [ -z "$$DATABASE_URL" ] && ! DJANGO_DEBUG=1 $(PY) manage.py shell -c "import sys; from contacts.models import Contact; sys.exit(0 if Contact.objects.exists() else 1)" 2>/dev/null; then \
		DJANGO_DEBUG=1 $(PY) manage.py seed_demo --contacts $(DEMO_CONTACTS) --seed 42 && touch .make-seeded; \
	fi
	DJANGO_DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

test: venv
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: venv
	DJANGO_DEBUG=1 $(PY) manage.py check
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

bench: venv
	$(PY) bench/run.py --small

worker: venv
	$(BIN)/celery -A lifecycle_crm worker --loglevel=INFO

beat: venv
	$(BIN)/celery -A lifecycle_crm beat --loglevel=INFO

clean:
	rm -rf $(VENV) .make-seeded
