# quaero developer entry points. The logic lives in scripts/*.sh.
#   make run                 bootstrap .venv, then `quaero serve` (http://127.0.0.1:8080)
#   make test [ARGS=...]     bootstrap, install/start test deps, run all test tiers
#   make test-busy           the integration tier under CPU contention (busy loops)
#   make check               ruff check + ruff format --check + mypy
#   make bench [ARGS=...]    run bench/run_all.sh
SHELL := /bin/bash
ARGS ?=

.PHONY: run test test-busy check bench bootstrap system-deps clean distclean

run:
	@scripts/run.sh $(ARGS)

test:
	@scripts/test.sh $(ARGS)

test-busy:
	@QUAERO_TEST_TIERS=integration-busy scripts/test.sh $(ARGS)

check:
	@scripts/check.sh

bench: bootstrap system-deps
	@if [[ -f bench/run_all.sh ]]; then bash bench/run_all.sh $(ARGS); \
	else echo "bench/run_all.sh not found: no benchmarks yet"; fi

bootstrap:
	@scripts/bootstrap.sh

system-deps:
	@scripts/install-system-deps.sh

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache test-artifacts build dist
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf .venv src/*.egg-info
