"""How far a grid has run and what is left: per data set and stream, the cells present (computed
with the grid's config), those at its paths from another config, the missing ones, the compute
the present ones took, and an estimate of the compute still needed from the measured cost of
a cell of the same data set (``edgesieve grid status``)."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from edgesieve.experiments.grid.spec import Grid


@dataclass
class RowStatus:
    """One (data set, stream) of a grid."""

    dataset: str
    stream: str
    planned: int = 0
    present: int = 0
    other_config: int = 0
    #: missing cells whose last run failed (an ``.error.json`` beside the path): rerunning retries them
    failed: int = 0
    #: of the failed, those whose stream cannot be formed from the seed's pool (a StreamSpecError,
    #: raised before any training): a rerun fails again at once, so they cost nothing still to come
    unformable: int = 0
    #: the present cells' tasks, each once: key -> (task wall seconds, cells the task wrote)
    tasks: dict = field(default_factory=dict)
    #: the keys of the tasks run since the runners record their allocator setting (and keep freed
    #: memory: cells that allocate large tensors run up to twice as fast as before)
    current: set = field(default_factory=set)

    @property
    def missing(self) -> int:
        return self.planned - self.present - self.other_config

    @property
    def to_compute(self) -> int:
        """The missing cells a rerun would spend compute on."""
        return self.missing - self.unformable

    @property
    def cpu_seconds(self) -> float:
        return sum(t for t, _ in self.tasks.values())

    def seconds_per_cell(self, current_only: bool = False) -> list[float]:
        return [t / n for key, (t, n) in self.tasks.items() if not current_only or key in self.current]


def grid_folder(grid: Grid, default: Path | None, root: Path | None = None) -> Path:
    """The folder a grid file names for its cells (``out``, relative to ``root``, by default the
    working directory), else ``default``."""
    if grid.out is not None:
        return Path(root or Path.cwd()) / grid.out
    if default is None:
        raise ValueError("say where the cells are: --out FOLDER, or out = \"FOLDER\" in the grid file")
    return Path(default)


#: how a failed cell's error starts when its stream cannot be formed from the seed's pool
UNFORMABLE = "StreamSpecError"


def _error_of(path: Path) -> str | None:
    """The error line of a failed cell's ``.error.json`` ('' where it is unreadable), None when none."""
    try:
        return str(json.loads(path.read_text()).get("error", ""))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, AttributeError):
        return ""


def grid_status(grid: Grid, folder: Path) -> list[RowStatus]:
    """The status of every (data set, stream) of ``grid`` from the cells under ``folder``."""
    rows: dict = {}
    for c in grid.cells():
        row = rows.setdefault((c.dataset, c.stream), RowStatus(c.dataset, c.stream))
        row.planned += 1
        try:
            rec = json.loads(c.path(folder).read_text())
        except (OSError, json.JSONDecodeError):  # missing, or damaged (the runner computes it again)
            error = _error_of(c.error_path(folder))
            row.failed += error is not None
            row.unformable += bool(error and error.startswith(UNFORMABLE))
            continue
        if rec.get("config_hash") != grid.config_hash(c):
            row.other_config += 1
            continue
        row.present += 1
        # a store task runs several methods of one seed; a later run may add methods to that seed
        # in a task of its own: the task's own time and size tell the tasks apart
        key = (c.seed, c.method if grid.protocol == "titan" else "", rec["task_wall_time_s"], rec.get("task_cells"))
        cells = rec.get("task_cells") or (1 if grid.protocol == "titan" else len(grid.methods))
        row.tasks[key] = (rec["task_wall_time_s"], cells)
        if "allocator" in rec:
            row.current.add(key)
    return list(rows.values())


#: tasks of a data set run by the current runners before their cost alone sets the estimate
MIN_CURRENT_TASKS = 5


def cell_costs(rows: list[RowStatus]) -> dict[str, float]:
    """Median CPU-seconds of a cell per data set of a grid: of the tasks the current runners
    computed once the data set has ``MIN_CURRENT_TASKS`` of them, else of all its tasks (a data
    set with no cell yet is absent)."""
    every, current = defaultdict(list), defaultdict(list)
    for r in rows:
        every[r.dataset] += r.seconds_per_cell()
        current[r.dataset] += r.seconds_per_cell(current_only=True)
    return {d: statistics.median(current[d] if len(current[d]) >= MIN_CURRENT_TASKS else costs)
            for d, costs in every.items() if costs}


def remaining_seconds(rows: list[RowStatus]) -> dict[tuple[str, str], float | None]:
    """CPU-seconds still needed per row: its missing cells times :func:`cell_costs` of its data
    set (None: no cell of that data set has run yet)."""
    costs = cell_costs(rows)
    return {(r.dataset, r.stream): (r.to_compute * costs[r.dataset] if r.dataset in costs else None) if r.to_compute else 0.0
            for r in rows}


def from_scratch_by_dataset(rows: list[RowStatus]) -> dict[str, float] | None:
    """CPU-seconds each data set's rows would take from scratch at today's cell costs (None while a
    data set has no cell to measure a cost by)."""
    costs = cell_costs(rows)
    if any(r.dataset not in costs for r in rows):
        return None
    seconds = defaultdict(float)
    for r in rows:
        seconds[r.dataset] += r.planned * costs[r.dataset]
    return dict(seconds)


def format_status(name: str, rows: list[RowStatus], folder: Path) -> str:
    """A Markdown table of the rows and a line of totals."""
    left = remaining_seconds(rows)
    lines = [f"{name} (cells in {folder})", "",
             "| data set | stream | present / planned | other config | missing (of them failed) | CPU-h spent | "
             "CPU-h left (est.) |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        est = left[(r.dataset, r.stream)]
        unformable = f", {r.unformable} of them streams that cannot be formed" if r.unformable else ""
        failed = f" ({r.failed} failed{unformable})" if r.failed else ""
        lines.append(f"| {r.dataset} | {r.stream} | {r.present} / {r.planned} | {r.other_config} | {r.missing}{failed} | "
                     f"{r.cpu_seconds / 3600:.2f} | {'?' if est is None else f'{est / 3600:.2f}'} |")
    known = [v for v in left.values() if v is not None]
    unknown = sum(1 for v in left.values() if v is None)
    failed, unformable = sum(r.failed for r in rows), sum(r.unformable for r in rows)
    lines += ["", f"total: {sum(r.present for r in rows)} / {sum(r.planned for r in rows)} cells present, "
              + (f"{failed} failed (their .error.json says why; a rerun retries them"
                 + (f"; {unformable} cannot form their stream (a StreamSpecError) and fail again at once, so they "
                    "count for no time left" if unformable else "") + "), " if failed else "") + 
              f"{sum(r.cpu_seconds for r in rows) / 3600:.2f} CPU-h spent, about {sum(known) / 3600:.2f} CPU-h left"
              + (f" in the rows of data sets measured so far, and {unknown} rows of data sets with no cell yet to "
                 "measure a cost by" if unknown else "")]
    return "\n".join(lines)
