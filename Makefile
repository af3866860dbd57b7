# The two commands a newcomer needs: `make run` and `make test`.
# `make run` serves with gunicorn, one worker process (the in-process job thread lives there) and four threads.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT

.PHONY: run test lint audit simulate bench migration clean zendesk-app

# Two stamps: the runtime (`make run`) and, on top of it, the tools for tests, lint and benchmarks.
$(BIN)/flask: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/flask

$(VENV)/.dev-installed: $(BIN)/flask requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.dev-installed

run: $(BIN)/flask compile
	$(BIN)/flask --app plugin db upgrade
	@echo ""
	@echo "OpenCSAT on http://127.0.0.1:$(PORT)  (jobs run in-process; emails go to instance/outbox/)"
	@echo "A helpdesk on this machine is an internal address: start with OUTBOUND_ALLOWED_NETWORKS=127.0.0.0/8 make run to allow it."
	@echo "Create an account:  OUTBOUND_ALLOWED_NETWORKS=127.0.0.0/8 $(BIN)/flask --app plugin accounts create --platform generic --name Acme --webhook-secret S --api-url http://127.0.0.1:9000/hook --delay-minutes 0"
	@echo "Or play a ticket through the whole loop:  PORT=$(PORT) $(BIN)/flask --app plugin demo"
	@echo ""
	$(BIN)/gunicorn --bind 127.0.0.1:$(PORT) --workers 1 --threads 4 --access-logfile - "plugin:create_app()"

# The whole suite, on SQLite and then on PostgreSQL (both with real Redis and SMTP on loopback).
test: $(VENV)/.dev-installed compile
	$(BIN)/ruff check plugin tests bench migrations
	OPENCSAT_TEST_DATABASE=sqlite $(BIN)/python -m pytest -q
	OPENCSAT_TEST_DATABASE=postgresql $(BIN)/python -m pytest -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check plugin tests bench migrations
	$(BIN)/bandit -q -c pyproject.toml -r plugin
	@$(MAKE) --no-print-directory audit

# Known vulnerabilities in the pinned requirements (docs/security.md). Needs the package index's vulnerability data:
# where it cannot be reached every package comes back "could not be audited" and the check says so and skips.
audit: $(VENV)/.dev-installed
	@log=$$(mktemp); \
	if $(BIN)/pip-audit -r requirements.txt --no-deps --disable-pip --progress-spinner off --strict >$$log 2>&1; then \
		grep -v "^WARNING" $$log; \
	elif grep -q "known vulnerabilit" $$log; then \
		cat $$log; rm -f $$log; exit 1; \
	elif grep -qiE "could not be audited|connection|timed out" $$log; then \
		echo "pip-audit: the vulnerability service is not reachable from here; skipped (run 'make audit' online)"; \
	else \
		cat $$log; rm -f $$log; exit 1; \
	fi; rm -f $$log

# Scanner and human traffic against the real app; prints the table kept in docs/integrity.md.
simulate: $(VENV)/.dev-installed
	OPENCSAT_SIMULATE=1 $(BIN)/python -m pytest -q -s tests/simulation

# Every benchmark that runs on small databases, a few minutes in all (bench/README.md, docs/benchmarks.md).
# GROW=1 (or `make bench-grown`) adds the grown database: bench/grow.py builds it once (minutes), then it is reused.
# BENCH_DATABASE / BENCH_REDIS_URL give the two benchmarks that take them a database and Redis of your own.
bench: $(VENV)/.dev-installed
	$(BIN)/python bench/http_throughput.py $(if $(BENCH_DATABASE),--database $(BENCH_DATABASE)) $(if $(BENCH_REDIS_URL),--redis-url $(BENCH_REDIS_URL))
	$(BIN)/python bench/dispatch.py $(if $(BENCH_DATABASE),--database $(BENCH_DATABASE)_dispatch) $(if $(BENCH_REDIS_URL),--redis-url $(BENCH_REDIS_URL))
	$(BIN)/python bench/grown_queries.py $(if $(GROW),--grow)
	$(BIN)/python bench/sidebar_history.py
	$(BIN)/python bench/instructions.py
	$(if $(GROW),$(BIN)/python bench/http_throughput.py --grow unanalyzed)
	$(if $(GROW),$(BIN)/python bench/http_throughput.py --grow analyzed)

.PHONY: bench-grown
bench-grown:
	@$(MAKE) --no-print-directory bench GROW=1

# Dashboard queries on 1M ratings in a PostgreSQL database of their own (created and dropped): docs/benchmarks.md
.PHONY: bench-reports
bench-reports: $(VENV)/.dev-installed
	$(BIN)/python bench/report_queries.py

# New migration from the models: make migration MESSAGE="add branding" REV=0003
migration: $(BIN)/flask
	rm -f instance/autogenerate.sqlite3
	$(BIN)/python -c "from plugin.cli import upgrade_database as u; u('sqlite:///instance/autogenerate.sqlite3')"
	$(BIN)/python -c "from alembic import command; from plugin.cli import alembic_config as c; \
	command.revision(c('sqlite:///instance/autogenerate.sqlite3'), message='$(MESSAGE)', autogenerate=True, rev_id='$(REV)')"
	rm -f instance/autogenerate.sqlite3

# The installable Zendesk app with this deployment's URL in its manifest: make zendesk-app PUBLIC_URL=https://csat.example.com
zendesk-app:
	@test -n "$(PUBLIC_URL)" || { echo "usage: make zendesk-app PUBLIC_URL=https://your-opencsat-host"; exit 2; }
	$(PYTHON) apps/zendesk/build.py --public-url "$(PUBLIC_URL)" --out dist/opencsat-zendesk.zip

clean:
	rm -rf $(VENV) .pytest_cache

# Translations (docs/emails.md#languages): extract the strings, start a language, merge new strings, compile .mo files.
.PHONY: extract init update compile
extract: $(BIN)/flask
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --width 120 --project OpenCSAT -o translations/messages.pot .

init: $(BIN)/flask
	@test -n "$(LOCALE)" || { echo "usage: make init LOCALE=xx"; exit 2; }
	$(BIN)/pybabel init -i translations/messages.pot -d translations -l $(LOCALE) --width 120

update: extract
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete --width 120

compile: $(BIN)/flask
	$(BIN)/pybabel compile -d translations --statistics
