"""Benchmark: wall time to grade one submission of each assignment (issue 4: at most 90 s on 2 cores).

Usage: python bench/grading_time.py [ASSIGNMENT ...] [--repeat N] [--report bench/reports/grading-time.md]

For each assignment it makes a scratch course (a copy of exercises/source and
the nbgrader config), releases it and records it in the gradebook (not timed),
then times ``python -m autograder grade`` of a class of one student whose
notebook is the reference solution: what an instructor pays per submission,
kernel start-up, MXNet import and any training included. The score must be
full marks, or the run counts as failed. Prints a markdown table and writes it
to the report file.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from common import COURSE, REPO, run, scratch_course, write_report

LIMIT_S = 90.0


def time_one(assignment: str, repeat: int) -> tuple[list[float], str]:
    with tempfile.TemporaryDirectory() as tmp:
        course = scratch_course(Path(tmp) / "course")
        proc = run(course, "autograder", "release", assignment)
        if proc.returncode:
            raise SystemExit(f"{assignment}: release failed: {proc.stderr.strip()}")
        (nb,) = (course / "source" / assignment).glob("*.ipynb")
        times, score = [], ""
        for i in range(repeat):
            student = Path(tmp) / f"class{i}" / "reference"
            student.mkdir(parents=True)
            shutil.copy(nb, student / nb.name)
            start = time.perf_counter()
            proc = run(course, "autograder", "grade", assignment, str(student.parent))
            times.append(time.perf_counter() - start)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("reference")), "")
            parts = line.split()
            if proc.returncode or len(parts) < 3 or parts[1] != parts[2]:
                raise SystemExit(f"{assignment}: the reference did not score full marks: {line or proc.stderr}")
            score = f"{parts[1]} / {parts[2]}"
        return times, score


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("assignments", nargs="*")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--report", default=str(REPO / "bench" / "reports" / "grading-time.md"))
    args = p.parse_args()
    names = args.assignments or sorted(d.name for d in (COURSE / "source").iterdir() if d.is_dir())
    rows = []
    for name in names:
        times, score = time_one(name, args.repeat)
        best = min(times)
        rows.append(f"| `{name}` | {score} | {best:.1f} | {'yes' if best <= LIMIT_S else '**no**'} |")
        print(rows[-1], flush=True)
    header = [
        "# Grading time of one submission",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, by `python bench/grading_time.py` (best of {args.repeat}): "
        "`python -m autograder grade` of a class of one student holding the reference solution, "
        "kernel start, MXNet import and training included. Limit: 90 s.",
        "",
        "| assignment | score | seconds | within 90 s |",
        "| --- | ---: | ---: | --- |",
    ]
    slowest = max(rows, key=lambda r: float(r.split("|")[3]))
    header[4:4] = [f"Headline: slowest assignment to grade one submission: {slowest.split('|')[1].strip()} "
                   f"{float(slowest.split('|')[3]):.1f} s (limit {LIMIT_S:.0f} s).", ""]
    report = write_report(args.report, header + rows)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
