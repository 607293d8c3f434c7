"""The layering as import-linter contracts (pyproject.toml, [tool.importlinter]): algorithms
never import the runners, and no two parts of the package import each other at any depth."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_registries_know_every_built_in():
    from edgesieve.data import dataset_spec, list_datasets
    from edgesieve.models import list_models
    from edgesieve.selectors import list_batch_methods, list_selectors

    assert list_datasets() == ["fashion", "fashion-effnet", "fsdd", "har", "mnist"]
    assert all(dataset_spec(d).model in list_models() for d in list_datasets())
    assert set(list_batch_methods()) == {"titan", "rs", "is", "hl", "ll", "ce", "ocs", "camel",
                                         "rank-loss", "infobatch", "rho-loss", "trust_balanced"}
    assert set(list_selectors()) == set(list_batch_methods()) | {"drip", "random"}
    from edgesieve.store.policies import list_policies
    from edgesieve.streams import list_streams

    assert set(list_policies()) == {
        "reservoir", "class_balanced", "gdumb", "evict_lowest",
        "pbrs", "hus", "hus_validated", "cstu", "trust_balanced",
    }
    assert set(list_streams()) == {"iid", "imbalanced", "dirichlet", "sessions", "duplicates", "label-noise", "drift"}


def test_a_new_data_set_is_one_registration(tmp_path):
    import numpy as np

    from edgesieve.data import (
        DataBundle,
        DatasetSpec,
        TrainingRecipe,
        dataset_spec,
        list_datasets,
        load_dataset,
        register_dataset,
        registry,
    )

    def load(root=None):
        return DataBundle.from_arrays("tiny", np.zeros((10, 1, 8), np.float32), np.arange(10) % 2)

    spec = DatasetSpec("tiny", load, lambda root=None, force=False: tmp_path, "audio", "audio_cnn",
                       TrainingRecipe(1, 4, 1e-3), ("a", "b"), "a tiny test set")
    try:
        register_dataset(spec)
        assert "tiny" in list_datasets("drip") and dataset_spec("tiny") is spec
        assert load_dataset("tiny").n_classes == 2
    finally:
        registry._REGISTRY.pop("tiny", None)
    with pytest.raises(ValueError, match="unknown data set 'tiny'; available: fashion, fashion-effnet"):
        dataset_spec("tiny")


def test_weights_files_get_the_usual_mode_and_a_wrong_model_error_is_whole(tmp_path):
    import os

    from edgesieve.models import AudioCNN1d, MnistCNN, load_weights, save_weights

    umask = os.umask(0o022)
    try:
        path = save_weights(MnistCNN(), tmp_path / "w.safetensors")
    finally:
        os.umask(umask)
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(ValueError) as err:
        load_weights(AudioCNN1d(), path)
    message = str(err.value)
    assert "does not fit AudioCNN1d" in message and "Missing key(s)" in message and "Unexpected key(s)" in message
