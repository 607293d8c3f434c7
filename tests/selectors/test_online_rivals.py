"""The online rivals held to their papers (SPEC section 4): rank-based selection (Loshchilov and
Hutter 2016), InfoBatch (Qin et al., ICLR 2024), RHO-LOSS (Mindermann et al., ICML 2022)."""

import math

import pytest
import torch
from torch import nn

from edgesieve import create_selector
from edgesieve.selectors.batch.infobatch import infobatch_pick
from edgesieve.selectors.batch.rank_loss import rank_pick, rank_probabilities


def test_rank_probabilities_follow_the_formula():
    losses = torch.tensor([0.3, 1.5, 0.1, 0.9, 0.7])
    p = rank_probabilities(losses, 10.0)
    ranks = torch.tensor([4, 1, 5, 2, 3], dtype=torch.float64)  # highest loss first
    expected = torch.exp(-math.log(10.0) * ranks / 5)
    assert torch.allclose(p, expected / expected.sum())
    assert float(p.max() / p.min()) == pytest.approx(10.0 ** (4 / 5))  # first vs last rank: s_e^((N-1)/N)
    assert torch.allclose(rank_probabilities(losses, 1.0), torch.full((5,), 0.2, dtype=torch.float64))  # s_e = 1: uniform


def test_rank_selection_frequencies_match_the_probabilities():
    logits = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    p = rank_probabilities(nn.functional.cross_entropy(logits, labels, reduction="none"), 100.0)
    g = torch.Generator().manual_seed(1)
    counts = torch.zeros(8)
    for _ in range(20000):
        counts[rank_pick(logits, labels, 1, 100.0, g).index] += 1
    assert torch.allclose(counts / 20000, p.float(), atol=0.01)


def test_infobatch_rescaled_gradient_is_unbiased_by_simulation():
    n, k, r = 40, 8, 0.5
    g = torch.Generator().manual_seed(0)
    losses = torch.rand(n, generator=g)
    grads = torch.randn(n, 5, generator=g)  # a stand-in per-sample gradient
    threshold = float(losses.mean())
    total, draws = torch.zeros(5), 40000
    for _ in range(draws):
        picked = infobatch_pick(losses, k, threshold, r, g)
        total += (picked.weight[:, None] * grads[picked.index]).mean(0)  # the trainer's weighted mean
    assert torch.allclose(total / draws, grads.mean(0), atol=0.02)
    # and pruning does drop below-mean candidates: they survive with probability 1 - r
    picked = infobatch_pick(losses, k, threshold, r, g)
    assert torch.allclose(picked.score, torch.where(losses < threshold, 0.5, 1.0))


def test_infobatch_stops_pruning_for_the_annealed_end_and_keeps_its_running_mean_in_state(fitted_conv2d, tmp_path):
    model, (x, y), (stream, stream_y) = fitted_conv2d
    sel = create_selector("infobatch", model=model, batch=4, prune=0.5, total_rounds=4, anneal=0.5).calibrate(x, y)
    for t in range(4):
        d = sel.decide(stream[:16], stream_y[:16])
        if t >= 2:  # rounds 2 and 3 of 4 are past anneal x total_rounds: no pruning, unit weights
            assert torch.allclose(d.weight[d.keep], torch.ones(4))
    assert sel.loss_count_ == 64 and sel.rounds_seen_ == 4
    sel.save(tmp_path / "ib.json")
    again = type(sel).load(tmp_path / "ib.json", model=model)
    assert again.loss_sum_ == pytest.approx(sel.loss_sum_) and again.rounds_seen_ == 4


@pytest.mark.parametrize("name, params, words", [
    ("rank-loss", {"pressure": 0.5}, "pressure (s_e) must be a number >= 1"),
    ("infobatch", {"prune": 1.0}, "prune (r) must be in [0, 1)"),
    ("infobatch", {"anneal": 0.0}, "anneal must be in (0, 1]"),
    ("infobatch", {"total_rounds": 0}, "total_rounds must be a positive int"),
])
def test_impossible_parameters_are_refused_at_calibrate(name, params, words, fitted_conv2d):
    model, (x, y), _ = fitted_conv2d
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        create_selector(name, model=model, **params).calibrate(x, y)


def test_rho_loss_takes_the_top_k_by_training_minus_irreducible_loss():
    from edgesieve.selectors.batch.rho_loss import reducible_losses
    from edgesieve.selectors.batch.picked import top

    labels = torch.tensor([0, 1, 0, 1])
    train = torch.log(torch.tensor([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1], [0.6, 0.4]]))
    irreducible = torch.log(torch.tensor([[0.25, 0.75], [0.9, 0.1], [0.95, 0.05], [0.5, 0.5]]))
    # hand-computed: -ln .2 + ln .25 = 0.223; -ln .5 + ln .1 = -1.609 (noisy: irreducible loss high);
    # -ln .9 + ln .95 = 0.054; -ln .4 + ln .5 = 0.223
    red = reducible_losses(train, irreducible, labels)
    assert torch.allclose(red, torch.tensor([0.2231, -1.6094, 0.0541, 0.2231]), atol=1e-4)
    assert top(red, 2).index.tolist() == [0, 3]


def test_rho_loss_trains_its_irreducible_model_on_holdout_and_round_trips_it(fitted_conv2d, tmp_path):
    model, (x, y), (stream, stream_y) = fitted_conv2d
    before = [p.detach().clone() for p in model.parameters()]
    state = torch.random.get_rng_state()
    sel = create_selector("rho-loss", model=model, batch=4, il_epochs=3).calibrate(x, y)
    assert torch.equal(state, torch.random.get_rng_state())  # the global random state is untouched
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the user's model is untouched
    assert sel.il_train_seconds_ > 0 and sel.il_model_ is not model
    d = sel.decide(stream[:16], stream_y[:16])
    assert int(d.keep.sum()) == 4
    sel.save(tmp_path / "rho.json")
    again = type(sel).load(tmp_path / "rho.json", model=model)
    assert torch.equal(again.decide(stream[:16], stream_y[:16]).keep, sel.decide(stream[:16], stream_y[:16]).keep)
    with pytest.raises(ValueError, match="needs the labels"):
        create_selector("rho-loss", model=model).calibrate(x)


def test_trust_balanced_batches_are_water_filled_over_classes():
    """Against a brute-force loop: give one sample to each class with candidates left, in turns,
    until k are chosen; the class counts must match (the members within a class are random)."""
    import numpy as np
    import torch

    from edgesieve.selectors.batch.trust_balanced import balanced_random

    rng = np.random.default_rng(0)
    for trial in range(30):
        labels = torch.from_numpy(rng.integers(0, 5, int(rng.integers(5, 60))) ** rng.integers(1, 3))
        k = int(rng.integers(1, labels.numel() + 1))
        left = torch.bincount(labels).tolist()
        want = [0] * len(left)
        while sum(want) < k:
            open_classes = [c for c in range(len(left)) if left[c] > want[c]]
            for c in sorted(open_classes, key=lambda c: want[c])[: k - sum(want)]:
                want[c] += 1
        idx = balanced_random(labels, k, torch.Generator().manual_seed(trial))
        assert idx.unique().numel() == k
        got = torch.bincount(labels[idx], minlength=len(left)).tolist()
        assert sorted(got) == sorted(want)
        # a class left with unchosen candidates is at most one below the fullest class
        assert all(g >= max(got) - 1 for g, n in zip(got, left) if n > g)


def test_trust_balanced_with_labels_runs_no_forward_and_picks_what_the_model_path_picks():
    """Given the labels, a round reads only them: the same picks as a round that ran the model
    (same seed, same draws), and a model whose forward fails is never called; without labels
    the model's predictions stand in, so the forward runs."""
    from edgesieve.selectors.batch.trust_balanced import TrustBalancedBatchSelector

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
    x, y = torch.randn(40, 1, 12), torch.randint(0, 4, (40,))
    stream, stream_y = torch.randn(300, 1, 12), torch.randint(0, 4, (300,))

    class ModelPath(TrustBalancedBatchSelector):  # the round as it ran before: through the model
        def _needs_model_outputs(self, y):
            return True

    fast = create_selector("trust_balanced", model=model, batch=10, seed=3).calibrate(x, y)
    slow = ModelPath(model, batch=10, seed=3).calibrate(x, y)
    for i in range(0, 300, 100):
        assert torch.equal(fast.decide(stream[i:i + 100], stream_y[i:i + 100]).keep,
                           slow.decide(stream[i:i + 100], stream_y[i:i + 100]).keep)

    def broken_forward(*args):
        raise AssertionError("the model ran")

    handle = model[1].register_forward_hook(broken_forward)
    try:
        d = fast.decide(stream[:100], stream_y[:100])
        assert int(d.keep.sum()) == 10 and bool((d.predicted == -1).all())
        with pytest.raises(AssertionError, match="the model ran"):
            fast.decide(stream[:100])  # no labels: the predictions are the groups
    finally:
        handle.remove()
