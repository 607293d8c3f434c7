"""Recompute a ``reproduce`` results folder's summary and table from its committed cells,
without training anything: the statistics of a table can change (as the t intervals did) while
the runs stay what they were. Cells of another config are refused (``grid run``'s own check)."""

from __future__ import annotations

import json
from pathlib import Path

from edgesieve.experiments.grid.runner import pending_tasks
from edgesieve.experiments.grid.spec import load_grid
from edgesieve.experiments.protocol import ProtocolConfig
from edgesieve.experiments.reproduce import drip_records
from edgesieve.experiments.summary import summarize, write_summary
from edgesieve.experiments.titan_protocol import TitanConfig, titan_records, write_titan_summary


def refresh_folder(folder: str | Path) -> str:
    """Rewrite ``summary.json`` and ``table.md`` of one results folder (DRIP or Titan protocol)
    from its cells; returns which protocol it was."""
    folder = Path(folder)
    saved = json.loads((folder / "config.json").read_text())
    if "grid" not in saved:
        raise ValueError(f"{folder} holds runs in the layout before grid cells; convert it with "
                         "scripts/migrate_reproduce_results.py")
    grid = load_grid(**saved["grid"])
    missing, _ = pending_tasks(grid, folder)
    if missing:
        raise ValueError(f"{folder}: {sum(len(t.cells) for t in missing)} cells are missing; rerun the experiment")
    if grid.protocol == "titan":
        write_titan_summary(titan_records(grid, folder), TitanConfig.from_json(saved["config"]), folder)
        return "titan"
    cfg = ProtocolConfig.from_json(saved["config"])
    write_summary(folder, cfg, summarize(drip_records(grid, folder), cfg), note=_note(folder))
    return "drip"


def _note(folder: Path) -> str:
    """The data set's note, as the table written at run time recorded it."""
    table = folder / "table.md"
    if not table.exists():
        return ""
    head = table.read_text().splitlines()[0]
    parts = head.split("; ")
    return parts[-1] if len(parts) > 3 and "label noise" in parts[-2] else ""
