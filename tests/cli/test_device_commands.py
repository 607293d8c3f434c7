import json

import numpy as np

from edgesieve.cli.main import main


def test_export_filter_store_commands(device_artifacts, tmp_path, capsys):
    folder = device_artifacts["folder"]
    onnx_path = tmp_path / "f.onnx"
    assert main(["export", "--model", "mnist_cnn", "--weights", str(folder / "model.safetensors"),
                 "--selector", str(folder / "drip.json"), "--out", str(onnx_path), "--check-samples", "256"]) == 0
    assert "onnx.checker passed" in capsys.readouterr().out
    np.save(tmp_path / "s.npy", device_artifacts["stream"][:300])
    for runtime, model in (("torch", "mnist_cnn"), ("onnx", str(onnx_path))):
        argv = ["filter", "--runtime", runtime, "--model", model, "--input", str(tmp_path / "s.npy"),
                "--store", str(tmp_path / f"{runtime}.db"), "--no-progress", "--max-samples", "100", "--policy", "evict_lowest"]
        if runtime == "torch":
            argv += ["--weights", str(folder / "model.safetensors"), "--selector", str(folder / "drip.json")]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "seen 300" in out and "bytes saved by discarding" in out and "discarded" in out
    assert main(["store", "info", str(tmp_path / "onnx.db"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["samples"] == 100 and info["capacity"]["policy"] == "evict_lowest"
    assert main(["store", "export", str(tmp_path / "onnx.db"), "--out", str(tmp_path / "r.npz")]) == 0
    with np.load(tmp_path / "r.npz") as npz:
        assert npz["x"].shape == (100, 1, 28, 28)


def test_filter_with_a_label_free_store_policy_resumes_and_refuses_bad_policies(device_artifacts, tmp_path, capsys):
    folder = device_artifacts["folder"]
    np.save(tmp_path / "s.npy", device_artifacts["stream"][:300])
    base = ["filter", "--runtime", "onnx", "--model", str(folder / "filter.onnx"), "--input", str(tmp_path / "s.npy"),
            "--no-progress", "--max-samples", "40", "--offer", "all"]
    whole, parts = (base + ["--store", str(tmp_path / f"{n}.db"), "--policy", "trust_balanced:within=random"]
                    for n in ("whole", "parts"))
    assert main(whole) == 0 and main(parts + ["--limit", "128"]) == 0 and main(parts) == 0
    capsys.readouterr()
    arrivals = []
    for n in ("whole", "parts"):
        assert main(["store", "info", str(tmp_path / f"{n}.db"), "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["samples"] == 40 and info["capacity"]["policy"] == "trust_balanced"
        assert info["capacity"]["params"] == {"within": "random"} and info["capacity"]["n_classes"] == 10
        assert main(["store", "export", str(tmp_path / f"{n}.db"), "--out", str(tmp_path / f"{n}.npz")]) == 0
        capsys.readouterr()
        with np.load(tmp_path / f"{n}.npz") as npz:
            arrivals.append(np.sort(npz["arrival"]))
    assert np.array_equal(*arrivals)
    for policy, message in (("hus_validated", "unknown store policy 'hus_validated'; available: "),
                            ("hus:threshold=1.5", "threshold must be a confidence in (0, 1)"),
                            ("pbrs:k", "parameters are distinct key=value pairs")):
        store = tmp_path / "bad.db"
        assert main(base + ["--store", str(store), "--policy", policy]) == 2
        assert message in capsys.readouterr().err and not store.exists()


def test_store_label_feeds_exported_labels_back(device_artifacts, tmp_path, capsys):
    folder = device_artifacts["folder"]
    np.save(tmp_path / "s.npy", device_artifacts["stream"][:200])
    store = tmp_path / "s.db"
    assert main(["filter", "--runtime", "onnx", "--model", str(folder / "filter.onnx"), "--input", str(tmp_path / "s.npy"),
                 "--store", str(store), "--no-progress", "--max-samples", "30", "--offer", "all",
                 "--policy", "trust_balanced:labelled_store=true,within=random"]) == 0
    assert main(["store", "export", str(store), "--out", str(tmp_path / "kept.npz")]) == 0
    with np.load(tmp_path / "kept.npz") as npz:
        ids, y = npz["id"], npz["y"].copy()
    y[:20] = 3  # a person labelled 20 of the 30; the rest stay -1
    np.savez(tmp_path / "labelled.npz", id=ids, y=y)
    capsys.readouterr()
    assert main(["store", "label", str(store), "--labels", str(tmp_path / "labelled.npz")]) == 0
    assert "labelled 20 stored samples (10 left unlabelled" in capsys.readouterr().out
    np.savez(tmp_path / "bad.npz", id=ids[:2], y=np.array([3, 99]))
    assert main(["store", "label", str(store), "--labels", str(tmp_path / "bad.npz")]) == 2
    assert "labels must be classes in [0, 10), got [99]" in capsys.readouterr().err
    assert main(["store", "label", str(tmp_path / "none.db"), "--labels", str(tmp_path / "bad.npz")]) == 2
    assert "no store at" in capsys.readouterr().err


def test_clear_errors(device_artifacts, tmp_path, capsys):
    folder = device_artifacts["folder"]
    broken = tmp_path / "broken.json"
    broken.write_text((folder / "drip.json").read_text()[:100])
    cases = [
        (["filter", "--model", "mnist_cnn", "--weights", str(folder / "model.safetensors"), "--selector", str(broken),
          "--input", "mnist:test", "--store", str(tmp_path / "a.db")], "truncated or corrupt JSON"),
        (["filter", "--model", "mnist_cnn", "--selector", str(folder / "drip.json"), "--input", "mnist:test",
          "--store", str(tmp_path / "b.db")], "calibrated on a different model"),
        (["filter", "--runtime", "onnx", "--model", str(folder / "drip.json"), "--input", "x.npy",
          "--store", str(tmp_path / "c.db")], "not a loadable ONNX model"),
        (["store", "info", str(tmp_path / "nope.db")], "no store at"),
        (["filter", "--model", "resnet", "--selector", str(folder / "drip.json"), "--input", "mnist",
          "--store", str(tmp_path / "d.db")], "unknown model 'resnet'"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
