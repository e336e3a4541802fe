# twonets: `make train` (set up, fetch the default data, run the main job) and
# `make test` (set up, run the whole suite). Everything runs from the project's .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
WORKDIR ?= runs/main
export TF_CPP_MIN_LOG_LEVEL ?= 2
# `make setup GPU=1` (any target) installs the gpu extra (tensorflow with its CUDA wheels)
# instead of the cpu one (tensorflow-cpu).
comma    := ,
EXTRAS   := test$(comma)$(if $(GPU),gpu,cpu)
OTHER_TF := $(if $(GPU),tensorflow-cpu,tensorflow)
STAMP    := $(VENV)/.installed-$(if $(GPU),gpu,cpu)

.PHONY: setup data train test bazel-test bench bench-export clean-venv

setup: $(STAMP)

# The venv is rebuilt when pyproject.toml changes. A Debian/Ubuntu python3 without the
# venv module gets python3-venv from apt (as root, or with passwordless sudo).
$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  { echo "installing python3-venv (apt)"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	    $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# One TensorFlow wheel per venv: switching between CPU and GPU removes the other first.
	@$(PY) -m pip uninstall -y -q $(OTHER_TF) 2>/dev/null || true
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	@touch $@

# The default data: Debian's Fashion-MNIST package, else the Keras download.
data: setup
	$(PY) -m tools.fetch_data fashion_mnist

train: data
	tools/train --algo=triangle --dataset=fashion_mnist --workdir=$(WORKDIR)

test: data
	$(PY) -m pytest -q tests

# The same suite under Bazel, offline (Debian's bazel-bootstrap, Bazel 4.2.3; see WORKSPACE).
bazel-test: setup
	@command -v bazel >/dev/null || { echo "installing bazel-bootstrap (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bazel-bootstrap || \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq bazel-bootstrap; }; }
	bazel test //...; rc=$$?; bazel shutdown; exit $$rc

bench: setup
	$(PY) bench/langevin.py

# Size and per-image latency of every export format of a trained run (make train first).
bench-export: setup
	$(PY) bench/export.py --workdir=$(WORKDIR) --results

clean-venv:
	rm -rf $(VENV)
