"""The retained-data store (SQLite, torch-free). ``edgesieve.store.dataset`` adds a PyTorch view."""

from edgesieve.store.sqlite_store import (
    POLICIES,
    BatchTally,
    Capacity,
    RetainedBatch,
    RetainedStore,
    StoreError,
    StoreFullError,
    StoreVersionError,
)

__all__ = [
    "POLICIES",
    "BatchTally",
    "Capacity",
    "RetainedBatch",
    "RetainedStore",
    "StoreError",
    "StoreFullError",
    "StoreVersionError",
]
