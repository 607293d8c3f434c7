"""The device runtime never imports torch: run the whole filter command with torch made
unimportable."""

import subprocess
import sys
import textwrap


def test_filter_runs_with_torch_unimportable(device_artifacts, tmp_path):
    folder = device_artifacts["folder"]
    script = textwrap.dedent(
        f"""
        import sys
        class BlockTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, BlockTorch())
        from edgesieve.cli.main import main
        rc = main(["filter", "--runtime", "onnx", "--model", r"{folder / 'filter.onnx'}",
                   "--input", r"{folder / 'stream.npy'}", "--store", r"{tmp_path / 'r.db'}", "--no-progress"])
        assert rc == 0, rc
        assert "torch" not in sys.modules
        main(["store", "info", r"{tmp_path / 'r.db'}"])
        main(["store", "export", r"{tmp_path / 'r.db'}", "--out", r"{tmp_path / 'r.npz'}"])
        print("TORCH-FREE OK")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "TORCH-FREE OK" in done.stdout and "per-sample latency" in done.stdout
    assert (tmp_path / "r.npz").exists()
