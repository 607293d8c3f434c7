"""Store capacity policies (SPEC section 4): reservoir, class_balanced (CBRS), gdumb,
evict_lowest, the label-free PBRS, HUS, CSTU and our trust_balanced, each one module registered
in ``registry``; ``fill_store`` runs one over a stream."""

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import (
    create_policy,
    fill_store,
    list_policies,
    parse_policy_spec,
    policy_class,
    register_policy,
)

__all__ = ["CapacityPolicy", "create_policy", "fill_store", "list_policies", "parse_policy_spec", "policy_class", "register_policy"]
