"""Every paired difference README quotes with its 95% interval ("+1.6 [+1.5, +1.8]") comes from
a committed result file (RESULTS.md, results/**/*.md, benchmarks/results/*.md) at the precision
README gives it: a number README keeps after the tables move on fails here."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"[+\-−]?\d+(?:\.\d+)?"
INTERVAL = re.compile(rf"({NUMBER}) \[({NUMBER}), ({NUMBER})\]")


def _value(text: str) -> float:
    return float(text.replace("−", "-"))


def _half_unit(text: str) -> float:
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10 ** -decimals + 1e-9


def _committed_intervals() -> list[tuple[float, float, float]]:
    files = [ROOT / "RESULTS.md", *ROOT.glob("results/**/*.md"), *ROOT.glob("benchmarks/results/*.md")]
    return [tuple(_value(g) for g in m.groups()) for f in files for m in INTERVAL.finditer(f.read_text())]


def _backed(quoted: tuple[str, str, str], committed) -> bool:
    point, low, high = quoted
    # prose may drop the sign of a loss: "still loses 2.0 [-3.6, -0.4]"
    points = [_value(point)] + ([-_value(point)] if point[0] not in "+-−" else [])
    for p in points:
        want = (p, _value(low), _value(high))
        tol = [_half_unit(t) for t in quoted]
        if any(all(abs(w - c) <= t for w, c, t in zip(want, cand, tol)) for cand in committed):
            return True
    return False


def test_every_interval_readme_quotes_is_in_a_committed_result_file():
    readme = (ROOT / "README.md").read_text()
    committed = _committed_intervals()
    quoted = list(INTERVAL.finditer(readme))
    assert quoted, "README quotes no interval: the pattern no longer matches its style"
    unbacked = [f"line {readme[:m.start()].count(chr(10)) + 1}: {m.group(0)}" for m in quoted
                if not _backed(m.groups(), committed)]
    assert not unbacked, "README quotes intervals no committed result file holds:\n" + "\n".join(unbacked)


def test_the_check_catches_a_number_no_file_holds():
    committed = [(1.60, 1.43, 1.77)]
    assert _backed(("+1.6", "+1.4", "+1.8"), committed)
    assert not _backed(("+1.7", "+1.4", "+1.8"), committed)
    assert _backed(("1.60", "-1.77", "-1.43"), [(-1.60, -1.77, -1.43)])  # an unsigned loss
