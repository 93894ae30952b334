# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARCH   := $(shell uname -m)

# The torch build that installs from this kind of machine's local disk; GPU users who
# already have torch in $(VENV) keep theirs (pip sees the requirement satisfied).
ifeq ($(ARCH),aarch64)
TORCH_PINS ?= torch==2.9.1 torchvision==0.24.1
else
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
endif

STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e ".[dev,data]"
	@touch $(STAMP)

# E1 of the paper on digits, CPU-sized (~3 min on 2 free cores, one grid shard each): ERM trained
# to interpolation at noise 0 / 0.1 / 0.2 / 0.4 and class-confined noise; robust accuracy vs eps.
demo: $(STAMP)
	$(BIN)/benign repro label-noise --quick --jobs 2
	@echo "demo: figure repro_out/label-noise/figure.png, tables repro_out/label-noise/summary.md"

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

lint: $(STAMP)
	$(BIN)/ruff check benign tests
	$(BIN)/ruff format --check benign tests

format: $(STAMP)
	$(BIN)/ruff format benign tests
	$(BIN)/ruff check --fix benign tests

clean:
	rm -rf runs wandb .pytest_cache
