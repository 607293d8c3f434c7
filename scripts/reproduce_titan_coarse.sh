#!/usr/bin/env bash
# Coarse-stage ablation on HAR (RESULTS.md, "Coarse stages"): every method behind Titan's coarse
# filter, behind DRIP's windows (the two papers combined), and with no coarse stage at all.
set -euo pipefail
cd "$(dirname "$0")/.."
es=.venv/bin/edgesieve
$es data fetch har
for coarse in titan drip none; do
  OMP_NUM_THREADS=1 $es reproduce titan --dataset har --methods titan,rs,is,hl --coarse "$coarse" --seeds 5 \
    --rounds 500 --eval-every 25 --repeat-stream --no-progress --out "results/titan/har-coarse-$coarse"
done
python scripts/make_results_md.py
# Titan with the paper's single global priority queue instead of class-proportional buffer slots
OMP_NUM_THREADS=1 $es reproduce titan --dataset har --methods titan,rs --class-slots global --seeds 5 \
  --rounds 500 --eval-every 25 --repeat-stream --no-progress --out results/titan/har-global-queue
python scripts/make_results_md.py
