"""Experiment grids on Ray: every table is a grid of resumable cells (``spec``), run as Ray
tasks locally or on a cluster (``runner``), aggregated into paired comparisons (``report``)."""

from edgesieve.experiments.grid.report import aggregate, read_cells, write_report
from edgesieve.experiments.grid.runner import GridOutcome, run_grid
from edgesieve.experiments.grid.spec import Cell, Grid, GridError, load_grid

__all__ = ["Cell", "Grid", "GridError", "GridOutcome", "aggregate", "load_grid", "read_cells", "run_grid", "write_report"]
