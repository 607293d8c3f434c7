"""A PyTorch ``Dataset`` over a retained-data store, for retraining on what was kept."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from edgesieve.store.sqlite_store import RetainedStore


class StoreDataset(Dataset):
    """Samples of a store as ``(x, target)`` pairs. ``target`` is the stored label, or the
    predicted class where the label is unknown (``use_predicted_when_unlabelled``).

    Opens its own read-only connection lazily, so it works in DataLoader worker processes
    and while a filter is still writing (SQLite WAL readers see committed batches).
    """

    def __init__(self, path: str | Path, *, use_predicted_when_unlabelled: bool = True):
        self.path = Path(path)
        self.use_predicted_when_unlabelled = use_predicted_when_unlabelled
        with RetainedStore(self.path, readonly=True) as store:
            self._ids = store.ids()
        self._store = None

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: int):
        if self._store is None:
            self._store = RetainedStore(self.path, readonly=True)
        sample = self._store.read(self._ids[index])
        target = sample["label"]
        if target is None:
            if not self.use_predicted_when_unlabelled:
                raise ValueError(f"sample {sample['id']} has no label; pass use_predicted_when_unlabelled=True")
            target = sample["predicted"]
        return torch.from_numpy(sample["array"].copy()), int(target)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_store"] = None  # connections do not cross process boundaries
        return state
