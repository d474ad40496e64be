# The two commands a newcomer needs: `make setup` then `make run`. `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
MANAGE := $(BIN)/python manage.py
# torch is installed first so the ML extra does not pull a multi-GB CUDA build onto CPU machines.
# GPU hosts: TORCH=torch TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 make setup
# CPU hosts whose PyPI serves only CUDA builds: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH ?= torch==2.13.0
TORCH_INDEX_URL ?=
# Service-mode settings for `make test-services` (the local PostgreSQL, Redis and RabbitMQ of this machine).
# The suite runs once per broker: TEST_BROKER_URL picks one.
SERVICES_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/exaone} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/13}
TEST_BROKERS := redis://127.0.0.1:6379/14 amqp://guest:guest@127.0.0.1:5672//

.PHONY: setup run worker test test-services test-browser lint format messages bench check-compose clean

setup: $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/pip install -q $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) "$(TORCH)"
	$(BIN)/pip install -q -e '.[ml,dev]'
	$(MANAGE) compilemessages --ignore '$(VENV)/*' -v0
	$(MANAGE) migrate -v0
	$(MANAGE) build_demo_models
	@# axe-core for the browser accessibility tests (package.json); the app itself needs no Node.js.
	@# Not fatal: the app runs without it; the tests then skip those checks, except under CI, where they fail.
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error \
		|| echo "npm ci failed: the browser accessibility tests will be skipped"; \
	else echo "npm not found: the browser accessibility tests will be skipped (install Node.js and npm)"; fi
	@echo "Ready. Create an account (see README), then: make run"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# daphne, with request bodies bounded while they arrive (exaone_web/serve.py); it takes daphne's options.
run:
	$(MANAGE) migrate -v0
	$(BIN)/python -m exaone_web.serve -b $(HOST) -p $(PORT) exaone_web.asgi:application

# Service mode: one worker process per queue (and per GPU), thread pools sized to the engines; see README.
# BEAT=1 also runs the periodic job sweep (once per site).
worker:
	$(MANAGE) jobworker -Q $${QUEUES:-text,image,vision,default} $(if $(BEAT),--beat)

# pytest exits with 5 when it selected no test; that is reported, not treated as a failure.
test:
	$(BIN)/python -m pytest -m "not services" $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest: no tests selected"; [ $$rc -eq 5 ]; }

# Tests marked any_broker do not depend on the broker and run with the first one only.
test-services:
	@marks="services"; for broker in $${TEST_BROKER_URL:-$(TEST_BROKERS)}; do \
		echo "== service-mode tests, broker $$broker"; \
		$(SERVICES_ENV) CELERY_BROKER_URL=$$broker $(BIN)/python -m pytest -m "$$marks" $(PYTEST_ARGS) \
			|| { rc=$$?; [ $$rc -eq 5 ] && echo "pytest: no tests selected" || exit $$rc; }; \
		marks="services and not any_broker"; \
	done

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages:
	$(MANAGE) makemessages -l ko --ignore '$(VENV)/*' --ignore 'var/*' --ignore 'node_modules/*' --no-obsolete
	$(MANAGE) makemessages -d djangojs -l ko --ignore '$(VENV)/*' --ignore 'var/*' --ignore 'node_modules/*' --no-obsolete
	$(MANAGE) compilemessages --ignore '$(VENV)/*'

bench:
	$(BIN)/python bench/run.py

# Validate docker-compose.yml without an engine (compose v2 plugin, or Debian's docker-compose).
check-compose:
	@if docker compose version >/dev/null 2>&1; then c="docker compose"; \
	elif command -v docker-compose >/dev/null 2>&1; then c="docker-compose"; else c=""; fi; \
	if [ -n "$$c" ]; then \
		POSTGRES_PASSWORD=check DJANGO_SECRET_KEY=check $$c -f docker-compose.yml config -q && echo "docker-compose.yml is valid"; \
	else \
		echo "No docker compose here: checking docker-compose.yml against the Compose specification's JSON schema"; \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/api/test_deployment.py; \
	fi

clean:
	rm -rf $(VENV) var node_modules
