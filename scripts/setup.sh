#!/usr/bin/env bash
# Creates the project venv and installs eureka with its dev extras, plus the system packages the
# tests and videos need (Debian: chromium for the browser tests, libegl1 for headless MuJoCo rendering).
# torch is pinned to a CPU build (torch==2.13.0); see README for CUDA.
set -euo pipefail
VENV="${1:-.venv}"
PYTHON="${2:-python3}"

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# ldconfig lives in /sbin (not on an ordinary user's PATH): ask it by its path, else look for the file itself
has_lib() {
  local ldc
  for ldc in "$(command -v ldconfig 2>/dev/null)" /sbin/ldconfig /usr/sbin/ldconfig; do
    [ -n "$ldc" ] && [ -x "$ldc" ] && "$ldc" -p 2>/dev/null | grep -q "$1" && return 0
  done
  compgen -G "/usr/lib/*/$1*" >/dev/null || compgen -G "/usr/lib/$1*" >/dev/null || compgen -G "/lib/*/$1*" >/dev/null \
    || compgen -G "/usr/lib64/$1*" >/dev/null
}
has_lib libEGL.so.1 || missing+=(libegl1)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)  # tests/train/test_ray_two_nodes.py: network namespaces
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]});" \
         "without chromium the browser test is skipped, without libegl1 MuJoCo videos are skipped" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev,ray,slurm,warp]'
