# The two commands a fresh machine needs: `make run` and `make test`. Both build .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast screenshots lint bench soak services clean warmup

# The `fast` extra (Numba) is optional: where it cannot be installed the NumPy path runs, same numbers.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,fast]' || $(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/backstop warmup
	touch $(STAMP)

# Compile the risk lab's kernels into Numba's on-disk cache (once per install; the install above runs it).
warmup: $(STAMP)
	$(BIN)/backstop warmup

run: $(STAMP)
	$(BIN)/backstop run examples/flagship.yaml --check
	$(BIN)/backstop serve --demo

services:
	@bash scripts/services.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

test: $(STAMP) services lint
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

# The pure and in-process tests: no PostgreSQL, no browser, no long or multi-process tests (1,499 tests in 35 s on 2 cores at load 1.3, 2026-11-26, against 1,587 in about 2 min for the whole suite).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup -m "not slow and not postgres and not browser"

# Refresh docs/dashboard-ROLE.png and docs/dashboard-ROLE-phone.png, every role at 1280 and 390 px
# (tests alone never write into docs/).
screenshots: $(STAMP) services
	PY=$(BIN)/python bash scripts/screenshots.sh

bench: $(STAMP) services
	@command -v wrk >/dev/null 2>&1 || (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1) \
		|| echo "bench: wrk not installed; the service benchmark uses Python client threads only"
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_sim.py
	$(BIN)/python benchmarks/bench_floor.py
	$(BIN)/python benchmarks/bench_service.py

soak: $(STAMP)
	BACKSTOP_SOAK=1 $(BIN)/python -m pytest -q -s -n 2 tests/soak tests/fuzz tests/reliability tests/service/test_schemathesis.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
