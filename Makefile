# The map of what a developer runs. `make run` and `make test` need only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The embedded default runs with DEBUG on (SQLite, local memory, eager Celery, console email).
RUN_ENV ?= DEBUG=$${DEBUG:-true} SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)}

.PHONY: install dev-keys run serve migrate demo test lint format schema bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@

install: $(BIN)/.installed

# `make run` keeps random keys of its own in .env (gitignored), made on the first run and
# never overwritten, so it does not run on the development keys written in settings.py.
define DEV_KEYS_PY
import pathlib, secrets
path = pathlib.Path(".env")
lines = path.read_text().splitlines() if path.exists() else []
def value(name):
    for line in lines:
        key, sep, val = line.partition("=")
        if sep and key.strip() == name:
            return val.strip().strip("'\"")
    return None
missing = [name for name in ("SECRET_KEY", "JWT_SIGNING_KEY") if not value(name)]
if missing:
    lines = [line for line in lines if line.partition("=")[0].strip() not in missing]
    lines += [f"{name}={secrets.token_urlsafe(48)}" for name in missing]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    print("Wrote random " + " and ".join(missing) + " to .env (kept for the next runs).")
endef
export DEV_KEYS_PY

dev-keys:
	@$(PYTHON) -c "$$DEV_KEYS_PY"

run: install dev-keys
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	@$(MAKE) --no-print-directory serve

# The server and, beside it, the periodic tasks of the database schedule (renewals and dunning
# in the billing cycle, credit expiry...: `manage.py run_schedule`, inline without a broker),
# in one terminal; Ctrl-C stops both. SQLite takes the two writers (WAL, a 20 s busy timeout).
serve:
	@$(RUN_ENV) $(BIN)/python manage.py run_schedule & schedule=$$!; \
	trap 'kill $$schedule 2>/dev/null; wait $$schedule 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	$(RUN_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

migrate: install
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input

demo: install
	$(RUN_ENV) $(BIN)/python manage.py seed_demo

# The whole suite. With DATABASE_URL / REDIS_URL set it runs against them, including the
# tests marked `postgres` / `redis` (skipped with a reason otherwise). Exit code 5 (no test
# collected) counts as a failure.
test: install
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python .ci/lazy_imports.py
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: install
	DEBUG=true $(BIN)/python manage.py spectacular --validate --fail-on-warn --file schema.yaml

# Hot-path benchmarks with their baselines (see docs/benchmarks.md). Uses DATABASE_URL and
# REDIS_URL when set (a throwaway database is created on that server); needs wrk.
bench: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } \
		|| { echo "make bench needs wrk (apt-get install wrk)"; exit 1; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

# docs/screenshots/: the browser journeys and every customer page at 1280 and 375 px
# (web/tests/test_*_browser.py, Debian's chromium), taken anew.
.PHONY: screenshots
screenshots: install
	@[ -x /usr/bin/chromium ] || { echo "make screenshots needs Chromium at /usr/bin/chromium (apt-get install chromium)"; exit 1; }
	rm -f docs/screenshots/*.png
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/pytest web/tests/test_journeys_browser.py web/tests/test_pages_a11y_browser.py $(PYTEST_ARGS)
