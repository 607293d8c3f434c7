"""Which classes reach Titan's candidate buffer: class shares of the stream and of the buffer,
with the paper's single priority queue (class_slots="global") and with this project's
class-proportional slots, on the first 20 rounds of the real MNIST and HAR training streams:

    python benchmarks/titan_buffer_shares.py     # writes benchmarks/results/titan_buffer_shares.md
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgesieve.data import dataset_spec, load_dataset
from edgesieve.models.registry import model_factory
from edgesieve.reasons import REASON_CODES
from edgesieve.selectors import TitanSelector

RESULTS = Path(__file__).parent / "results"


def shares(dataset: str, class_slots: str, rounds: int = 20) -> tuple[list[float], list[float]]:
    bundle = load_dataset(dataset)
    x, y = torch.from_numpy(bundle.x), torch.from_numpy(bundle.y)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    sel = TitanSelector(model_factory(dataset_spec(dataset).model)(), class_slots=class_slots).calibrate(x[order[:100]], y[order[:100]])
    stream = torch.zeros(bundle.n_classes)
    buffered = torch.zeros(bundle.n_classes)
    for r in range(1, rounds + 1):
        idx = order[r * 100 : (r + 1) * 100]
        d = sel.decide(x[idx], y[idx])
        stream += torch.bincount(y[idx], minlength=bundle.n_classes)
        buffered += torch.bincount(y[idx][d.reason != REASON_CODES["coarse_filtered"]], minlength=bundle.n_classes)
    return (100 * stream / stream.sum()).tolist(), (100 * buffered / buffered.sum()).tolist()


def main() -> None:
    torch.set_num_threads(2)
    lines = ["# Class shares (%) of the stream and of Titan's buffer, first 20 rounds (v = 100, buffer 30)", "",
             "Command: `python benchmarks/titan_buffer_shares.py`", ""]
    for dataset in ("mnist", "har"):
        stream, glob = shares(dataset, "global")
        _, prop = shares(dataset, "proportional")
        lines += [f"**{dataset}**", "", "| | " + " | ".join(f"class {c}" for c in range(len(stream))) + " |",
                  "|---|" + "---:|" * len(stream)]
        for name, row in (("stream", stream), ("buffer, global queue (paper)", glob), ("buffer, proportional slots", prop)):
            lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in row) + " |")
        lines.append("")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "titan_buffer_shares.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
