# Two commands for a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing, installs torch==2.13.0 first (the CPU build in $(WHEELS), by uv
# with no index so that nothing else can be taken; plain pip where that folder is missing; any
# looser torch requirement would pull a multi-GB CUDA build), then the package with its test
# extras through uv (the same packages as pip, torch kept: ~40 s in all instead of ~3 min).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WHEELS ?= /opt/wheels

.PHONY: demo test bench results lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-index --find-links $(WHEELS) --no-deps torch==2.13.0 \
		|| $(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m feedlearn.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

bench: $(STAMP)
	$(BIN)/python bench/cache_throughput.py
	$(BIN)/python bench/cache_scale.py
	$(BIN)/python bench/halp_throughput.py
	$(BIN)/python bench/tune_throughput.py
	$(BIN)/python bench/tune_rlhf.py
	$(BIN)/python bench/dist_comm.py
	$(BIN)/python bench/bargain_overhead.py
	$(BIN)/python bench/bargain_prices.py

results: $(STAMP)
	$(BIN)/python bench/cache_results.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache
	find src tests -name '*.nbi' -delete -o -name '*.nbc' -delete
