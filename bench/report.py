"""The benchmarks' headline figures in one short summary, from their latest reports (runs nothing heavy).

Usage: python bench/report.py [--reports bench/reports] [--readme [README.md]]

Reads every ``bench/reports/*.md`` (each benchmark overwrites its own report,
so they are the latest) and takes from each its title (the ``# `` line) and its
headline: the first line that starts with ``Headline:``, which every benchmark
script writes into its report. Without ``--readme`` it prints the summary. With
``--readme`` it puts the summary into README.md between the lines
``<!-- bench:begin -->`` and ``<!-- bench:end -->``, leaving the rest of the
file as it was; if the README lacks those markers it changes nothing, prints
what it would insert and exits 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
HEADLINE = "Headline:"


@dataclass
class Report:
    path: Path
    title: str
    headline: str | None  # None: the report has no Headline: line


class MarkersMissing(ValueError):
    pass


def read_report(path: Path) -> Report:
    lines = path.read_text(encoding="utf-8").splitlines()
    title = next((ln[2:].strip() for ln in lines if ln.startswith("# ")), path.stem)
    headline = next((ln[len(HEADLINE):].strip() for ln in lines if ln.startswith(HEADLINE)), None)
    return Report(path, title, headline)


def gather(folder: Path) -> list[Report]:
    return [read_report(p) for p in sorted(folder.glob("*.md"))]


def summary(reports: list[Report], base: Path) -> str:
    """The markdown block; links relative to ``base``, the folder of the file it goes into."""
    lines = ["Benchmarks (headline figures of the latest reports; `python bench/report.py --readme` "
             "rewrites this list):", ""]
    for r in reports:
        link = Path(os.path.relpath(r.path, base)).as_posix()
        lines.append(f"- [{r.title}]({link}): {r.headline or '(no `Headline:` line in this report)'}")
    if not reports:
        lines.append("- (no reports yet)")
    return "\n".join(lines)


def replace_between_markers(text: str, block: str) -> str:
    """``text`` with everything between the marker lines replaced by ``block``."""
    lines = text.splitlines(keepends=True)
    begins = [i for i, ln in enumerate(lines) if ln.strip() == BEGIN]
    ends = [i for i, ln in enumerate(lines) if ln.strip() == END]
    if not begins and not ends:
        raise MarkersMissing(f"it has no markers {BEGIN} and {END}")
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        raise MarkersMissing(f"its markers are not one line {BEGIN} followed by one line {END} "
                             f"(found {len(begins)} begin and {len(ends)} end)")
    return "".join(lines[:begins[0] + 1]) + block.rstrip("\n") + "\n" + "".join(lines[ends[0]:])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", type=Path, default=REPO / "bench" / "reports")
    p.add_argument("--readme", type=Path, nargs="?", const=REPO / "README.md",
                   help="rewrite the summary between the markers of this file (default README.md)")
    args = p.parse_args(argv)
    reports = gather(args.reports)
    for r in reports:
        if r.headline is None:
            print(f"warning: {r.path} has no line starting with {HEADLINE!r}", file=sys.stderr)
    if args.readme is None:
        print(summary(reports, REPO))
        return 0
    block = summary(reports, args.readme.resolve().parent)
    text = args.readme.read_text(encoding="utf-8")
    try:
        new = replace_between_markers(text, block)
    except MarkersMissing as e:
        print(block)
        print(f"\n{args.readme} not changed: {e}. Put each marker on a line of its own where the "
              "benchmark summary belongs (the summary above goes between them) and run this again.",
              file=sys.stderr)
        return 1
    if new != text:
        args.readme.write_text(new, encoding="utf-8")
        print(f"updated {args.readme} ({len(reports)} reports)")
    else:
        print(f"{args.readme} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
