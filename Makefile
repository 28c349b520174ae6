# nbo-engine: `make demo` and `make test` set everything up from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt 2>/dev/null | cksum | cut -d' ' -f1)
DEMO   ?= demo
DEMO_CUSTOMERS ?= 50000
DEMO_WEEKS ?= 12
DEMO_REQUESTS ?= 2000
PYTEST_WORKERS ?= 2
export NBO_DATABASE_URL ?= sqlite:///$(DEMO)/nbo.db

.PHONY: install demo test lint format bench postgres browser clean help

help:
	@echo "make demo     simulate a bank, load it into SQLite, score it, run the closed loop for 12 weeks"
	@echo "make test     lint, type-check and run the tests on SQLite and PostgreSQL"
	@echo "make lint     ruff + mypy;  make format  ruff format + fixes"
	@echo "make bench    benchmarks (see docs/benchmarks.md)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,bench]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	rm -rf $(DEMO)/data $(DEMO)/reports $(DEMO)/nbo.db $(DEMO)/nbo.db-wal $(DEMO)/nbo.db-shm
	mkdir -p $(DEMO)
	$(BIN)/nbo db upgrade
	$(BIN)/nbo simulate --customers $(DEMO_CUSTOMERS) --weeks 104 --seed 7 --dirt 0.02 --out $(DEMO)/data
	$(BIN)/nbo ingest $(DEMO)/data
	$(BIN)/nbo db status
	$(BIN)/nbo score
	$(BIN)/nbo segments show --kind cluster
	$(BIN)/nbo segments show --kind value_tier
	$(BIN)/nbo models list
	$(BIN)/nbo policy publish policies/catalog.yaml --activate
	$(BIN)/nbo experiment create policies/experiments/demo_global_holdout.yaml
	$(BIN)/nbo experiment start global-holdout-demo-2026
	$(BIN)/nbo simulate loop --bank $(DEMO)/data --weeks $(DEMO_WEEKS) --requests-per-week $(DEMO_REQUESTS) --reports $(DEMO)/reports --out $(DEMO)/loop.csv

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
	  echo "PostgreSQL is not answering on 127.0.0.1:5432"; exit 1

lint: install
	$(BIN)/ruff check nbo_engine tests benchmarks
	$(BIN)/ruff format --check nbo_engine tests benchmarks
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix nbo_engine tests benchmarks
	$(BIN)/ruff format nbo_engine tests benchmarks

# The weekly report is checked in a real headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || \
	      { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	    else sudo apt-get install -y -q chromium >/dev/null; fi; }

test: lint postgres browser
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

bench: install postgres
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
