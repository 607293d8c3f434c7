"""`edgesieve grid status` on hand-made cells: present, other-config and missing cells per row,
compute spent (each task once) and the estimate of what is left."""

import json

import pytest

from edgesieve.cli.main import main
from edgesieve.experiments.grid.spec import load_grid
from edgesieve.experiments.grid.status import format_status, from_scratch_by_dataset, grid_status, remaining_seconds

GRID = ('protocol = "store"\ndatasets = ["har", "fsdd"]\nstreams = ["iid", "sessions"]\nmethods = ["reservoir", "pbrs"]\n'
        'seeds = 3\n[config]\ncapacity = 0.1\n')


def write(grid, folder, cell, wall, cells, config_hash=None, allocator=None):
    cell.path(folder).parent.mkdir(parents=True, exist_ok=True)
    extra = {} if allocator is None else {"allocator": allocator}
    cell.path(folder).write_text(json.dumps({"task_wall_time_s": wall, "task_cells": cells,
                                             "config_hash": config_hash or grid.config_hash(cell), **extra}))


@pytest.fixture
def grid_with_cells(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(f'out = "{tmp_path / "cells"}"\n' + GRID)
    grid = load_grid(path)
    folder = tmp_path / "cells"
    for c in grid.cells():
        if c.dataset == "har" and c.stream == "iid" and c.seed < 2:
            write(grid, folder, c, 10.0, 2)  # two tasks of 10 s, 2 cells each: 5 s a cell
        if c.dataset == "har" and c.stream == "sessions" and c.seed == 0 and c.method == "pbrs":
            write(grid, folder, c, 4.0, 1, config_hash="another")  # at the path, another config
        if c.dataset == "fsdd" and c.stream == "iid" and c.seed == 2:
            c.error_path(folder).parent.mkdir(parents=True, exist_ok=True)
            c.error_path(folder).write_text("{}")  # the last run of this task failed
    return path, grid, folder


def test_rows_count_present_other_and_missing_cells_and_estimate_what_is_left(grid_with_cells):
    _, grid, folder = grid_with_cells
    rows = {(r.dataset, r.stream): r for r in grid_status(grid, folder)}
    har_iid, har_sessions, fsdd_iid = rows[("har", "iid")], rows[("har", "sessions")], rows[("fsdd", "iid")]
    assert (har_iid.planned, har_iid.present, har_iid.other_config, har_iid.missing) == (6, 4, 0, 2)
    assert har_iid.cpu_seconds == 20.0 and har_iid.seconds_per_cell() == [5.0, 5.0]
    assert (har_sessions.present, har_sessions.other_config, har_sessions.missing) == (0, 1, 5)
    left = remaining_seconds(list(rows.values()))
    assert left[("har", "iid")] == 10.0 and left[("har", "sessions")] == 25.0  # har's 5 s a cell
    assert left[("fsdd", "iid")] is None and fsdd_iid.missing == 6  # no fsdd cell measured yet
    assert fsdd_iid.failed == 2 and har_iid.failed == 0
    text = format_status("g", list(rows.values()), folder)
    assert "| har | iid | 4 / 6 | 0 | 2 | 0.01 | 0.00 |" in text
    assert "| fsdd | iid | 0 / 6 | 0 | 6 (2 failed) |" in text
    assert "total: 4 / 24 cells present, 2 failed" in text and "and 2 rows of data sets with no cell yet to measure a cost by" in text


def test_cells_whose_stream_cannot_be_formed_count_as_failed_but_for_no_time_left(grid_with_cells):
    """A StreamSpecError (the seed's pool cannot form the stream) fails before any training and
    again on every rerun: the estimate leaves those cells out; other failures still count."""
    _, grid, folder = grid_with_cells
    missing = [c for c in grid.cells() if c.dataset == "har" and c.stream == "iid" and c.seed == 2]
    missing[0].error_path(folder).write_text(json.dumps({"error": "StreamSpecError: stream scenario 'imbalanced': "
                                                          "ratio=100 needs at least 100 arrivals"}))
    missing[1].error_path(folder).write_text(json.dumps({"error": "RuntimeError: out of memory"}))
    rows = {(r.dataset, r.stream): r for r in grid_status(grid, folder)}
    har_iid = rows[("har", "iid")]
    assert (har_iid.missing, har_iid.failed, har_iid.unformable, har_iid.to_compute) == (2, 2, 1, 1)
    assert remaining_seconds(list(rows.values()))[("har", "iid")] == 5.0  # one cell at 5 s, not two
    assert rows[("fsdd", "iid")].unformable == 0  # an error file without an error line: an ordinary failure
    text = format_status("g", list(rows.values()), folder)
    assert "| har | iid | 4 / 6 | 0 | 2 (2 failed, 1 of them streams that cannot be formed) | 0.01 | 0.00 |" in text
    assert "1 cannot form their stream (a StreamSpecError) and fail again at once, so they count for no time left" in text


def test_once_enough_cells_ran_with_the_current_runners_only_their_cost_counts(tmp_path):
    """Cells computed before the runners kept freed memory took up to twice as long: once a data
    set has 5 tasks that record their allocator, they alone set its estimate."""
    path = tmp_path / "g.toml"
    path.write_text(GRID.replace("seeds = 3", "seeds = 8"))
    grid = load_grid(path)
    folder = tmp_path / "cells"
    for c in grid.cells():
        if c.dataset == "har" and c.stream == "iid" and c.seed < 6:
            write(grid, folder, c, 20.0, 2)  # 6 tasks of 2 cells, 10 s a cell, before
        if c.dataset == "har" and c.stream == "sessions" and c.seed < 4:
            write(grid, folder, c, 8.0, 2, allocator="glibc, freed memory kept")  # 4 tasks, 4 s a cell
    left = remaining_seconds(grid_status(grid, folder))
    assert left[("har", "iid")] == 4 * 10.0  # 4 current tasks: not enough yet, the median of all 10
    for c in grid.cells():
        if c.dataset == "har" and c.stream == "sessions" and c.seed == 4:
            write(grid, folder, c, 8.0, 2, allocator="glibc, freed memory kept")
    rows = grid_status(grid, folder)
    left = remaining_seconds(rows)
    assert left[("har", "iid")] == 4 * 4.0 and left[("har", "sessions")] == 6 * 4.0
    assert from_scratch_by_dataset(rows) is None  # fsdd has no cell to measure a cost by
    assert from_scratch_by_dataset([r for r in rows if r.dataset == "har"]) == {"har": 32 * 4.0}


def test_the_cli_reads_the_grid_files_folder_and_needs_one(grid_with_cells, tmp_path, capsys):
    path, _, _ = grid_with_cells
    assert main(["grid", "status", str(path)]) == 0
    assert "| har | iid | 4 / 6 |" in capsys.readouterr().out
    bare = tmp_path / "bare.toml"
    bare.write_text(GRID)
    assert main(["grid", "status", str(bare)]) == 2
    assert "say where the cells are: --out FOLDER" in capsys.readouterr().err
    assert main(["grid", "status", str(bare), "--out", str(tmp_path / "cells")]) == 0
    assert "| har | iid | 4 / 6 |" in capsys.readouterr().out
