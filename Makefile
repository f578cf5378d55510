# The README's two commands: `make run` and `make test`. Everything a fresh machine
# lacks is installed from here (Python deps into .venv, Debian packages via apt).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SRC := amqpish management_ui tests conformance tools examples

.PHONY: install run test lint typecheck pytest conformance conformance-rabbitmq bench microbench clean system-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/amqpish serve --host 127.0.0.1 --port 5672 --http-port 15672 --data-dir ./data

lint: $(STAMP)
	$(VENV)/bin/ruff check $(SRC)
	$(VENV)/bin/ruff format --check $(SRC)

typecheck: $(STAMP)
	$(VENV)/bin/mypy amqpish management_ui examples

# Debian packages the tests use: headless Chromium for the UI's browser tests, and
# rabbitmq-server for its rabbitmqadmin (driven against our HTTP API). A policy-rc.d
# keeps the Debian service from starting on 5672.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v rabbitmqadmin >/dev/null 2>&1; then \
		if [ "$$(id -u)" != 0 ]; then echo "not root: browser/rabbitmqadmin tests will skip"; exit 0; fi; \
		[ -e /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
		chmod +x /usr/sbin/policy-rc.d; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium rabbitmq-server; \
	fi

pytest: $(STAMP) system-deps
	$(VENV)/bin/pytest -q

# The conformance suite against a throw-away amqpish, compared with RabbitMQ's recorded outcomes.
conformance: $(STAMP)
	$(PY) -m conformance.against_amqpish

test: lint typecheck pytest conformance

# Records RabbitMQ's outcomes (installs the Debian package when missing).
conformance-rabbitmq: $(STAMP)
	bash conformance/rabbitmq.sh record

bench: $(STAMP)
	bash tools/bench.sh

# In-process timings of the hot paths (codec, topic routing, queue). Their files are
# named bench_*.py, which the default run's test_*.py pattern never collects.
microbench: $(STAMP)
	$(VENV)/bin/pytest tests/microbench -o python_files='bench_*.py' -p no:cacheprovider \
		--benchmark-only --benchmark-sort=name \
		--benchmark-columns=min,median,iqr,rounds

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
