# SegViT-D2. `make demo` and `make test` install what they need the first time (make setup).
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONHASHSEED := 0

.PHONY: setup demo test lint format ci clean-demo

setup:
	@bash tools/setup_env.sh

# The main job: train a tiny SegViT on the built-in synthetic dataset, evaluate, draw predictions.
# --resume: a re-run continues an interrupted demo from its last checkpoint, and after a finished
# one only evaluates again; it never trains over it. `make clean-demo` starts from scratch.
# DEMO_OUT: the output folder; DEMO_OPTS: extra config overrides; DEMO_ENV: environment, e.g.
# OMP_NUM_THREADS=1. Without it, a CPU run picks its intra-op threads from the cores and the load
# average and its first lines say which (one thread is 9x faster per step than two on busy cores;
# docs/results.md, "Demo speed"). benchmarks/studies/demo_time.py uses them.
DEMO_OUT ?= output/demo
DEMO_OPTS ?=
DEMO_ENV ?=
# DEMO_GPUS: 1 trains on the GPU when CUDA is available, else on the CPU (train.device=auto,
# segvit/engine/device.py); 0 trains on the CPU. The first line of the output names the device.
DEMO_GPUS ?= 1
# DEMO_IMAGES: how many val images (of 50) tools/visualize_predictions.py draws.
DEMO_IMAGES ?= 6
demo: setup
	$(DEMO_ENV) $(PY) tools/train_net.py --config-file configs/synthetic/segvit_tiny.py \
		--num-gpus $(DEMO_GPUS) --resume train.device=auto train.output_dir=$(DEMO_OUT) $(DEMO_OPTS)
	$(DEMO_ENV) $(PY) tools/visualize_predictions.py --config-file configs/synthetic/segvit_tiny.py \
		--output $(DEMO_OUT)/predictions --num-images $(DEMO_IMAGES) \
		train.init_checkpoint=$(DEMO_OUT)/model_final.pth

clean-demo:
	rm -rf output/demo

test: setup
	$(PY) -m pytest tests --durations=15 -q

lint: setup
	$(PY) -m black --check --line-length 100 projects tools tests configs datasets benchmarks setup.py
	$(PY) -m isort --check-only --profile black --line-length 100 projects tools tests configs datasets benchmarks setup.py
	$(PY) -m flake8 projects tools tests configs datasets benchmarks setup.py

format: setup
	$(PY) -m black --line-length 100 projects tools tests configs datasets benchmarks setup.py
	$(PY) -m isort --profile black --line-length 100 projects tools tests configs datasets benchmarks setup.py
