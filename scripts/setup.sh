#!/usr/bin/env bash
# Creates the project venv and installs eureka with its dev extras.
# torch is pinned to a CPU build (torch==2.13.0); see README for CUDA.
set -euo pipefail
VENV="${1:-.venv}"
PYTHON="${2:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
