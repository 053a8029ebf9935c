#!/usr/bin/env bash
# The tiny part of benchmarks/compare.py (every method x recipe x 3 seeds) on one GPU machine.
#
# Run from the repository root on the lent machine (one H200, 16 CPU cores):
#
#     OUT=/path/that/comes/back bash benchmarks/compare_gpu_run.sh [extra compare.py options]
#
# Environment: OUT (required; at most 4 files are written there: compare_runs.tar.gz with the
# stored run JSONs, compare.md, compare_gpu.log, train_logs.tar.gz), SITE (a carried
# site-packages folder; default: .gpu/site or /tmp/site, whichever exists), PYTHON (default
# python3), JOBS (training processes sharing the GPU, default 15), THREADS (OMP/MKL threads per
# process, default 1), DEADLINE_MIN (start no new run after this many minutes, default 5; runs in
# flight finish), DETECTRON2_DATASETS (default /tmp/compare_datasets; the synthetic data is
# generated there once, before the runs), DEVICE (default cuda; cpu only to try the script),
# RESULTS (stored runs, default benchmarks/compare_runs), TABLE (default benchmarks/compare.md),
# FULL (1: afterwards also measure the full-size part on this machine's CPU, about 2-4 min with
# 16 threads; default 0).
#
# Back on the development machine, merge what came back and rewrite the table:
#
#     tar xzf compare_runs.tar.gz -C benchmarks   # adds benchmarks/compare_runs/*.json
#     .venv/bin/python benchmarks/compare.py
#
# Time estimate (not measured: no GPU was available when this was written). 2,000 iterations,
# the demo's count at the time of writing; compare.py reads the real count from
# configs/synthetic/segvit_tiny.py. A tiny model costs 0.18-0.37 GFLOPs (multiply-adds) per
# 128x128 crop forward, so a training step of 8 crops is about 4-9 G multiply-adds, well under
# 1 ms of H200 arithmetic: every step is bound by kernel launches and Python (roughly 2,000-4,000
# small kernels for forward, backward and the per-parameter AdamW, ~10-20 us each, plus
# Mask2Former's Hungarian matching on the CPU), i.e. about 40-100 ms per step with 15 processes
# time-sharing the GPU and one core each. One run is then about 1.5-3.5 min of training plus
# 20-40 s of start-up and evaluation. 30 runs (10 method/recipe pairs x 3 seeds) at 15 at a time
# are 2 waves: about 4-8 min. JOBS=15 on 16 cores leaves one core for the loaders (one worker per
# run, a few ms per batch of 8 crops) and the parent; 12 would need 3 waves. compare.py starts the
# most expensive models first (by GFLOPs), prints a line per finished run, and stores each run at
# once, so runs cut off by DEADLINE_MIN are simply started by a later call (stored runs are never
# redone).
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
export DETECTRON2_DATASETS=${DETECTRON2_DATASETS:-/tmp/compare_datasets}
if [ -z "${SITE:-}" ]; then
    for candidate in "$PWD/.gpu/site" /tmp/site; do
        if [ -d "$candidate" ]; then SITE=$candidate; break; fi
    done
fi
export PYTHONPATH="$PWD/projects/SegViT${SITE:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS PYTHONUNBUFFERED=1
WORKDIR=${WORKDIR:-/tmp/compare_work}
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
    echo "== training (compare.py prints one line per finished run)"
    start=$(date +%s)
    "$PYTHON" -u benchmarks/compare.py --parts tiny --device "$DEVICE" --jobs "$JOBS" \
        --threads "$THREADS" --deadline-min "$DEADLINE_MIN" --workdir "$WORKDIR" \
        --results "$RESULTS" --output "$TABLE" "$@" || true
    echo "== done in $(( $(date +%s) - start )) s; $(ls "$RESULTS" | wc -l) files in $RESULTS"
    if [ "${FULL:-0}" = 1 ]; then
        echo "== full-size part on the CPU"
        OMP_NUM_THREADS=$(nproc) MKL_NUM_THREADS=$(nproc) "$PYTHON" -u benchmarks/compare.py \
            --parts full --results "$RESULTS" --output "$TABLE" || true
    fi
} 2>&1 | tee "$LOG"

tar czf "$OUT/compare_runs.tar.gz" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")"
cp "$TABLE" "$OUT/compare.md"
if [ -d "$WORKDIR" ]; then  # logs and metrics of every run, to look into a failed one
    (cd "$WORKDIR" && find . -name train.log -o -name metrics.json | tar czf "$OUT/train_logs.tar.gz" -T -)
fi
ls -l "$OUT"
