# The README's commands. `make demo` sets everything up and trains on the embedded images; `make test` runs CI's tests.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# The PyTorch build to install; override for another platform, e.g. TORCH="torch==2.9.1 torchvision==0.24.1".
TORCH ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast bench bench-reference clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(PY) -m sisr.demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# The tiny leaderboard, written under logs/benchmarks/tiny/<time>/ (the checkout stays clean).
bench: setup
	$(PY) -m benchmarks.run --profile tiny

# Same, on purpose into the committed reference copy benchmarks/results/tiny/ (the README's table).
bench-reference: setup
	$(PY) -m benchmarks.run --profile tiny --output benchmarks/results/tiny

clean:
	rm -rf logs .cache .pytest_cache
