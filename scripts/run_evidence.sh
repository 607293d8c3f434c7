#!/usr/bin/env bash
# The evidence of issues 12, 13 and 17 (both protocols, every stream, the store grids), 20 seeds, on the
# grid runner: every experiments/evidence_*.toml, each into the folder its `out` names. Resumable: rerun
# to continue after a stop; finished cells are skipped. Then the tables: python scripts/make_results_md.py
# Optional first argument: a data set, to run one at a time (mnist, fashion, fsdd, har).
# The store grids come first (issue 17's are the nearest to done), then the online and the DRIP ones.
set -euo pipefail
cd "$(dirname "$0")/.."
es=.venv/bin/edgesieve
only=()
[ $# -gt 0 ] && only=(--datasets "$1")
for d in mnist fashion fsdd har; do $es data fetch "$d" >/dev/null; done
export OMP_NUM_THREADS=1
for grid in evidence_store_streams evidence_store_sessions evidence_store evidence_store_long_tail evidence_store_label_free \
            evidence_store_quota evidence_titan evidence_titan_sessions evidence_titan_rivals evidence_titan_sessions_rivals evidence_coarse_pool evidence_drip evidence_drip_long_tail_seeds evidence_drip_sessions evidence_drip_fsdd_recipe \
            evidence_store_capacity25; do
  # with a data set given, only the grids that list it (--datasets would otherwise add it to the others)
  if [ $# -gt 0 ] && ! grep -Eq "^datasets = .*\"$1\"" "experiments/$grid.toml"; then continue; fi
  $es grid run "experiments/$grid.toml" "${only[@]}" --no-progress
done
$es grid report results/evidence > /dev/null
