"""Benchmark: a whole class graded by the course's grader on 1 and 2 workers, and by stock nbgrader.

Usage: python bench/class_grading.py [ASSIGNMENT] [--n 40] [--report bench/reports/class-grading.md]

The class is ``--n`` synthetic submissions of one assignment (default ps06-bptt, the slowest to
grade): the reference solution, the blank release and the committed wrong fixtures of
tests/fixtures/<assignment>/, dealt round-robin to students s001, s002, ..., each notebook made distinct by a closing markdown cell
naming its student. Three runs, each in a
fresh scratch course, one after the other in the same session:

- ``course x1``: ``python -m autograder grade --workers 1`` (sandbox on, verdicts outside it);
- ``course x2``: the same with ``--workers 2``;
- ``stock``: nbgrader's own ``nbgrader autograde ASSIGNMENT`` with stock preprocessors (no sandbox),
  on the same notebooks copied straight into ``submitted/`` (nbgrader grades serially).

Releasing and recording the assignment is not timed. The course's runs must give every submission
its predicted marks (tests/fixtures/<assignment>/fixtures.json), or the benchmark fails; for stock
nbgrader the number of submissions with the same marks is reported. Printed: wall seconds per run,
seconds per submission, stock/course ratio, the 2-worker speed-up and its scaling efficiency
(speed-up / 2).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from common import COURSE, REPO, run, scratch_course, write_report

FIXTURES = REPO / "tests" / "fixtures"


def new_course(root: Path, name: str, assignment: str, stock: bool) -> Path:
    course = scratch_course(root / name, [assignment], stock)
    proc = run(course, "nbgrader", "generate_assignment", assignment, "--force")
    if proc.returncode:
        raise SystemExit(f"{name}: generate_assignment failed:\n{proc.stderr[-2000:]}")
    return course


def synthetic_class(root: Path, assignment: str, release: Path, n: int) -> dict[str, tuple[Path, str]]:
    """{student: (notebook, kind)}: reference, blank and every wrong fixture, round-robin."""
    (src,) = (COURSE / "source" / assignment).glob("*.ipynb")
    kinds = [("reference", src), ("blank", release)] + sorted(
        (p.stem, p) for p in (FIXTURES / assignment).glob("*.ipynb"))
    students = {}
    for i in range(n):
        kind, nb = kinds[i % len(kinds)]
        student = f"s{i + 1:03d}"
        (root / student).mkdir(parents=True)
        # no two submissions alike: each carries its student's note at the end (a grader that cached
        # identical notebooks would gain nothing here; this one caches nothing, and the note is ignored)
        notebook = nbformat.read(nb, as_version=4)
        notebook.cells.append(nbformat.v4.new_markdown_cell(f"Submitted by {student}."))
        nbformat.write(notebook, root / student / src.name)
        students[student] = (root / student / src.name, kind)
    return students


def grades(course: Path, dest: Path) -> dict[str, float]:
    proc = run(course, "nbgrader", "export", f"--to={dest}")
    if proc.returncode:
        raise SystemExit(f"export failed:\n{proc.stderr[-2000:]}")
    with open(dest) as f:
        return {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("assignment", nargs="?", default="ps06-bptt")
    p.add_argument("--n", type=int, default=40, help="submissions in the class (default 40)")
    p.add_argument("--report", default=str(REPO / "bench" / "reports" / "class-grading.md"))
    args = p.parse_args()
    load_start = os.getloadavg()
    fixtures = json.loads((FIXTURES / args.assignment / "fixtures.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        courses = {"course x1": new_course(root, "x1", args.assignment, False),
                   "course x2": new_course(root, "x2", args.assignment, False),
                   "stock": new_course(root, "stock", args.assignment, True)}
        (release,) = (courses["stock"] / "release" / args.assignment).glob("*.ipynb")
        students = synthetic_class(root / "class", args.assignment, release, args.n)
        max_score = None
        wall, scores = {}, {}
        for mode, course in courses.items():
            started = time.perf_counter()
            if mode == "stock":
                for student, (nb, _) in students.items():
                    dest = course / "submitted" / student / args.assignment
                    dest.mkdir(parents=True)
                    shutil.copy(nb, dest / nb.name)
                proc = run(course, "nbgrader", "autograde", args.assignment)
            else:
                workers = mode.split("x")[1]
                proc = run(course, "autograder", "grade", args.assignment, str(root / "class"), "--workers", workers)
            wall[mode] = time.perf_counter() - started
            if proc.returncode:
                raise SystemExit(f"{mode}: grading failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            scores[mode] = grades(course, root / f"{mode}.csv")
            if max_score is None:
                max_score = max(scores[mode].values())
            print(f"{mode}: {wall[mode]:.1f} s for {args.n} submissions", flush=True)
    expected = {s: {"reference": max_score, "blank": 0.0}.get(kind, float(fixtures.get(kind, {}).get("score", -1)))
                for s, (_, kind) in students.items()}
    for mode in ("course x1", "course x2"):
        wrong = {s: (scores[mode].get(s), e) for s, e in expected.items() if scores[mode].get(s) != e}
        if wrong:
            raise SystemExit(f"{mode}: marks differ from the predictions (got, predicted): {wrong}")
    stock_same = sum(scores["stock"].get(s) == e for s, e in expected.items())
    load_end = os.getloadavg()
    speedup = wall["course x1"] / wall["course x2"]
    headline = (f"Headline: {args.n} distinct submissions of `{args.assignment}`: course grader "
                f"{wall['course x1']:.0f} s on 1 worker, {wall['course x2']:.0f} s on 2 "
                f"(speed-up {speedup:.2f}, efficiency {speedup / 2:.0%}); stock nbgrader {wall['stock']:.0f} s "
                f"(course x1 / stock = {wall['course x1'] / wall['stock']:.2f}; stock / course x2 = "
                f"{wall['stock'] / wall['course x2']:.2f}).")
    lines = [
        "# Class grading: the course's grader on 1 and 2 workers vs stock nbgrader",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load_start[0]:.1f} at the start and {load_end[0]:.1f} "
        f"at the end, by `python bench/class_grading.py {args.assignment} --n {args.n}`.",
        "",
        headline,
        "",
        "| run | wall s | s per submission | same marks as predicted |",
        "| --- | ---: | ---: | ---: |",
        *(f"| {m} | {wall[m]:.1f} | {wall[m] / args.n:.1f} | "
          f"{args.n if m != 'stock' else stock_same} of {args.n} |" for m in wall),
        "",
        f"- 2 workers vs 1: speed-up {speedup:.2f}, scaling efficiency {speedup / 2:.0%} "
        f"(every kernel of the course's grader runs 1 OpenMP thread, the sandbox's default).",
        f"- Stock nbgrader's kernels inherit this environment: OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset (MXNet picks)')}.",
        f"- Course grader (1 worker, sandbox on) / stock nbgrader: {wall['course x1'] / wall['stock']:.2f}; "
        f"2 workers / stock: {wall['course x2'] / wall['stock']:.2f}.",
        "- Stock nbgrader runs the student's code with the grader's permissions and takes a test cell "
        "that prints no error as passed; its marks differ where the course's trusted verdict does not "
        "count a visible test whose hidden check failed.",
    ]
    write_report(args.report, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
