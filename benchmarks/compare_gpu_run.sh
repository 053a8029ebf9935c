#!/usr/bin/env bash
# The tiny part of `python -m benchmarks.compare` (every method x recipe x 3 seeds) on one GPU machine.
#
# Run from the repository root on the lent machine (one H200, 16 CPU cores):
#
#     OUT=/path/that/comes/back bash benchmarks/compare_gpu_run.sh [extra benchmarks.compare options]
#
# Environment: OUT (required; at most 4 files are written there: compare_runs.tar.gz with the
# stored run JSONs, compare.md, compare_gpu.log, train_logs.tar.gz), SITE (a carried
# site-packages folder; default: .gpu/site when it exists), PYTHON (default
# python3), JOBS (training processes sharing the GPU, default 15), THREADS (OMP/MKL threads per
# process, default 1), DEADLINE_MIN (start no new run after this many minutes, default 5; runs in
# flight finish), DETECTRON2_DATASETS (default: a new private temporary folder; the synthetic
# data is generated there once, before the runs), WORKDIR (training folders; default: a new
# private temporary folder), DEVICE (default cuda; cpu only to try the script),
# RESULTS (stored runs, default benchmarks/compare_runs), TABLE (default benchmarks/compare.md),
# FULL (1: afterwards also measure the full-size part on this machine's CPU, about 2-4 min with
# 16 threads; default 0).
#
# Back on the development machine, merge what came back and rewrite the table:
#
#     tar xzf compare_runs.tar.gz -C benchmarks   # adds benchmarks/compare_runs/*.json
#     .venv/bin/python -m benchmarks.compare
#
# Measured on one H200 (2026-11-30, torch 2.11, 16 cores), 2,000 iterations:
# - JOBS=15: Segmenter, DEPICT-SA and DEPICT-CA (3 seeds each) took 3.5-3.7 min per run at
#   0.095-0.098 s/it; in the same wave MaskFormer ran at 0.29 s/it and Mask2Former at 0.40 s/it
#   (its pixel decoder's pure-PyTorch deformable attention and the Hungarian matching run on one
#   core), i.e. about 10 and 14 min per run: longer than one 10-minute device call, so give them
#   their own call with fewer JOBS, or run them on a CPU machine in the background.
# - JOBS=5: SETR-naive took 1.6 min (0.040 s/it); SegViT and Shrunk SegViT did not finish within
#   3 min.
# Every run is bound by one core's Python and kernel launches, not by the GPU.
# numpy: the image's numpy 2 breaks Detectron2's SemSegEvaluator (`np.array(Image.open(f),
# copy=False)` raises), and carrying numpy 1.26 breaks the image's scipy (it needs numpy >= 2). So
# with numpy >= 2 this script patches that one line of the *carried* Detectron2 copy in SITE
# (never an installed package) to `np.asarray`, which reads the same array.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${OUT:?set OUT to the folder whose files come back}"
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-15}
THREADS=${THREADS:-1}
DEADLINE_MIN=${DEADLINE_MIN:-5}
DEVICE=${DEVICE:-cuda}
RESULTS=${RESULTS:-benchmarks/compare_runs}
TABLE=${TABLE:-benchmarks/compare.md}
# Private temporary folders (mktemp -d), never fixed names in the shared temp dir.
export DETECTRON2_DATASETS=${DETECTRON2_DATASETS:-$(mktemp -d "${TMPDIR:-/tmp}/compare_datasets.XXXXXX")}
if [ -z "${SITE:-}" ] && [ -d "$PWD/.gpu/site" ]; then SITE=$PWD/.gpu/site; fi
export PYTHONPATH="$PWD/projects/SegViT${SITE:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}"
EVALUATOR=${SITE:+$SITE/detectron2/evaluation/sem_seg_evaluation.py}
if [ -n "$EVALUATOR" ] && [ -f "$EVALUATOR" ] &&
    "$PYTHON" -c "import sys, numpy; sys.exit(int(numpy.__version__.split('.')[0]) < 2)"; then
    sed -i 's/np\.array(Image\.open(f), copy=copy, dtype=dtype)/(np.array(Image.open(f), dtype=dtype) if copy else np.asarray(Image.open(f), dtype=dtype))/' "$EVALUATOR"
fi
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS PYTHONUNBUFFERED=1
WORKDIR=${WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/compare_work.XXXXXX")}
mkdir -p "$RESULTS"
LOG="$OUT/compare_gpu.log"

{
    echo "== $(date -u) on $(hostname): JOBS=$JOBS THREADS=$THREADS DEADLINE_MIN=$DEADLINE_MIN"
    echo "PYTHONPATH=$PYTHONPATH"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
                  torch.cuda.is_available())"
    echo "== synthetic data in $DETECTRON2_DATASETS"
    "$PYTHON" -c "from segvit.data.synthetic import ensure_synthetic_dataset as e; print(e())"
    echo "== training (benchmarks.compare prints one line per finished run)"
    start=$(date +%s)
    "$PYTHON" -u -m benchmarks.compare --parts tiny --device "$DEVICE" --jobs "$JOBS" \
        --threads "$THREADS" --deadline-min "$DEADLINE_MIN" --workdir "$WORKDIR" \
        --results "$RESULTS" --output "$TABLE" "$@" || true
    echo "== done in $(( $(date +%s) - start )) s; $(ls "$RESULTS" | wc -l) files in $RESULTS"
    if [ "${FULL:-0}" = 1 ]; then
        echo "== full-size part on the CPU"
        OMP_NUM_THREADS=$(nproc) MKL_NUM_THREADS=$(nproc) "$PYTHON" -u -m benchmarks.compare \
            --parts full --results "$RESULTS" --output "$TABLE" || true
    fi
} 2>&1 | tee "$LOG"

tar czf "$OUT/compare_runs.tar.gz" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")"
cp "$TABLE" "$OUT/compare.md"
if [ -d "$WORKDIR" ]; then  # logs and metrics of every run, to look into a failed one
    (cd "$WORKDIR" && find . -name train.log -o -name metrics.json | tar czf "$OUT/train_logs.tar.gz" -T -)
fi
ls -l "$OUT"
