"""The store policies' defaults, pinned. A committed grid cell is found by its method string
(``results/evidence/store/<data set>/<stream>/trust_balanced/seed_000.json``), which names only
the parameters it sets: a changed default would silently pass old cells off as the new
behaviour. To change one, give the old behaviour's cells their explicit name (move the folder
to ``trust_balanced:full=largest``, say) or delete them, then update this pin."""

import inspect

from edgesieve.experiments.capacity import DEFAULT_TRUST
from edgesieve.store.policies.hus import THRESHOLD_GRID, paper_threshold
from edgesieve.store.policies.registry import list_policies, policy_class

PINNED = {
    "class_balanced": {},
    "cstu": {},
    "evict_lowest": {},
    "gdumb": {},
    "hus": {"threshold": None},  # None: the paper's 0.99
    "hus_validated": {"threshold": None, "min_pass": 0.5},
    "pbrs": {},
    "reservoir": {},
    "trust_balanced": {"within": "trust", "labelled_store": False, "full": "largest"},
}


def _defaults(name: str) -> dict:
    params = inspect.signature(policy_class(name).__init__).parameters
    return {k: p.default for k, p in params.items() if k not in ("self", "capacity", "seed")}


def test_every_policys_defaults_are_the_pinned_ones():
    assert set(list_policies()) == set(PINNED), "a new policy: pin its defaults here"
    changed = {name: _defaults(name) for name in PINNED if _defaults(name) != PINNED[name]}
    assert not changed, f"defaults changed: {changed}; see this module's docstring before committing"


def test_the_defaults_behind_the_parameters_are_pinned():
    assert DEFAULT_TRUST == "confidence"
    assert [paper_threshold(c) for c in (2, 10, 11, 100, 101)] == [0.99, 0.99, 0.66, 0.66, 0.33]
    assert THRESHOLD_GRID == (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)  # hus_validated's candidates
