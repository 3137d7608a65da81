# Two commands on a fresh machine: `make run` (the demo) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
PORT ?= 8000

.PHONY: install run test test-fast lint typecheck format screenshots bench bench-import bench-ingestion bench-inbound bench-pages bench-pages-paired bench-calendar bench-pipeline bench-scale clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "Threadline is starting: open http://127.0.0.1:$(PORT)/accounts/login/"
	@echo "Web, Celery worker, Celery beat and the sandbox's HTTPS side (port 8443) run below;"
	@echo "Ctrl-C stops them all."
	@echo
	PORT=$(PORT) SANDBOX_BASE_URL=http://127.0.0.1:$(PORT) \
	  SANDBOX_MICROSOFT_LOGIN_URL=http://127.0.0.1:$(PORT) $(BIN)/honcho start -f Procfile.dev

test: install
	bin/ensure-chromium
	$(BIN)/pytest $(PYTEST_ARGS)

# The suite without the browser tests, for a quick loop while coding.
test-fast: install
	$(BIN)/pytest -m "not browser" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy with django-stubs; pyproject.toml says which modules are strict.
typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Refresh docs/screenshots/ from the browser tests.
screenshots: install
	bin/ensure-chromium
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -m browser

# Benchmarks print their figures; docs/benchmarks.md records them with the machine.
PROVIDER ?= google
MESSAGES ?= 100000
bench: install
	$(BIN)/python bench/mail_sync.py --provider $(PROVIDER) --messages $(MESSAGES)

# Import candidate email as the background job runs it: a candidate with 2,000 messages
# in a mailbox of MESSAGES, the provider's own limits in force.
bench-import: install
	$(BIN)/python bench/import_candidate.py --provider $(PROVIDER) --messages $(MESSAGES) \
	  --candidate-messages 2000

# Automatic ingestion: a mailbox of MESSAGES, 3,000 of them one-on-one with candidates in
# the last year, the provider's own limits in force. QUICK=1: 10,000 and 300.
bench-ingestion: install
	$(BIN)/python bench/auto_ingestion.py --provider $(PROVIDER) --messages $(MESSAGES) \
	  --one-on-one 3000 $(if $(QUICK),--quick)

# Inbound mail (limited sync) through gunicorn under locust; locust is installed here only.
# The database is created and dropped by the run: SQLite in var/ unless DATABASE_URL is
# given on the command line (an exported DATABASE_URL is ignored), e.g.
# make bench-inbound DATABASE_URL=postgresql://postgres@127.0.0.1:5432/threadline_bench_inbound
# PREBUILT=N builds and signs N posts before the clock starts (the server alone).
DURATION ?= 30
USERS ?= 8
PREBUILT ?= 0
bench-inbound: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(BIN)/python bench/inbound.py --duration $(DURATION) --users $(USERS) --prebuilt $(PREBUILT) \
	  $(if $(filter command line,$(origin DATABASE_URL)),--database-url $(DATABASE_URL))

# The local mail pipeline (parse, match, encrypt, store) against django-mailbox on the shared
# corpus, interleaved, ROUNDS rounds; last line `ratio:`. The peer runs in var/bench-venv
# (Django and django-mailbox at the versions pinned in requirements*.txt, nothing else), so
# that .venv stays what `make install` makes. Threadline's side on PostgreSQL:
# make bench-pipeline DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres
ROUNDS ?= 3
BENCH_VENV := var/bench-venv
PEER_PINS = $(shell grep -hiE '^(django|django-mailbox)==' requirements.txt requirements-bench.txt)
$(BENCH_VENV)/.installed: requirements.txt requirements-bench.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(PEER_PINS)
	touch $@
bench-pipeline: install $(BENCH_VENV)/.installed
	$(BIN)/python bench/pipeline.py --peer-python $(BENCH_VENV)/bin/python --rounds $(ROUNDS) \
	  $(if $(filter command line,$(origin DATABASE_URL)),--database-url $(DATABASE_URL))

# The candidate list and a profile's Emails tab with many threads: queries and milliseconds
# through Django's test client on a fresh SQLite database.
THREADS ?= 500
RUNS ?= 9
bench-pages: install
	$(BIN)/python bench/workspace_pages.py --threads $(THREADS) --runs $(RUNS)

# The Emails tab served by two trees side by side (gunicorn each, one database, requests
# alternated): a change too small for single runs on a shared machine. BEFORE is another
# checkout, e.g. `git worktree add /tmp/before HEAD~1`; the tree here is "after".
PAIRS ?= 150
bench-pages-paired: install
	$(BIN)/python bench/pages_paired.py --before $(BEFORE) --after . --pairs $(PAIRS) \
	  --threads $(THREADS)

# Calendar sync of CALENDARS connected calendars of EVENTS events, INTERVIEWS of them ours,
# three rounds of calendar_sync_all on each provider (CAL_PROVIDER=google|microsoft|both).
CALENDARS ?= 1000
EVENTS ?= 200
INTERVIEWS ?= 5
CAL_PROVIDER ?= both
bench-calendar: install
	$(BIN)/python bench/calendar_sync.py --provider $(CAL_PROVIDER) --calendars $(CALENDARS) \
	  --events $(EVENTS) --interviews $(INTERVIEWS)

# Beat's fan-out over MAILBOXES connected sandbox mailboxes, one reply each, synced by 1, 2
# and 4 Celery workers (WORKERS): mailboxes per minute, duplicate syncs, arrival-to-storage
# lag. Needs PostgreSQL (the run creates and drops its own database on that server) and
# Redis, e.g. make bench-scale MAILBOXES=1000 DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres
MAILBOXES ?= 10000
WORKERS ?= 1,2,4
BROKER_URL ?= redis://127.0.0.1:6379/11
bench-scale: install
	$(BIN)/python bench/scale.py --mailboxes $(MAILBOXES) --workers $(WORKERS) \
	  --broker-url $(BROKER_URL) \
	  $(if $(filter command line,$(origin DATABASE_URL)),--database-url $(DATABASE_URL))

clean:
	rm -rf $(VENV) var staticfiles
