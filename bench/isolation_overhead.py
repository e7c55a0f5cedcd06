"""Benchmark: what the sandbox costs per notebook (issue 5), measured side by side in one run.

Usage: python bench/isolation_overhead.py [ASSIGNMENT] [--repeat N] [--report bench/reports/isolation.md]

Grades the reference solution of one assignment (default ps03-rnn) with
``python -m autograder grade``, alternating two scratch courses that differ
only in their nbgrader configuration: the course's own (every kernel in the
bubblewrap sandbox, hidden tests judged outside it) and stock nbgrader's
autograde preprocessors (kernel with the instructor's permissions). Both must
give full marks. Alternating the runs spreads the machine's noise over both.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import common
from common import COURSE, REPO, scratch_course, write_report


def grade_once(course: Path, assignment: str, nb: Path, run: int) -> float:
    student = course.parent / f"{course.name}-class{run}" / "reference"
    student.mkdir(parents=True)
    shutil.copy(nb, student / nb.name)
    start = time.perf_counter()
    proc = common.run(course, "autograder", "grade", assignment, str(student.parent))
    elapsed = time.perf_counter() - start
    parts = next((ln.split() for ln in proc.stdout.splitlines() if ln.startswith("reference")), [])
    if proc.returncode or len(parts) < 3 or parts[1] != parts[2]:
        raise SystemExit(f"{course.name}: the reference did not score full marks:\n{proc.stdout}{proc.stderr}")
    return elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("assignment", nargs="?", default="ps03-rnn")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--report", default=str(REPO / "bench" / "reports" / "isolation.md"))
    args = p.parse_args()
    (nb,) = (COURSE / "source" / args.assignment).glob("*.ipynb")
    times = {"sandbox": [], "stock": []}
    with tempfile.TemporaryDirectory() as tmp:
        courses = {mode: scratch_course(Path(tmp) / mode, stock=mode == "stock") for mode in ("sandbox", "stock")}
        for mode, course in courses.items():  # release and record the assignment: not timed
            grade_once(course, args.assignment, nb, -1)
        for run in range(args.repeat):
            for mode in ("stock", "sandbox"):
                times[mode].append(grade_once(courses[mode], args.assignment, nb, run))
                print(f"run {run} {mode}: {times[mode][-1]:.1f} s", flush=True)
    med = {m: statistics.median(t) for m, t in times.items()}
    lines = [
        "# Isolation overhead per notebook",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, by `python bench/isolation_overhead.py {args.assignment} --repeat "
        f"{args.repeat}`: `autograder grade` of the reference solution (one student), runs alternated.",
        "",
        f"Headline: the sandbox costs {med['sandbox'] - med['stock']:+.1f} s per notebook "
        f"({med['sandbox'] / med['stock']:.2f}x stock nbgrader's execution) on `{args.assignment}`.",
        "",
        "| configuration | median s | runs (s) |",
        "| --- | ---: | --- |",
        *(f"| {m} | {med[m]:.1f} | {', '.join(f'{t:.1f}' for t in times[m])} |" for m in ("stock", "sandbox")),
        "",
        f"Sandbox overhead: {med['sandbox'] - med['stock']:+.1f} s per notebook "
        f"({med['sandbox'] / med['stock']:.2f}x).",
    ]
    write_report(args.report, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
