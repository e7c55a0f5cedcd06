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
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "exercises"
STOCK = '''
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata"]
'''


def make_course(root: Path, stock: bool) -> Path:
    course = root / ("stock" if stock else "sandbox")
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source", course / "source")
    if stock:
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(STOCK)
    return course


def grade_once(course: Path, assignment: str, nb: Path, run: int) -> float:
    env = dict(os.environ, SEQMX_COURSE=str(course))
    env.pop("SEQMX_DB_URL", None)
    student = course.parent / f"{course.name}-class{run}" / "reference"
    student.mkdir(parents=True)
    shutil.copy(nb, student / nb.name)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", assignment, str(student.parent)],
                          cwd=course, env=env, capture_output=True, text=True)
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
        courses = {"sandbox": make_course(Path(tmp), False), "stock": make_course(Path(tmp), True)}
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
    report = Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
