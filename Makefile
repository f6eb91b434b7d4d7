# The two set-up commands of the README. Each installs what it needs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2
CHAOS_FAULTS ?= 1000
CHAOS_SEED ?= 1520
CHAOS_MAX_SECONDS ?= 2700  # stop injecting after this long; >= 1000 faults take ~10-16 min on 2 cores

.PHONY: install test lint demo chaos airflow distributed bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

demo: install
	$(BIN)/python scripts/demo.py

# Full sync cycles of every utility under >= 1000 injected faults, then a reconciliation (issue: zero
# lost, zero duplicated). A small run of the same script is part of `make test`.
chaos: install
	$(BIN)/python scripts/chaos.py --faults $(CHAOS_FAULTS) --seed $(CHAOS_SEED) --max-seconds $(CHAOS_MAX_SECONDS)

# A real Airflow on this machine (scheduler, dag-processor, triggerer, api-server; LocalExecutor and
# PostgreSQL) with the simulators, for a person to open the UI: prints the URL and the login.
airflow: install
	$(BIN)/python scripts/airflow_local.py

# Every sync DAG on Airflow's CeleryExecutor with two Celery workers, as processes on this machine
# (running PostgreSQL and Redis), then the concurrency proofs on the real executor (minutes; `make test`
# skips them). docs/scaling.md.
distributed: install
	$(BIN)/python scripts/distributed.py
	$(BIN)/pytest -q -p no:cacheprovider -m scale_out tests/distributed

# Every measurement of the performance issue beside its reference, in one run (docs/benchmark.md).
# BENCH_SCALE=small: about two minutes, results in bench/results-small.json (ignored); full: the
# issue's sizes, results in bench/results.json (committed: the figures the README quotes).
BENCH_SCALE ?= full
bench: install
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench --scale $(BENCH_SCALE)

clean:
	rm -rf .demo .test-state .chaos .pytest_cache
