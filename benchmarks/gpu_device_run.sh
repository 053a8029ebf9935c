#!/usr/bin/env bash
# Run `python -m benchmarks.gpu` on a GPU machine, from the repository root:
#
#     OUT=/some/folder bash benchmarks/gpu_device_run.sh [SITE] [extra benchmarks.gpu arguments]
#
# SITE (optional): a folder of unpacked wheels put on PYTHONPATH after projects/SegViT (default:
# $SITE, else .gpu/site when it exists). OUT: where gpu.md (the table) and gpu.log (everything
# printed) are written; both are written as the run goes, so a run cut short still leaves its rows.
# BENCH_TIMEOUT (default 420 s) caps the benchmark itself; PYTHON (default python3) the interpreter.
# Run time on one H200: estimated from the FLOPs at 1-3 minutes, not measured (5 models x 6 rows,
# 3 warm-up + 10 timed iterations each; model builds on the CPU take seconds each).
#
# What the benchmark imports (measured: the distributions behind sys.modules after a
# `--device cpu --tiny` run of every model), against the nvidia-h200 device image:
#   must be carried (not in the image), all pure Python except pycocotools:
#     sal-detectron2 0.7.2 (detectron2)      fvcore 0.1.5.post20221221   iopath 0.1.10
#     omegaconf 2.3.0                         hydra-core 1.3.2            antlr4-python3-runtime 4.9.3
#     maskformer2 0.1 (mask2former; sdist: carry the installed package folder, no CUDA op needed)
#     yacs 0.1.8                              termcolor 2.5.0
#     pycocotools (a cp312 manylinux wheel for the image's Python 3.12; `import segvit.baselines`
#       imports it through segvit.baselines._compat, and detectron2.evaluation imports it)
#   carry to match the pins (the image has its own version, not read here): timm 1.0.12
#     (segvit's ViT / Shrunk ViT build on timm's Block and Attention; maskformer2's Swin on its layers)
#   already in the image: torch, torchvision, triton, numpy, scipy (Hungarian matching), pillow,
#     opencv-python-headless (cv2), pyyaml, tabulate, portalocker, cloudpickle, tqdm, packaging,
#     filelock, typing-extensions, safetensors, huggingface-hub, sympy, mpmath
#   not needed: matplotlib, tensorboard, pytest, black / isort / flake8, onnx / onnxruntime.
# The image's numpy is 2.x (the project pins 1.26.4); the pure-Python packages above run with it.
set -uo pipefail

: "${OUT:?set OUT to the folder that receives gpu.md and gpu.log}"
SITE="${1:-${SITE:-}}"
[ $# -gt 0 ] && shift
if [ -z "$SITE" ] && [ -d .gpu/site ]; then SITE=.gpu/site; fi
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"
LOG="$OUT/gpu.log"

export PYTHONPATH="$PWD/projects/SegViT${SITE:+:$(cd "$SITE" && pwd)}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
{
  echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC') in $PWD; PYTHONPATH=$PYTHONPATH"
  nvidia-smi || echo "nvidia-smi failed"
  "$PYTHON" - <<'PY'
import importlib, sys

import torch

print("python", sys.version.split()[0], "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "| cuDNN", torch.backends.cudnn.version(), "| GPU", torch.cuda.is_available() and
      torch.cuda.get_device_name(0))
missing = []
# segvit.baselines first: it lets mask2former import without Detectron2's compiled _C (its _compat)
for name in ("segvit", "segvit.baselines", "detectron2", "fvcore", "iopath", "omegaconf", "hydra", "antlr4", "timm",
             "mask2former", "yacs", "termcolor", "pycocotools", "scipy", "cv2"):
    try:
        module = importlib.import_module(name)
        print(f"  {name} {getattr(module, '__version__', '')} {getattr(module, '__file__', '')}")
    except Exception as e:  # noqa: BLE001
        missing.append(name)
        print(f"  {name}: NOT IMPORTABLE ({type(e).__name__}: {e})")
sys.exit(f"missing: {missing}" if missing else 0)
PY
} 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  echo "environment check failed (status $status): not running the benchmark" | tee -a "$LOG"
  exit "$status"
fi

timeout "${BENCH_TIMEOUT:-420}" "$PYTHON" -m benchmarks.gpu --output "$OUT/gpu.md" "$@" 2>&1 \
  | tee -a "$LOG"
status=${PIPESTATUS[0]}
echo "== benchmark exit status $status ($(date -u '+%H:%M:%S UTC'))" | tee -a "$LOG"
exit "$status"
