#!/usr/bin/env bash
# Whole test suite: install with test extras, fetch MNIST for the end-to-end tests, run pytest
# (unit tests, doctests of src/edgesieve, and the slow end-to-end tests at a small size).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh full,test
.venv/bin/edgesieve data fetch mnist
.venv/bin/python -m pytest "$@"
