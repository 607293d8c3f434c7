#!/usr/bin/env python
"""The verdicts of RESULTS.md's "where selection beats ..." tables that differ between two versions
of the page: after cells are recomputed (or added), which beats / ties / loses moved.

    git show REV:RESULTS.md > /tmp/old.md && python scripts/moved_verdicts.py /tmp/old.md RESULTS.md
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

VERDICT = re.compile(r"\*\*(beats|ties|loses)(\**)\*\*")


def verdicts(text: str) -> dict:
    """(section, data set, stream, column) -> (verdict, its cell's text) of every beats table.

    >>> page = "### T: where x\\n| data set | stream | n | m |\\n|---|---|---|---|\\n| a | iid | 20 | +1.0 [+0.5, +1.5] **beats*** |\\n"
    >>> verdicts(page)
    {('T', 'a', 'iid', 'm'): ('beats*', '+1.0 [+0.5, +1.5]')}
    """
    out, header, section = {}, None, ""
    for line in text.split("\n"):
        if line.startswith("### "):
            section, header = line[4:].split(":")[0], None
        elif line.startswith("| data set |"):
            header = [h.strip() for h in line.strip("|").split("|")]
        elif line.startswith("|") and header and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            for column, cell in zip(header[2:], cells[2:]) if len(cells) == len(header) else ():
                m = VERDICT.search(cell)
                if m:
                    out[(section, cells[0], cells[1], column)] = (m.group(1) + ("*" if m.group(2) else ""), cell.split(" **")[0])
        elif not line.startswith("|"):
            header = None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    args = ap.parse_args()
    old, new = verdicts(args.old.read_text()), verdicts(args.new.read_text())
    both = sorted(set(old) & set(new))
    moved = [k for k in both if old[k][0] != new[k][0]]
    print(f"{len(moved)} of {len(both)} verdicts moved (* = survives Holm's adjustment):\n")
    print("| table | data set | stream | method | before | after |\n|---|---|---|---|---|---|")
    for k in moved:
        print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {old[k][1]} {old[k][0]} | {new[k][1]} {new[k][0]} |")


if __name__ == "__main__":
    main()
