#!/usr/bin/env bash
# The commands behind RESULTS.md (Titan section). Resumable: rerun to continue after a stop.
# Two reproductions run side by side with one torch thread each (2 cores); their timing
# columns therefore include that contention: benchmarks/bench_titan.py has clean timings.
set -euo pipefail
cd "$(dirname "$0")/.."
es=.venv/bin/edgesieve
for d in mnist fashion fsdd har; do $es data fetch "$d"; done
common=(--methods titan,rs,is,hl,ll,ce,ocs,camel --seeds 5 --rounds 500 --eval-every 25 --no-progress)
export OMP_NUM_THREADS=1
(
  $es reproduce titan --dataset mnist "${common[@]}" --out results/titan/mnist
  $es reproduce titan --dataset fsdd "${common[@]}" --repeat-stream --out results/titan/fsdd
) &
(
  $es reproduce titan --dataset fashion "${common[@]}" --out results/titan/fashion
  $es reproduce titan --dataset har "${common[@]}" --repeat-stream --out results/titan/har
) &
wait
python scripts/make_results_md.py
