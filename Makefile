# twonets: `make train` (set up, fetch the default data, run the main job) and
# `make test` (set up, run the fast tier of the suite; `make test-slow` runs the rest).
# Everything runs from the project's .venv.
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
# TF Serving's protos (each SavedModel's warm-up requests), without the full `tensorflow`
# wheel tensorflow-serving-api's metadata asks for (one TensorFlow per venv): --no-deps.
SERVING_API_VERSION := 2.21.0
SERVING_API := $(VENV)/.serving-api-$(SERVING_API_VERSION)

.PHONY: setup data web train classifier test test-slow test-all bazel-check bazel-test bench bench-export \
        bench-web bundle-model clean-venv

setup: $(STAMP) $(SERVING_API)

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

$(SERVING_API): $(STAMP)
	$(PY) -m pip install -q --no-deps 'tensorflow-serving-api==$(SERVING_API_VERSION)'
	@touch $@

# The default data: Debian's Fashion-MNIST package, else the Keras download.
data: setup
	$(PY) -m tools.fetch_data fashion_mnist

train: data
	tools/train --algo=triangle --dataset=fashion_mnist --workdir=$(WORKDIR)

# The pinned scoring classifier (evaluation/classifiers/fashion_mnist_28x28x1.npz and its
# recipe .json): every score on Fashion-MNIST uses it, so FD numbers compare across machines.
# Remade only on purpose (the hash beside every score changes).
classifier: data
	$(PY) -m tools.evaluate --task=train-classifier --dataset=fashion_mnist --epochs=3 --pin

# The web page's runtime (LiteRT.js) from the committed package-lock.json: apps/web/node_modules
# (ignored by git and Bazel). npm comes with Node.js; apt installs it where it is missing.
WEB_STAMP := apps/web/node_modules/.package-lock.json
web: $(WEB_STAMP)
$(WEB_STAMP): apps/web/package.json apps/web/package-lock.json
	@command -v npm >/dev/null || { echo "installing npm (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq npm; }
	cd apps/web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The suite's two tiers (pyproject.toml's `slow` marker; tests/conftest.py says how a test
# stays fast). The fast tier runs on pytest-xdist workers, one per core up to 4, a test
# module per worker at a time (its module-scoped runs are made once); PYTEST_FLAGS adds
# options (CI: --durations=25).
TEST_WORKERS ?= auto
PYTEST_FLAGS ?=
test: data web
	$(PY) -m pytest -q -m 'not slow' -n $(TEST_WORKERS) --maxprocesses=4 --dist=loadfile \
	  $(PYTEST_FLAGS) tests

# The slow tier (kill -9 and exact resume, multi-worker launches, the browser matrix, long
# learning runs) in one process: its tests start worker processes of their own.
test-slow: data web
	$(PY) -m pytest -q -m slow $(PYTEST_FLAGS) tests

test-all: test test-slow

# Bazel's graph without running the suite again: every target builds, every Python file is
# in a BUILD target, the layering holds, and one TensorFlow test runs through its declared
# deps and the venv toolchain.
bazel-check: setup web bazel
	bazel build //... && \
	  bazel test //tests:test_build_files //tests:test_layering //tests:test_ema; \
	  rc=$$?; bazel shutdown; exit $$rc

# The whole suite (both tiers) under Bazel, offline (Debian's bazel-bootstrap, Bazel 4.2.3;
# see WORKSPACE): one target per test file.
bazel-test: setup web bazel
	bazel test //...; rc=$$?; bazel shutdown; exit $$rc

.PHONY: bazel
bazel:
	@command -v bazel >/dev/null || { echo "installing bazel-bootstrap (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo -n ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bazel-bootstrap || \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq bazel-bootstrap; }; }

# Langevin with oneDNN off (TensorFlow's default on AVX2-only CPUs) and as the project runs
# it (core/cpu.py), then make train's step against the step before the speed work and a
# PyTorch port where torch is installed (bench/triangle_step.py; interleaved processes).
bench: setup
	TF_ENABLE_ONEDNN_OPTS=0 $(PY) bench/langevin.py
	$(PY) bench/langevin.py
	$(PY) bench/triangle_step.py $$($(PY) -c 'import torch' 2>/dev/null && echo --torch)

# Size and per-image latency of every export format of a trained run (make train first).
bench-export: setup
	$(PY) bench/export.py --workdir=$(WORKDIR) --results

# Per-image latency of the web export in headless Chromium (LiteRT.js) beside ai_edge_litert,
# and the page's screenshot into docs/figures/ (make train first; needs chromium).
bench-web: setup web
	$(PY) bench/web.py --workdir=$(WORKDIR) --screenshot=docs/figures/web_app.png

# Re-make the bundled model (apps/web/model) from a fresh default `make train` run:
# its float16 generator at batch 1, metadata.json recording this command and the commit.
BUNDLE_RUN ?= runs/bundle
bundle-model: web
	@test ! -e $(BUNDLE_RUN) || { echo "$(BUNDLE_RUN) exists: the bundled model comes from a fresh \
	run; move it away or pass BUNDLE_RUN=another/folder"; exit 2; }
	$(MAKE) train WORKDIR=$(BUNDLE_RUN)
	$(PY) -m tools.export --workdir=$(BUNDLE_RUN) --formats=web --quantize=float16 \
	  --export_dir=$(BUNDLE_RUN)/bundle-export
	$(PY) -m tools.bundle_model --export=$(BUNDLE_RUN)/bundle-export/web/triangle \
	  --command="make bundle-model" --commit=$$(git rev-parse HEAD)

clean-venv:
	rm -rf $(VENV)
