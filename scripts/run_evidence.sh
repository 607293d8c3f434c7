#!/usr/bin/env bash
# The evidence (issue 12: both protocols, every stream; the store grids of issues 13 and 17), 20 seeds, on the grid runner. Resumable: rerun
# to continue after a stop; finished cells are skipped. Then the tables: python scripts/make_results_md.py
# Optional first argument: a data set, to run one at a time (mnist, fashion, fsdd, har).
set -euo pipefail
cd "$(dirname "$0")/.."
es=.venv/bin/edgesieve
only=()
[ $# -gt 0 ] && only=(--datasets "$1")
for d in mnist fashion fsdd har; do $es data fetch "$d" >/dev/null; done
export OMP_NUM_THREADS=1
for grid in evidence_titan evidence_titan_sessions evidence_drip evidence_drip_sessions evidence_store evidence_store_long_tail evidence_store_label_free; do
  if [ $# -gt 0 ] && [[ "$grid" == *sessions ]] && [[ "$1" != fsdd && "$1" != har ]]; then continue; fi
  $es grid run "experiments/$grid.toml" "${only[@]}" --out results/evidence --no-progress
done
$es grid report results/evidence > /dev/null
