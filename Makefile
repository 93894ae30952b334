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

.PHONY: install demo test test-slow lint format clean data slurm slurm-stop slurm-status

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e ".[dev,data,cleanlab]"
	@touch $(STAMP)

# E1 of the paper on digits, CPU-sized (~2 min on 2 free cores, one grid shard each): ERM trained
# to interpolation at noise 0 / 0.1 / 0.2 / 0.4 and class-confined noise; robust accuracy vs eps.
demo: $(STAMP)
	$(BIN)/benign repro label-noise --quick --jobs 2
	@echo "demo: figure repro_out/label-noise/figure.png, tables repro_out/label-noise/summary.md"

# Real images without internet: Debian's dataset-fashion-mnist (70,000 Fashion-MNIST images in
# torchvision's IDX format). Idempotent; never fails: without apt-get (or root) it prints the
# torchvision download command instead. benign copies the files into data/ on first use.
FMNIST_PKG := dataset-fashion-mnist
FMNIST_DOWNLOAD := $(BIN)/python -c \"import torchvision as tv; [tv.datasets.FashionMNIST('data', train=t, download=True) for t in (1, 0)]\" (or pass --data.download true)

data:
	@if dpkg -s $(FMNIST_PKG) >/dev/null 2>&1; then \
		echo "data: $(FMNIST_PKG) is installed ($$(dpkg -L $(FMNIST_PKG) | grep -c 'ubyte') IDX files)"; \
		exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else sudo=none; fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$sudo" != none ]; then \
		echo "data: installing Debian's $(FMNIST_PKG) with apt-get"; \
		( $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(FMNIST_PKG) >/dev/null ) \
			&& echo "data: $(FMNIST_PKG) installed" \
			|| echo "data: apt-get could not install $(FMNIST_PKG); with internet run: $(FMNIST_DOWNLOAD)"; \
	else \
		echo "data: no apt-get (or no root) here; with internet run: $(FMNIST_DOWNLOAD)"; \
	fi

# A real one-node SLURM cluster here (munged, slurmctld, slurmd as root; Debian's slurm-wlm and
# munge installed with apt-get when missing). Idempotent; ~2 s from nothing running. Afterwards
# plain sbatch/squeue/srun work (/etc/slurm/slurm.conf links to its config); tests marked
# `slurm` skip without it (fail in CI). State, logs and config in $BENIGN_SLURM_DIR
# (default /tmp/benign-slurm); `make slurm-stop` ends the daemons it started.
slurm:
	@scripts/slurm/local_cluster.sh start

slurm-stop:
	@scripts/slurm/local_cluster.sh stop

slurm-status:
	@scripts/slurm/local_cluster.sh status

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
