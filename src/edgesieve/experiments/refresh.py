"""Recompute a results folder's summary and table from its committed run files, without
training anything: the statistics of a table can change (as the t intervals did) while the
runs stay what they were. Runs whose config hash does not match the folder's are refused."""

from __future__ import annotations

import json
from pathlib import Path

from edgesieve.experiments.protocol import ProtocolConfig
from edgesieve.experiments.results_dir import ResultsDir
from edgesieve.experiments.summary import summarize, write_summary
from edgesieve.experiments.titan_protocol import TitanConfig, write_titan_summary


def refresh_folder(folder: str | Path) -> str:
    """Rewrite ``summary.json`` and ``table.md`` of one results folder (DRIP or Titan protocol)
    from its ``runs/``; returns which protocol it was."""
    folder = Path(folder)
    saved = json.loads((folder / "config.json").read_text())["config"]
    if "online" in saved:
        cfg = TitanConfig.from_json(saved)
        results = ResultsDir(folder, cfg)
        records = {f"{m}_seed{s}": _load(results, f"{m}_seed{s}") for s in range(cfg.seeds) for m in cfg.methods}
        write_titan_summary(records, cfg, folder)
        return "titan"
    cfg = ProtocolConfig.from_json(saved)
    results = ResultsDir(folder, cfg)
    write_summary(folder, cfg, summarize([_load(results, run) for run in range(cfg.runs)], cfg), note=_note(folder))
    return "drip"


def _load(results: ResultsDir, key) -> dict:
    record = results.load_run(key)
    if record is None:
        raise ValueError(f"{results.run_file(key)} is missing or belongs to another config; rerun the experiment")
    return record


def _note(folder: Path) -> str:
    """The data set's note, as the table written at run time recorded it."""
    table = folder / "table.md"
    if not table.exists():
        return ""
    head = table.read_text().splitlines()[0]
    parts = head.split("; ")
    return parts[-1] if len(parts) > 3 and "label noise" in parts[-2] else ""
