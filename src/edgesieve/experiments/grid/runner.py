"""``edgesieve grid run``: every missing cell of a grid as a Ray task.

Local by default (an embedded Ray instance: ``ray.init(address="local", num_cpus=N)``, nothing to
start by hand); ``address="auto"`` or ``"HOST:PORT"`` joins an existing cluster. Cells whose
JSON exists are skipped; each finished task's cells are written by the driver atomically
(temporary file, then rename), so a crash or Ctrl-C loses at most the tasks in flight and a
partial JSON is never visible. A task that raises leaves ``<cell>.error.json`` (the traceback)
for each of its cells and does not stop the grid; a rerun retries only what is missing or failed.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from edgesieve.experiments.grid.spec import Cell, Grid, GridError, Task
from edgesieve.state.files import atomic_write_text

INSTALL_HINT = 'grid runs need Ray: pip install "edgesieve[grid]" (ray==2.60.0)'


@dataclass
class GridOutcome:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list = field(default_factory=list)  # cell names
    seconds: float = 0.0

    def format(self) -> str:
        line = f"grid: {self.done} done, {self.skipped} skipped (already there), {self.failed} failed, {self.seconds:.1f} s"
        if self.failures:
            line += "\nfailed cells (tracebacks in their .error.json): " + ", ".join(self.failures[:10])
            line += f" (+{len(self.failures) - 10} more)" if len(self.failures) > 10 else ""
        return line


def import_ray():
    try:
        import ray
    except ImportError:
        raise GridError(INSTALL_HINT) from None
    return ray


def cell_done(cell: Cell, out: Path, grid: Grid) -> bool:
    """True if the cell's JSON is there and was computed with the grid's config; a cell of
    another config is an error (nothing is overwritten)."""
    path = cell.path(out)
    if not path.exists():
        return False
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False  # unreadable: computed again (the write is atomic, so this is damage, not a crash)
    if saved.get("config_hash") != grid.config_hash(cell):
        raise GridError(f"{path} was computed with another config ({saved.get('config')}); nothing was "
                        "overwritten. Choose another --out, or delete that cell to recompute it")
    return True


def pending_tasks(grid: Grid, out: Path) -> tuple[list[Task], int]:
    """The tasks with at least one missing cell, and how many cells are already done.

    A store task runs only its missing methods: each policy's store and retraining are seeded
    by the run alone, so a method added to a finished grid costs its own cells, not the seed's
    whole task again (the DRIP protocol's methods all come from one shared run: kept whole)."""
    todo, skipped = [], 0
    for task in grid.tasks():
        done = [cell_done(c, out, grid) for c in task.cells]
        skipped += sum(done)
        if all(done):
            continue
        if grid.protocol == "store":
            task = replace(task, methods=tuple(m for m, d in zip(task.methods, done) if not d))
        todo.append(task)
    return todo, skipped


def _execute(task: Task, threads: int) -> list[dict]:
    from edgesieve.experiments.grid.cells import run_task

    return run_task(task, threads)


def start_ray(ray, num_cpus: int | None, address: str | None) -> None:
    if address is None:
        # on the loopback interface: an embedded instance is this machine's alone
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False, _node_ip_address="127.0.0.1")
        return
    _probe(address)  # ray.init waits minutes for a GCS that is not there; a refused connection is instant
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise GridError(f"no Ray cluster reachable at --address {address}: {str(err).splitlines()[0]}") from None


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, with one line, when nothing listens at the cluster's address."""
    import socket

    from ray._private.services import canonicalize_bootstrap_address

    try:
        resolved = canonicalize_bootstrap_address(address) if address == "auto" else address
    except (ConnectionError, ValueError) as err:
        resolved, why = None, str(err).splitlines()[0]
    else:
        why = "no running cluster found (start one with `ray start --head`)"
    if resolved is None:
        raise GridError(f"no Ray cluster reachable at --address {address}: {why}")
    host, _, port = resolved.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as err:
        raise GridError(f"no Ray cluster reachable at --address {address} ({resolved}): {err}") from None


def run_grid(grid: Grid, out: str | Path, *, num_cpus: int | None = None, address: str | None = None,
             progress: bool | None = None, in_process: bool = False) -> GridOutcome:
    """Run every missing cell of ``grid`` into ``out``; see the module's docstring.

    ``in_process=True`` runs the tasks one after another in this process instead of on Ray
    (what ``reproduce`` does where Ray is not installed): the same cells, the same files."""
    from tqdm.auto import tqdm

    out = Path(out)
    start = time.perf_counter()
    todo, skipped = pending_tasks(grid, out)
    if grid.protocol in ("drip", "store"):
        # a seed's streams one after another: they share D1, and a worker that runs two of them
        # trains their baseline once (``RunContext.fit_baseline``)
        todo.sort(key=lambda t: (grid.datasets.index(t.dataset), t.seed))
    outcome = GridOutcome(skipped=skipped)
    if not todo:
        outcome.seconds = time.perf_counter() - start
        return outcome
    if num_cpus is not None and num_cpus < 1:
        raise GridError(f"--num-cpus must be positive, got {num_cpus}")
    total = sum(len(t.cells) for t in todo)
    bar = tqdm(total=total, desc=f"grid {grid.protocol}", unit="cell", disable=None if progress is None else not progress)
    if in_process:
        with bar:
            for task in todo:
                _collect(partial(_execute, task, num_cpus or os.cpu_count() or 1), task, out, grid, outcome)
                bar.update(len(task.cells))
        outcome.seconds = time.perf_counter() - start
        return outcome
    ray = import_ray()
    start_ray(ray, num_cpus, address)
    try:
        _check_cpus(ray, max(grid.task_cpus(t) for t in todo))
        remote = ray.remote(num_cpus=1, max_retries=1)(_execute)  # a worker that dies is retried once
        pending = {remote.options(num_cpus=grid.task_cpus(task)).remote(task, grid.task_cpus(task)): task for task in todo}
        with bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    task = pending.pop(ref)
                    _collect(partial(ray.get, ref), task, out, grid, outcome)
                    bar.update(len(task.cells))
    finally:
        ray.shutdown()
    outcome.seconds = time.perf_counter() - start
    return outcome


def _check_cpus(ray, needed: int) -> None:
    """A task asking for more CPUs than the cluster has would wait forever: say so instead."""
    have = ray.cluster_resources().get("CPU", 0)
    if have < needed:
        raise GridError(f"a cell of this grid needs {needed} CPUs ([config] cpus_per_cell) and the Ray cluster has "
                        f"{have:g}; raise --num-cpus or lower cpus_per_cell")


def prepare_results_folder(folder: Path, grid: Grid, cfg) -> None:
    """A ``reproduce`` front-end's folder: ``config.json`` next to the tables holds the command's
    config and the grid behind it (each cell records its own versions, wall time and memory).
    A folder of the layout before cells is refused with the way to convert it."""
    folder = Path(folder)
    config = folder / "config.json"
    if (folder / "runs").is_dir() and config.exists() and "grid" not in json.loads(config.read_text()):
        raise GridError(f"{folder} holds runs in the layout before grid cells; convert them (nothing is recomputed) "
                        f"with `python scripts/migrate_reproduce_results.py {folder}`, or choose another --out")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(config, json.dumps({"config": cfg.to_json(), "grid": grid.to_json()}, indent=1))


def run_grid_or_in_process(grid: Grid, out: str | Path, *, num_cpus: int | None = None, address: str | None = None,
                           progress: bool | None = None, in_process: bool | None = None) -> GridOutcome:
    """``run_grid`` for the ``reproduce`` front-ends: on Ray when it is installed (or an
    ``address`` is given), otherwise in this process; ``in_process`` forces the choice. A cell
    that failed stops the front-end (its table would be missing a run) with the grid's counts."""
    if in_process is None:
        try:
            import ray  # noqa: F401
        except ImportError:
            in_process = address is None
    outcome = run_grid(grid, out, num_cpus=num_cpus, address=address, progress=progress, in_process=bool(in_process))
    if outcome.failed:
        raise GridError(outcome.format())
    return outcome


#: Ray's own failures (the instance or a node died): not a cell's fault, so no error records;
#: the grid stops and a rerun resumes it
INFRASTRUCTURE_ERRORS = ("LocalRayletDiedError", "NodeDiedError", "RaySystemError")


def _collect(result, task: Task, out: Path, grid: Grid, outcome: GridOutcome) -> None:
    """Write the cells of one finished task (``result()`` returns its records or raises)."""
    try:
        records = result()
    except Exception as err:  # noqa: BLE001 - a failed cell is recorded, the grid goes on
        if type(err).__name__ in INFRASTRUCTURE_ERRORS:
            raise GridError(f"the Ray instance failed ({type(err).__name__}: {err}); {outcome.done} cells were written "
                            "before it did. Rerun the same command to resume") from None
        cause = getattr(err, "cause", None) or err
        text = "".join(traceback.format_exception(cause)) if isinstance(cause, BaseException) else str(err)
        for cell in task.cells:
            if cell_done(cell, out, grid):
                continue
            atomic_write_text(cell.error_path(out), json.dumps(
                {"cell": cell.name, "error": f"{type(cause).__name__}: {cause}", "traceback": text,
                 "config": grid.cell_config(cell)}, indent=1))
            outcome.failed += 1
            outcome.failures.append(cell.name)
        return
    for cell, record in zip(task.cells, records):
        if cell_done(cell, out, grid):
            continue  # a task rerun for a sibling cell never rewrites a finished one
        atomic_write_text(cell.path(out), json.dumps(record, indent=1, allow_nan=False))
        cell.error_path(out).unlink(missing_ok=True)
        outcome.done += 1
