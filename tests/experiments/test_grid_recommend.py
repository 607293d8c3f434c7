"""The "which store policy to ship" rule on hand-made records: a win must survive Holm, a loss
at 95% disqualifies, reservoir stays when nothing wins, label access bounds the candidates."""

from edgesieve.experiments.grid.recommend import ANY_STREAM, recommendation_table, recommendations


def rec(dataset, method, diff, stream="iid", holm_p=None, n=20):
    low, high = diff - 1.0, diff + 1.0
    return {"protocol": "store", "metric": "test_accuracy", "reference": "reservoir", "stream": stream,
            "dataset": dataset, "method": method, "n": n, "diff_mean": diff, "ci_low": low, "ci_high": high,
            "holm_p": (0.01 if abs(diff) > 1 else 0.5) if holm_p is None else holm_p}


def shipped(records, stream="iid", access=0):
    (r,) = [r for r in recommendations(records) if r["stream"] == stream and r["access"] == access]
    return r["ranked"][0]["method"]


def test_a_win_must_survive_holm_and_a_loss_at_95_percent_disqualifies():
    records = [rec("har", "pbrs", 3.0), rec("mnist", "pbrs", 0.5),  # one Holm win, no loss
               rec("har", "cstu", 6.0), rec("mnist", "cstu", -1.5),  # a bigger win, and a loss
               rec("har", "hus", 1.5, holm_p=0.2), rec("mnist", "hus", 1.5, holm_p=0.2)]  # 95% wins that Holm undoes
    assert shipped(records) == "pbrs"
    assert shipped([r for r in records if r["method"] != "pbrs"]) == "reservoir"


def test_random_is_no_candidate_and_incomplete_rows_do_not_count():
    records = [rec("har", "random", 3.0), rec("mnist", "random", 3.0),
               rec("har", "pbrs", 3.0, n=12), rec("mnist", "pbrs", 3.0, n=12)]
    assert shipped(records) == "reservoir"


def test_a_policy_needs_no_more_labels_than_the_device_has():
    records = [rec(d, m, diff) for d in ("har", "mnist") for m, diff in
               (("pbrs", 2.0), ("trust_balanced:labelled_store=true", 4.0), ("class_balanced", 6.0))]
    assert [shipped(records, access=a) for a in (0, 1, 2)] == ["pbrs", "trust_balanced:labelled_store=true", "class_balanced"]


def test_a_policy_missing_a_data_set_of_the_stream_is_no_candidate():
    records = [rec("har", "pbrs", 3.0), rec("mnist", "pbrs", 3.0), rec("har", "cstu", 9.0)]
    (r,) = [r for r in recommendations(records) if r["stream"] == "iid" and r["access"] == 0]
    assert [s["method"] for s in r["ranked"]][:2] == ["pbrs", "reservoir"] and "cstu" not in [s["method"] for s in r["ranked"]]


def test_any_stream_counts_every_row_and_the_table_names_the_trade_off():
    records = [rec("har", "pbrs", 3.0), rec("har", "pbrs", -2.0, stream="sessions"),
               rec("har", "cstu", 0.2), rec("har", "cstu", 0.1, stream="sessions")]
    assert shipped(records, stream="iid") == "pbrs" and shipped(records, stream=ANY_STREAM) == "reservoir"
    table = recommendation_table(records)
    assert "| **any stream** | no labels | 2 (0) | `reservoir` | 0 / 0 (2) | keep reservoir: no policy wins without losing; " \
           "the runner-up wins: har `iid` +3.0; loses: har `sessions` -2.0; worst row -2.0 | `pbrs` (1 / 1) |" in table
    assert "| `iid` | no labels | 2 (0) | `pbrs` | 1 / 0 (1) | har +3.0* |" in table


def test_the_online_protocol_is_ranked_against_rs_and_counts_what_lacks_rows():
    def online(dataset, method, diff):
        return {**rec(dataset, method, diff), "protocol": "titan", "metric": "last20_accuracy", "reference": "rs"}

    records = [online("har", "titan", 4.0), online("mnist", "titan", 0.2), online("har", "ocs", 9.0)]
    table = recommendation_table(records, metric="last20_accuracy", protocol="titan")
    assert "| `iid` | labelled arrivals (online training) | 1 (1) | `titan` | 1 / 0 (2) | har +4.0*, mnist +0.2 |" in table
