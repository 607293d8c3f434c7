"""Fashion-MNIST (70k real 28x28 clothing images) from its IDX files.

``fetch_fashion_mnist`` copies the files of the Debian package ``dataset-fashion-mnist``
(installed at /usr/share/datasets/fashion-mnist, or downloaded with ``apt-get download``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from edgesieve.data.bundle import DataBundle
from edgesieve.data.cache import data_home, files_verified, sha256_of
from edgesieve.data.idx import load_idx_images
from edgesieve.data.registry import DatasetSpec, TrainingRecipe, register_dataset
from edgesieve.errors import DatasetNotFoundError

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}


def fashion_dir(root=None) -> Path:
    return data_home(root) / "fashion-mnist"


def load_fashion_mnist_numpy(split: str = "train", root=None, *, folder=None):
    """Images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,)."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    where = Path(folder) if folder is not None else fashion_dir(root)
    return load_idx_images(where, *FILES[split], f"Fashion-MNIST {split}",
                           "Fetch them with `edgesieve data fetch fashion` (Debian package dataset-fashion-mnist), or pass folder=")


def fetch_fashion_mnist(root=None, *, force: bool = False) -> Path:
    target = fashion_dir(root)
    if not force and files_verified(target, SHA256):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        source = SYSTEM_DIR
        if not all((source / n).is_file() for n in SHA256):
            source = _download_deb(Path(tmp))
        target.mkdir(parents=True, exist_ok=True)
        for name, expected in SHA256.items():
            if sha256_of(source / name) != expected:
                raise DatasetNotFoundError(f"{source / name} has an unexpected SHA-256; not installed")
            shutil.copyfile(source / name, target / f".{name}.tmp")
            (target / f".{name}.tmp").replace(target / name)
    return target


def _download_deb(tmp: Path) -> Path:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DatasetNotFoundError(
            "Fashion-MNIST comes from the Debian package dataset-fashion-mnist; on other systems copy "
            f"the four .gz IDX files ({', '.join(SHA256)}) into {fashion_dir()}"
        )
    done = subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=tmp, capture_output=True, text=True)
    debs = list(tmp.glob("dataset-fashion-mnist_*.deb"))
    if done.returncode != 0 or not debs:
        raise DatasetNotFoundError(
            f"`apt-get download dataset-fashion-mnist` failed ({done.stderr.strip()[-300:]}); "
            "run `apt-get update` first, or `apt-get install dataset-fashion-mnist`"
        )
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tmp / "deb")], check=True)
    return tmp / "deb" / SYSTEM_DIR.relative_to("/")


def load_bundle(root=None) -> DataBundle:
    x, y = load_fashion_mnist_numpy("train", root)
    xt, yt = load_fashion_mnist_numpy("test", root)
    return DataBundle("fashion", x, y, xt, yt, CLASSES, note="official 10k test split")


register_dataset(DatasetSpec(
    name="fashion", load=load_bundle, fetch=fetch_fashion_mnist, modality="image", model="mnist_cnn",
    recipe=TrainingRecipe(epochs=3, batch_size=128, lr=1e-2), classes=CLASSES,
    description="Fashion-MNIST clothing images, 60k + 10k, 28x28 (Debian dataset-fashion-mnist)",
))
