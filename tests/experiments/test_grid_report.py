"""The grid report's statistics on hand-made cells: Holm's adjustment equals statsmodels',
time-to-accuracy on a hand-computed curve, and the "where selection beats random" table."""

import math

import pytest

from edgesieve.experiments.grid.beats import beats_table, count_wins
from edgesieve.experiments.grid.report import aggregate, time_to_accuracy
from edgesieve.experiments.statistics import smoothed
from edgesieve.experiments.statistics import holm_adjust, paired_p_value


def cell(dataset, stream, method, seed, acc, protocol="drip"):
    metric = {"test_accuracy": acc} if protocol == "drip" else {
        "last20_accuracy": acc, "auc": acc, "final_accuracy": acc, "curve": [[5, acc / 2], [10, acc]], "seconds_at_eval": [1.0, 2.0]}
    return {"protocol": protocol, "dataset": dataset, "stream": stream, "method": method, "seed": seed, "metrics": metric}


def cells():
    out = []
    for seed in range(6):
        for dataset, gain in (("a", 0.05), ("b", 0.0), ("c", -0.04)):
            base = 0.6 + 0.01 * seed
            out.append(cell(dataset, "iid", "random", seed, base))
            out.append(cell(dataset, "iid", "drip", seed, base + gain + 0.004 * (-1) ** seed))
    return out


def test_holm_equals_statsmodels_multipletests():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    p = [0.001, 0.04, 0.03, 0.2, 0.011, 0.5, math.nan, 0.049]
    valid = [v for v in p if not math.isnan(v)]
    expected = list(multipletests(valid, method="holm")[1])
    got = [v for v in holm_adjust(p) if not math.isnan(v)]
    assert got == pytest.approx(expected)
    assert math.isnan(holm_adjust(p)[6])


def test_paired_p_value_equals_scipy():
    stats = pytest.importorskip("scipy.stats")
    d = [0.3, -0.1, 0.5, 0.2, 0.4]
    assert paired_p_value(d) == pytest.approx(stats.ttest_1samp(d, 0).pvalue)


def test_time_to_accuracy_on_a_hand_computed_curve():
    curve = [[5, 0.2], [10, 0.5], [15, 0.8], [20, 0.8]]
    assert [round(a, 4) for _, a in smoothed(curve)] == [0.35, 0.5, 0.7, 0.8]
    by_seed = {0: {"curve": curve, "seconds_at_eval": [1, 2, 3, 4]}, 1: {"curve": curve, "seconds_at_eval": [1, 2, 3, 4]}}
    ref = {0: {"last20_accuracy": 0.5}, 1: {"last20_accuracy": 0.9}}
    got = time_to_accuracy(by_seed, ref)
    assert got == {"rounds_to_rs_level": 10, "seconds_to_rs_level": 2, "reached_rs_level": "1/2"}


def test_the_beats_table_says_beats_ties_loses_and_marks_holm():
    records = aggregate(cells())
    drip = {r["dataset"]: r for r in records if r["method"] == "drip"}
    assert drip["a"]["holm_verdict"] == "beats random" and drip["c"]["holm_verdict"] == "loses to random"
    assert drip["b"]["holm_verdict"] == "within noise after Holm"
    table = beats_table(records, "drip", "test_accuracy")
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ") and "data set" not in line}
    assert "**beats*" in rows["a"] and "**ties**" in rows["b"] and "**loses*" in rows["c"]
    assert count_wins(records, "drip", "test_accuracy") == {"drip": {"iid": ["a"]}}


def test_online_records_carry_time_to_accuracy():
    out = [cell("a", "iid", m, s, 0.5 + 0.3 * (m == "titan") + 0.01 * s, "titan") for s in range(3) for m in ("rs", "titan")]
    rec = next(r for r in aggregate(out) if r["method"] == "titan" and r["metric"] == "last20_accuracy")
    assert rec["reached_rs_level"] == "3/3" and rec["rounds_to_rs_level"] == 5  # smoothed 0.75 x 0.8 >= 0.5


def test_the_evidence_section_counts_coverage_and_speaks_only_of_complete_rows(tmp_path):
    import json

    from edgesieve.experiments.grid.evidence import evidence_section
    from edgesieve.experiments.grid.spec import load_grid

    grid_file = tmp_path / "evidence_x.toml"
    grid_file.write_text('protocol = "drip"\ndatasets = ["har"]\nmethods = ["drip", "random"]\nseeds = 20\n')
    grid = load_grid(grid_file)
    out = tmp_path / "cells"
    for c in grid.cells()[:10]:  # 5 seeds of the 20 planned
        c.path(out).parent.mkdir(parents=True, exist_ok=True)
        acc = 0.8 + 0.05 * (c.method == "drip") + 0.001 * c.seed
        c.path(out).write_text(json.dumps({**cell("har", "iid", c.method, c.seed, acc), "task_wall_time_s": 3.0,
                                           "config_hash": grid.config_hash(c)}))
    text = "\n".join(evidence_section(out, [grid_file]))
    assert "| `experiments/evidence_x.toml` | drip | 10 / 40 | 15 | 0.00 | 0.01 |" in text  # 5 tasks of 3 s; 30 cells of 1.5 s left
    assert "*incomplete*" in text and "No row has its 20 seeds yet." in text


def test_coverage_counts_a_later_task_that_added_methods_to_a_seed(tmp_path):
    import json

    from edgesieve.experiments.grid.evidence import coverage
    from edgesieve.experiments.grid.spec import load_grid

    grid_file = tmp_path / "evidence_s.toml"
    grid_file.write_text('protocol = "store"\ndatasets = ["har"]\nmethods = ["reservoir", "pbrs", "cstu"]\nseeds = 1\n'
                         '[config]\ncapacity = 0.1\n')
    out = tmp_path / "cells"
    grid = load_grid(grid_file)
    for c in grid.cells():  # reservoir and pbrs ran in one 10 s task, cstu later in a 4 s one
        c.path(out).parent.mkdir(parents=True, exist_ok=True)
        wall, n = (4.0, 1) if c.method == "cstu" else (10.0, 2)
        c.path(out).write_text(json.dumps({**cell("har", "iid", c.method, 0, 0.8), "task_wall_time_s": wall,
                                           "task_cells": n, "config_hash": grid.config_hash(c)}))
    (row,) = coverage([grid_file], out)
    assert (row["present"], row["other_config"], row["cpu_seconds"]) == (3, 0, 14.0)


def test_coverage_reads_a_grid_files_own_folder_and_counts_only_its_own_config(tmp_path):
    import json

    from edgesieve.experiments.grid.evidence import coverage, evidence_section
    from edgesieve.experiments.grid.spec import load_grid

    text = 'protocol = "store"\ndatasets = ["har"]\nmethods = ["reservoir", "pbrs"]\nseeds = 1\n[config]\ncapacity = {}\n'
    shared, own = tmp_path / "evidence_a.toml", tmp_path / "evidence_b.toml"
    shared.write_text(text.format(0.1))
    own.write_text('out = "elsewhere"\n' + text.format(0.2))
    for grid_file, folder in ((shared, tmp_path / "cells"), (own, tmp_path / "elsewhere")):
        grid = load_grid(grid_file)
        for c in grid.cells():
            c.path(folder).parent.mkdir(parents=True, exist_ok=True)
            c.path(folder).write_text(json.dumps({**cell("har", "iid", c.method, 0, 0.8), "task_wall_time_s": 5.0,
                                                  "task_cells": 2, "config_hash": grid.config_hash(c)}))
    # the second grid's cells live in its own folder; at the first grid's paths they would be another config
    rows = {r["grid"]: r for r in coverage([shared, own], tmp_path / "cells", root=tmp_path)}
    assert (rows["evidence_a.toml"]["present"], rows["evidence_b.toml"]["present"]) == (2, 2)
    assert rows["evidence_b.toml"]["folder"] == tmp_path / "elsewhere"
    lines = "\n".join(evidence_section(tmp_path / "cells", [shared, own], root=tmp_path))
    assert "| `experiments/evidence_a.toml` | store | 2 / 2 |" in lines
    assert "| `experiments/evidence_b.toml` (cells in `elsewhere`) | store | 2 / 2 |" in lines
    (row,) = coverage([own.rename(tmp_path / "evidence_c.toml")], tmp_path / "cells", root=tmp_path / "nowhere")
    assert (row["present"], row["other_config"]) == (0, 0)
    (tmp_path / "evidence_d.toml").write_text(text.format(0.2))  # no `out`: reads the shared folder
    (row,) = coverage([tmp_path / "evidence_d.toml"], tmp_path / "cells", root=tmp_path)
    assert (row["present"], row["other_config"], row["cpu_seconds"]) == (0, 2, 0)
    lines = "\n".join(evidence_section(tmp_path / "cells", [tmp_path / "evidence_d.toml"], root=tmp_path))
    assert "computed with another config (not counted above" in lines and "`evidence_d.toml` 2" in lines


def test_a_drip_grid_in_a_folder_of_its_own_gets_its_own_table(tmp_path):
    """Another recipe (FSDD at 12 epochs) lives in its own folder: its rows must not mix with the
    main DRIP table, and must still be reported."""
    import json

    from edgesieve.experiments.grid.evidence import evidence_section
    from edgesieve.experiments.grid.spec import load_grid

    grid_file = tmp_path / "evidence_recipe.toml"
    grid_file.write_text('out = "recipe"\nprotocol = "drip"\ndatasets = ["har"]\nmethods = ["drip", "random"]\n'
                         'seeds = 4\n[config]\ndpw = 0.25\n')
    grid = load_grid(grid_file)
    for c in grid.cells():
        acc = 0.6 + 0.01 * c.seed + (0.05 if c.method == "drip" else 0.0) + 0.001 * (c.seed % 2)
        c.path(tmp_path / "recipe").parent.mkdir(parents=True, exist_ok=True)
        c.path(tmp_path / "recipe").write_text(json.dumps({**cell("har", "iid", c.method, c.seed, acc), "task_wall_time_s": 3.0,
                                                          "task_cells": 2, "config_hash": grid.config_hash(c)}))
    lines = "\n".join(evidence_section(tmp_path / "cells", [grid_file], root=tmp_path))
    own = lines[lines.index("### DRIP protocol, `experiments/evidence_recipe.toml` (its own folder): where selection beats random"):]
    assert "| har | iid | 4 *incomplete* |" in own and "**beats**" in own
    main = lines[lines.index("### DRIP storage protocol"):lines.index("### Storage with a capacity")]
    assert "| har |" not in main  # the main table has none of its cells


def test_the_store_tables_keep_label_free_policies_apart():
    from edgesieve.experiments.grid.evidence import store_method_groups

    groups = dict(store_method_groups(["class_balanced", "drip", "pbrs", "trust_balanced:labelled_store=true", "cstu"]))
    label_using, label_free = groups.values()
    assert label_using == ["class_balanced", "drip"]
    assert label_free == ["pbrs", "trust_balanced:labelled_store=true", "cstu"]


def test_the_store_ablation_pairs_the_two_policies_of_each_choice_by_seed():
    from edgesieve.experiments.grid.ablation import ablation_table

    def cell(method, seed, acc):
        return {"protocol": "store", "dataset": "har", "stream": "iid", "method": method, "seed": seed,
                "metrics": {"test_accuracy": acc}}

    cells = [cell("pbrs", s, 0.5 + 0.01 * s + 0.02) for s in range(4)] + [cell("reservoir", s, 0.5 + 0.01 * s) for s in range(4)]
    table = ablation_table(cells)
    assert "| har | iid | grouping and quotas" in table and "| 4 | +2.00 [+2.00, +2.00] |" in table and "helps" in table
    assert ablation_table([]) == "(no paired store cells for the ablation yet)"


def test_our_policy_is_measured_against_the_strongest_rival_and_the_gap_to_cbrs():
    from edgesieve.experiments.grid.ablation import rival_table

    means = {"pbrs": 0.60, "cstu": 0.55, "class_balanced": 0.70, "trust_balanced:within=random": 0.65}
    cells = [{"protocol": "store", "dataset": "har", "stream": "iid", "method": m, "seed": s,
              "metrics": {"test_accuracy": v + 0.01 * s}} for m, v in means.items() for s in range(3)]
    row = rival_table(cells).splitlines()[2]
    assert "| `trust_balanced:within=random` | 3 | pbrs | +5.00 [+5.00, +5.00] | beats pbrs | 50% |" in row


def test_the_label_using_policies_are_measured_against_cbrs_with_their_mde():
    from edgesieve.experiments.grid.ablation import versus_table

    cells = [{"protocol": "store", "dataset": "har", "stream": "iid", "method": m, "seed": s,
              "metrics": {"test_accuracy": v + 0.01 * s + (0.01 if m == "gdumb" and s % 2 else 0)}}
             for m, v in {"gdumb": 0.72, "class_balanced": 0.70}.items() for s in range(4)]
    row = versus_table(cells).splitlines()[2]
    assert row.startswith("| har | iid | `gdumb` | 4 | +2.50 [") and row.endswith("| beats class_balanced |")
    assert versus_table([]) == "(no paired store cells against class_balanced yet)"


def test_the_grouping_table_reads_each_seed_once():
    from edgesieve.experiments.grid.ablation import grouping_table

    cells = [{"protocol": "store", "dataset": "har", "stream": "iid", "method": m, "seed": s,
              "metrics": {"test_accuracy": 0.5, "sizes": {"predicted_class_ari": 0.2 * (s + 1),
                                                           "factory_accuracy_on_stream": 0.5}}}
             for m in ("pbrs", "reservoir") for s in range(2)]
    assert "| har | iid | 2 | 0.30 | 50.0% |" in grouping_table(cells)
    assert grouping_table([]) == "(no store cells with a grouping record yet)"


def test_a_cell_with_a_target_records_when_its_smoothed_curve_reaches_it():
    from edgesieve.experiments.grid.cells import online_metrics

    curve = [(5, 0.2), (10, 0.6), (15, 0.7), (20, 0.9)]  # smoothed: 0.4, 0.5, 0.733, 0.8
    m = online_metrics(curve, [1.0] * 20, [], [0.5], target=0.7)
    assert (m["rounds_to_target"], m["seconds_to_target"]) == (15, 15.0)  # not round 10: one evaluation is not enough
    never = online_metrics(curve, [1.0] * 20, [], [0.5], target=0.95)
    assert never["rounds_to_target"] is None and never["seconds_to_target"] is None
    assert "rounds_to_target" not in online_metrics(curve, [1.0] * 20, [], [0.5])


def test_the_own_policy_targets_count_the_data_sets_each_variant_wins():
    from edgesieve.experiments.grid.targets import LONG_TAILED, DIRICHLET, own_policy_targets, targets_table

    means = {"pbrs": 0.60, "hus": 0.50, "class_balanced": 0.70, "trust_balanced:labelled_store=true": 0.71}
    cells = [{"protocol": "store", "dataset": d, "stream": stream, "method": m, "seed": s,
              "metrics": {"test_accuracy": v + 0.01 * s + (0.003 * (s % 2) if m == "class_balanced" else 0)}}
             for d in ("har", "mnist") for stream in (LONG_TAILED, DIRICHLET) for m, v in means.items() for s in range(4)]
    (row,) = own_policy_targets(cells, complete_n=4)
    assert row["long"] == (["har", "mnist"], 2) and row["dirichlet"] == (["har", "mnist"], 2)
    assert row["half_gap"] == (["har", "mnist"], 2)
    assert not row["label_free_met"]  # 2 long-tailed data sets, 3 needed
    assert row["beats_cbrs"][1:] == (["har", "mnist"], 2) and row["labels_met"]
    assert own_policy_targets(cells, complete_n=5) == []  # no row has its seeds yet
    assert targets_table([]) == "(no complete store rows of our policy yet)"


def test_the_store_sizes_table_reads_each_seed_once_and_names_the_pool():
    from edgesieve.experiments.grid.evidence import store_sizes_table

    sizes = {"d1": 600, "d2": 3000, "d3": 11400, "capacity": 1140, "steps": 140}
    cells = [{"protocol": "store", "dataset": "mnist", "stream": "iid", "method": m, "seed": s,
              "config": {"pool": 15000}, "metrics": {"sizes": {**sizes, "d3": sizes["d3"] + 2 * s}}}
             for m in ("pbrs", "reservoir") for s in range(2)]
    assert "| mnist | iid | 2 | 15,000 | 600 | 3,000 | 11,401 | 1,140 | 140 |" in store_sizes_table(cells)
    assert store_sizes_table([]) == "(no store cells with sizes yet)"


def test_a_store_grid_with_a_folder_of_its_own_gets_its_own_tables(tmp_path):
    import json

    from edgesieve.experiments.grid.evidence import evidence_section
    from edgesieve.experiments.grid.spec import load_grid

    grid_file = tmp_path / "evidence_cap.toml"
    grid_file.write_text('out = "cap"\nprotocol = "store"\ndatasets = ["har"]\nmethods = ["reservoir", "pbrs"]\n'
                         'seeds = 20\n[config]\ncapacity = 0.25\n')
    text = "\n".join(evidence_section(tmp_path / "cells", [grid_file], root=tmp_path))
    assert "No cell has run yet: `edgesieve grid run experiments/evidence_cap.toml`" in text
    grid = load_grid(grid_file)
    for c in grid.cells():
        c.path(tmp_path / "cap").parent.mkdir(parents=True, exist_ok=True)
        acc = 0.7 + 0.03 * (c.method == "pbrs") + 0.001 * c.seed + 0.002 * (c.seed % 3)
        c.path(tmp_path / "cap").write_text(json.dumps({
            **cell("har", "iid", c.method, c.seed, acc, protocol="store"), "metrics": {"test_accuracy": acc},
            "config": {"capacity": 0.25}, "task_wall_time_s": 2.0, "task_cells": 2, "config_hash": grid.config_hash(c)}))
    text = "\n".join(evidence_section(tmp_path / "cells", [grid_file], root=tmp_path))
    assert "### Storage with a capacity (25% of the stream): where selection beats reservoir" in text
    assert "| har | iid | 20 |" in text and "**beats" in text


def test_the_beats_table_leaves_out_rows_where_none_of_its_methods_ran():
    records = aggregate(cells() + [cell("d", "iid", "random", s, 0.5) for s in range(6)]
                        + [cell("d", "iid", "other", s, 0.5 + 0.01 * s) for s in range(6)])
    table = beats_table(records, "drip", "test_accuracy", ["drip"])
    assert "| a | iid |" in table and "| d | iid |" not in table


def test_the_budget_sentence_adds_the_drip_and_titan_grids_of_the_evidence_folder_only(tmp_path):
    from edgesieve.experiments.grid.evidence import budget_sentence

    out = tmp_path / "cells"
    row = lambda grid, protocol, folder, spent, left, unmeasured=0, scratch=None: {  # noqa: E731
        "grid": grid, "protocol": protocol, "folder": folder, "cpu_seconds": spent * 3600,
        "cpu_seconds_left": left * 3600, "rows_unmeasured": unmeasured,
        "cpu_seconds_from_scratch_by_dataset": None if scratch is None else {"mnist": scratch * 3600}}
    rows = [row("evidence_drip.toml", "drip", out, 1.0, 2.0, 3), row("evidence_titan.toml", "titan", out, 4.0, 3.0),
            row("evidence_store.toml", "store", out, 50.0, 0.0), row("pool.toml", "titan", tmp_path / "own", 9.0, 9.0)]
    text = budget_sentence(rows, out)
    assert "`evidence_drip.toml`, `evidence_titan.toml` took 5.0 CPU-hours and need about 5.0 more, plus 3 rows" in text
    assert "at least 5.0 hours of wall time on 2 cores, against 4: it does not fit at these sizes." in text
    small = [row("evidence_drip.toml", "drip", out, 1.0, 1.0)]
    assert budget_sentence(small, out).endswith("against 4: it fits.")
    assert budget_sentence([{**small[0], "rows_unmeasured": 1}], out).endswith("it fits so far, with rows still to measure.")
    assert budget_sentence(rows[2:], out) is None
    done = budget_sentence([row("evidence_drip.toml", "drip", out, 9.0, 0.0)], out)
    assert "`evidence_drip.toml` took 9.0 CPU-hours (every cell that can run has run): at least 4.5 hours" in done
    fresh = [row("evidence_drip.toml", "drip", out, 3.0, 1.0, scratch=2.5), row("evidence_titan.toml", "titan", out, 4.0, 1.0, scratch=3.5)]
    assert budget_sentence(fresh, out).endswith(
        "need about 2.0 more: at least 4.5 hours of wall time on 2 cores, against 4: it does not fit at these sizes. From "
        "scratch at today's cell costs (the runners now keep freed memory) they would take about 6.0 CPU-hours, at "
        "least 3.0 hours on 2 cores. Where those CPU-hours go: mnist 6.0 (DRIP 2.5, Titan 3.5).")
    # too much from scratch as well: by how much it must shrink, and where the hours go, largest data set first
    split = [{**fresh[0], "cpu_seconds_from_scratch_by_dataset": {"har": 3600, "fsdd": 3 * 3600}},
             {**fresh[1], "cpu_seconds_from_scratch_by_dataset": {"fsdd": 5 * 3600, "har": 3600}}]
    assert budget_sentence(split, out).endswith(
        "they would take about 10.0 CPU-hours, at least 5.0 hours on 2 cores: to fit, the evidence must cost at least 20% "
        "less. Where those CPU-hours go: fsdd 8.0 (DRIP 3.0, Titan 5.0); har 2.0 (DRIP 1.0, Titan 1.0).")
    # measured from scratch: the measurement's verdict for issue 12's grids, and what the later columns add
    measured = {"sampled_seeds": 1, "cpus": 2, "hours_by_group": {"issue 12": 3.5, "later columns": 1.2},
                "grids": [{"identical": 10, "compared": 10, "differing": []}]}
    later = [row("evidence_drip.toml", "drip", out, 9.0, 0.0), row("evidence_titan_rivals.toml", "titan", out, 2.0, 0.0)]
    text = budget_sentence(later, out, measured)
    assert "`evidence_drip.toml` took 9.0 CPU-hours (every cell that can run has run), as they were computed" in text
    assert "every recomputed cell equal to the committed one but for timings): about 3.5 hours of wall time, against 4: it fits." in text
    assert text.endswith("(`evidence_titan_rivals.toml`: the rivals and our own policy) add about 1.2 hours, 4.7 in all.")
    differing = [{"committed_on": "old host", "recomputed_on": "this host"}]
    slow = {**measured, "hours_by_group": {"issue 12": 4.5}, "grids": [{"identical": 9, "compared": 10, "differing": differing}]}
    text = budget_sentence(later[:1], out, slow)
    assert "9 of 10 recomputed cells equal to the committed ones but for timings, 1 of the 1 others committed from another host" in text
    assert text.endswith("against 4: it does not fit at these sizes.")
