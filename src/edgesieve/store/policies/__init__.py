"""Store capacity policies (SPEC section 4): reservoir, class_balanced (CBRS), gdumb and
evict_lowest, each one module registered in ``registry``; ``fill_store`` runs one over a stream."""

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import create_policy, fill_store, list_policies, register_policy

__all__ = ["CapacityPolicy", "create_policy", "fill_store", "list_policies", "register_policy"]
