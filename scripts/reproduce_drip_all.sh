#!/usr/bin/env bash
# The commands behind RESULTS.md (DRIP section). Resumable: rerun to continue after a stop.
set -euo pipefail
cd "$(dirname "$0")/.."
es=.venv/bin/edgesieve
for d in mnist fashion fsdd har; do $es data fetch "$d"; done
$es reproduce drip --dataset mnist   --runs 5 --out results/drip/mnist --no-progress
$es reproduce drip --dataset har     --runs 5 --sweep-runs 3 --dpw-sweep 0.1,0.2,0.3,0.4,0.5 --noise-sweep 0,0.1,0.2,0.3,0.4,0.5 --out results/drip/har --no-progress
$es reproduce drip --dataset fashion --runs 5 --out results/drip/fashion --no-progress
$es reproduce drip --dataset fsdd    --runs 5 --out results/drip/fsdd --no-progress
$es data fetch fashion-effnet
$es reproduce drip --dataset fashion-effnet --runs 5 --pool 20000 --epochs 2 --out results/drip/fashion-effnet --no-progress
$es reproduce drip --dataset mnist   --runs 3 --pool 10000 --epochs 5 --dpw-sweep 0.1,0.2,0.3,0.4,0.5 --out results/drip/mnist-10k-sweeps --no-progress
python scripts/make_results_md.py
