"""The batch methods' own parameters at their defaults, pinned, for the reason
tests/store/test_policy_defaults.py gives: Titan grid cells are found by the method's name
(``results/evidence/titan/<data set>/<stream>/rank-loss/seed_000.json``), so a changed default
would pass old cells off as the new behaviour. Move or delete those cells before changing one."""

from edgesieve.selectors.batch.base import list_batch_methods
from edgesieve.selectors.registry import selector_class

PINNED = {
    "infobatch": {"prune": 0.5, "anneal": 0.875, "total_rounds": None},
    "rank-loss": {"pressure": 100.0},
    "rho-loss": {"il_epochs": 30, "il_lr": 0.001},
}


def test_every_batch_methods_own_defaults_are_the_pinned_ones():
    got = {name: dict(getattr(selector_class(name), "extra_params", {})) for name in list_batch_methods()}
    assert {name: p for name, p in got.items() if p} == PINNED, "see this module's docstring before committing"
