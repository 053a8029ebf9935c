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
demo: setup
	$(PY) tools/train_net.py --config-file configs/synthetic/segvit_tiny.py --num-gpus 0 --resume \
		train.output_dir=output/demo
	$(PY) tools/visualize_predictions.py --config-file configs/synthetic/segvit_tiny.py \
		--output output/demo/predictions train.init_checkpoint=output/demo/model_final.pth

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
