#!/usr/bin/env bash
# Whole test suite: install with test extras, fetch the data sets for the end-to-end tests, run pytest
# (unit tests, doctests of src/edgesieve, and the slow end-to-end tests at a small size).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh full,grid,test
for dataset in mnist fsdd har; do .venv/bin/edgesieve data fetch "$dataset"; done
# Fashion-MNIST comes from a Debian package: apt needs its package lists on a fresh machine
.venv/bin/edgesieve data fetch fashion || { apt-get update -qq && .venv/bin/edgesieve data fetch fashion; }
.venv/bin/python -m pytest "$@"
