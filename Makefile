# Regulars: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

# The test suite runs against real PostgreSQL and Redis. Override DB_NAME /
# TEST_REDIS_DB to run two checkouts side by side on one machine.
DB_NAME ?= regulars
TEST_REDIS_DB ?= 1
TEST_DATABASE_URL ?= postgres://regulars:regulars@127.0.0.1:5432/$(DB_NAME)
TEST_REDIS_URL ?= redis://127.0.0.1:6379/$(TEST_REDIS_DB)
PYTEST_ARGS ?=

.PHONY: demo test venv services lint format migrations-check deploy-check messages clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(VENV)/.installed

## make demo — the product on its embedded default (SQLite + in-process Celery) with demo data.
## With DATABASE_URL / CELERY_BROKER_URL set it uses them and runs a worker and beat beside it.
demo: venv
	bash scripts/demo.sh

## make test — installs what a fresh machine lacks, starts PostgreSQL and Redis, runs the whole suite.
test: services venv
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CELERY_BROKER_URL=$(TEST_REDIS_URL) \
	DJANGO_ALLOW_ASYNC_UNSAFE=true $(PY) -m pytest $(PYTEST_ARGS)

services:
	DB_NAME=$(DB_NAME) bash scripts/ensure_services.sh

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

messages: venv
	$(PY) manage.py makemessages -l fa -l en --no-obsolete --ignore=.venv --ignore=tests --ignore=staticfiles --ignore=test-artifacts && $(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles test-artifacts
