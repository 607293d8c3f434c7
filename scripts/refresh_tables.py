"""Recompute every summary.json / table.md under results/ from the committed run files (no
training), then RESULTS.md:

    python scripts/refresh_tables.py && python scripts/make_results_md.py
"""

from __future__ import annotations

from pathlib import Path

from edgesieve.experiments.refresh import refresh_folder

ROOT = Path(__file__).resolve().parents[1] / "results"

if __name__ == "__main__":
    for config in sorted(ROOT.rglob("config.json")):
        print(f"{refresh_folder(config.parent)}: {config.parent.relative_to(ROOT.parent)}")
