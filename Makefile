# Two commands matter: `make run` (the whole system) and `make test` (the whole suite).
# Both create .venv and install requirements on first use; Python 3.11+ is all they need.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test fuzz lint format services manage superuser bench bench-reconcile bench-ws bench-reports clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

## run: the Procfile's processes, web (WSGI) + WebSockets (ASGI) + Celery worker + Celery beat, with embedded PostgreSQL/Valkey
## unless DATABASE_URL/REDIS_URL are set; the stack runs everything with leaderboard_project.settings_dev (devtools installed)
run: $(STAMP)
	$(PY) -m devtools.stack run

## test: the whole test suite against real, throw-away PostgreSQL and Valkey (or DATABASE_URL/REDIS_URL)
test: $(STAMP)
	$(PY) -m devtools.stack test -- $(ARGS)

## test-cluster: the whole suite with the store on a throw-away 3-primary Valkey Cluster (CI runs both)
.PHONY: test-cluster
test-cluster: $(STAMP)
	STACK_REDIS_CLUSTER=3 $(PY) -m devtools.stack test -- $(ARGS)

## fuzz: schemathesis over the whole OpenAPI schema, SCHEMATHESIS_EXAMPLES (default 100) requests per operation; CI runs fewer
fuzz: $(STAMP)
	SCHEMATHESIS_EXAMPLES=$${SCHEMATHESIS_EXAMPLES:-100} $(PY) -m devtools.stack test -- -p no:cacheprovider leaderboard_project/tests/test_schemathesis.py $(ARGS)

# mypy with django-stubs and djangorestframework-stubs over every app (settings are imported, no server is started:
# placeholder URLs unless DATABASE_URL / REDIS_URL are set)
TYPED_PACKAGES = $(wildcard accounts leaderboard reports rewards leagues seeds devtools leaderboard_project)
MYPY = DATABASE_URL=$${DATABASE_URL:-postgres://localhost/typecheck} REDIS_URL=$${REDIS_URL:-redis://localhost/0} \
	$(VENV)/bin/mypy $(TYPED_PACKAGES)

## lint: ruff (rules and formatting), the import layers of .importlinter (lint-imports) and mypy; CI runs it
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(MYPY)

## typecheck: mypy alone, as `make lint` runs it
.PHONY: typecheck
typecheck: $(STAMP)
	$(MYPY)

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## services: only PostgreSQL and Valkey, with the data of `make run`
services: $(STAMP)
	$(PY) -m devtools.stack services

## manage: a management command on the servers of `make run`, e.g. make manage ARGS="warm_cache" (same as ./manage warm_cache)
manage: $(STAMP)
	./manage $(ARGS)

## superuser: create an operator account for the admin (uses the servers of `make run`); without a terminal, from
## DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_PASSWORD and DJANGO_SUPERUSER_EMAIL
superuser: $(STAMP)
	@if [ -n "$$DJANGO_SUPERUSER_USERNAME" ]; then \
		test -n "$$DJANGO_SUPERUSER_PASSWORD" || { echo "make superuser: DJANGO_SUPERUSER_USERNAME is set but DJANGO_SUPERUSER_PASSWORD is not" >&2; exit 1; }; \
		./manage createsuperuser --noinput; \
	elif [ -t 0 ]; then \
		./manage createsuperuser; \
	else \
		echo "make superuser: no terminal to ask on; set DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_PASSWORD and DJANGO_SUPERUSER_EMAIL" >&2; \
		exit 1; \
	fi

# A benchmark command (the devtools app, through the stack's settings_dev) on throw-away servers that keep fsync on,
# like production ones.
bench_command = STACK_DURABLE=1 $(PY) -m devtools.stack exec -- sh -c '$(PY) manage.py migrate -v0 && $(PY) manage.py $(1) $(ARGS)'

## bench: the core engine benchmark (1,000,000 users) on throw-away but durable servers
bench: $(STAMP)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(call bench_command,benchmark)

## bench-ws: live updates, 1,000 WebSocket clients and 200 submits/s
bench-ws: $(STAMP)
	$(call bench_command,benchmark_ws)

## bench-reconcile: the hourly reconciliation over 1,000,000 members
bench-reconcile: $(STAMP)
	$(call bench_command,benchmark_reconcile)

## bench-reports: the top-players report over 1,000,000 events
bench-reports: $(STAMP)
	$(call bench_command,benchmark_reports)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
