#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv) with the pinned stack.
#
# Idempotent: a stamp file in .venv records a hash of the inputs (pins, setup.py, this script);
# when nothing changed the script exits in well under a second.
# Safe: it only ever writes inside $VENV; it never deletes anything, a broken .venv included
# (it tells you the command to remove it yourself).
#
# Environment:
#   VENV=.venv              where the environment lives
#   PYTHON=python3.11       the interpreter the environment is made from
#   SEGVIT_SYSTEM_SITE=1    make the venv see the system site-packages, e.g. to keep your own
#                           Detectron2 source build (a working `import detectron2` is never replaced)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3.11}"
PINS="requirements/constraints.txt"
D2_WHEEL="sal-detectron2==0.7.2"   # Detectron2's Python package (2024 main), see README.md "Setup details"
MF2_SDIST="maskformer2==0.1"       # official MaskFormer/Mask2Former code, repackaged
STAMP="$VENV/.segvit-setup-stamp"
START=$SECONDS

# pip runs quietly (-q); each step says what it installs and about how long it takes.
# SEGVIT_SETUP_VERBOSE=1 shows pip's own progress instead.
QUIET=(-q)
[ "${SEGVIT_SETUP_VERBOSE:-0}" = "1" ] && QUIET=()

step_done() {
  echo "setup:   done ($((SECONDS - START)) s so far)"
}

fail() {
  echo "" >&2
  echo "make setup FAILED: $1" >&2
  echo "  fix: $2" >&2
  echo "  then run 'make setup' again (finished steps are skipped)." >&2
  exit 1
}

inputs_hash() {
  cat "$PINS" setup.py tools/setup_env.sh | sha256sum | cut -d' ' -f1
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(inputs_hash)" ] && "$VENV/bin/python" -c "import segvit" 2>/dev/null; then
  echo "setup: $VENV is up to date (delete $STAMP to force a reinstall)"
  exit 0
fi

# 1. The virtual environment itself.
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c "import sys" >/dev/null 2>&1; then
  fail "$VENV exists but its Python does not run (a broken or partial environment)." \
       "remove it with 'rm -rf $VENV' (it only holds installed packages)"
fi
if [ ! -e "$VENV" ]; then
  command -v "$PYTHON" >/dev/null || fail "'$PYTHON' was not found." \
    "install Python 3.10+ or point PYTHON at one: make setup PYTHON=/path/to/python3"
  venv_args=()
  [ "${SEGVIT_SYSTEM_SITE:-0}" = "1" ] && venv_args+=(--system-site-packages)
  echo "setup: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "${venv_args[@]}" "$VENV" || fail "could not create $VENV." \
    "check that the venv module is installed (Debian: apt-get install python3-venv)"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --no-input)
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# 2. The pinned stack (torch, fvcore, timm, ... and the dev tools).
echo "setup: [1/4] installing the $(grep -c '==' "$PINS") pinned packages of $PINS: PyTorch with its"
echo "setup:       CUDA libraries (most of the ~5 GB), torchvision, fvcore, timm, onnx/onnxruntime,"
echo "setup:       matplotlib, opencv, pytest, black/isort/flake8. The first time this downloads"
echo "setup:       ~5 GB: about 3-4 minutes on a fast connection, longer on a slow one; pip is quiet"
echo "setup:       meanwhile (SEGVIT_SETUP_VERBOSE=1 make setup shows its progress). Re-runs skip it."
"${PIP[@]}" "${QUIET[@]}" -r "$PINS" || fail "pip could not install the pins in $PINS." \
  "check network access to the package index ('pip config list', proxy settings)"
step_done

# 3. Detectron2: keep a working one (e.g. an official source build); otherwise the PyPI wheel route.
if "$PY" -c "import detectron2.engine, detectron2.evaluation" 2>/dev/null; then
  echo "setup: [2/4] keeping the Detectron2 already importable: $("$PY" -c 'import detectron2, os; print(os.path.dirname(detectron2.__file__))')"
else
  echo "setup: [2/4] installing Detectron2 from the $D2_WHEEL wheel (pure Python; _C ops fall back; a few seconds)"
  "${PIP[@]}" "${QUIET[@]}" --no-deps --only-binary=:all: --python-version 3.10 --implementation cp \
    --target "$SITE" --upgrade "$D2_WHEEL" || fail "pip could not install $D2_WHEEL." \
    "check network access to the package index; or install Detectron2 yourself into $VENV"
  step_done
fi

# 4. maskformer2: its declared needs are URLs that cannot resolve, so no deps; it imports torch at build.
if ! "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('mask2former') is None)" 2>/dev/null; then
  echo "setup: [3/4] installing $MF2_SDIST, the official MaskFormer/Mask2Former code (--no-deps"
  echo "setup:       --no-build-isolation; a small source package)"
  "${PIP[@]}" "${QUIET[@]}" --no-deps --no-build-isolation "$MF2_SDIST" || fail "pip could not install $MF2_SDIST." \
    "check network access to the package index"
  step_done
fi

# 5. This project, editable (setup.py maps projects/SegViT/segvit to the `segvit` package).
echo "setup: [4/4] installing this project (segvit) in editable mode (a few seconds)"
"${PIP[@]}" "${QUIET[@]}" --no-deps --no-build-isolation -e . || fail "pip could not install this project in editable mode." \
  "read the pip error above; setup.py is at $ROOT/setup.py"

"$PY" -c "import segvit" || fail "'import segvit' fails after installation." "read the traceback above"
inputs_hash > "$STAMP"
echo "setup: done in $((SECONDS - START)) s ($VENV). Run the tools with $VENV/bin/python, or"
echo "       'source $VENV/bin/activate' first to write just 'python'."
