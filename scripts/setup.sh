#!/usr/bin/env bash
# Create .venv (Python 3.11) and install edgesieve with the given extras (default: full). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-full}"
python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "edgesieve needs Python 3.11 (python3.11 not found)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
