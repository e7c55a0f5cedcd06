"""Benchmark: where the time of grading one submission goes, phase by phase.

Usage: python bench/grading_phases.py [ASSIGNMENT] [--repeat 3] [--report bench/reports/grading-phases.md]

Issue 15, item 3. One submission (the reference solution) of ASSIGNMENT (default ps06-bptt) is
graded the way ``python -m autograder grade`` grades each submission
(``autograder.parallel.grade_one``: a scratch course unpacked from the class's template, then a
stock ``nbgrader autograde`` process whose kernel runs in the sandbox), and its phases are timed
apart, each in isolation, ``--repeat`` times (medians):

- ``scratch course``: unpacking the template and staging the notebook;
- ``nbgrader process``: a Python process importing nbgrader's autograde app and exiting;
- ``kernel start (sandbox)``: ``SandboxKernelManager`` starting a kernel in bubblewrap until it answers;
- ``import mxnet``: the student's first import, in that kernel;
- ``cells``: the notebook's cells run in a sandboxed kernel by the course's ``SandboxedExecute``
  (their sum; the three slowest are listed);
- ``grade_one``: the whole, end to end, as the grader runs it (nbgrader forked from a server
  that imported it once); what it has beyond the phases above is nbgrader's own work (reading
  the notebook, the gradebook, the other preprocessors, writing) and the overlap;
- ``grade_one, new interpreter``: the same with ``autograder.parallel.FORK`` off, a new Python
  process per submission that imports nbgrader itself (the grader before the fork server).

The phases overlap the whole only approximately (the kernel in ``cells`` also imports MXNet), so
``rest`` is the whole minus scratch course, nbgrader process, kernel start and cells.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from common import COURSE, REPO, scratch_course, write_report

sys.path.insert(0, str(REPO))


def time_scratch(template: bytes, assignment: str, notebook: Path) -> float:
    import io
    import tarfile
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(template), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        dest = Path(tmp) / "submitted" / "student" / assignment
        dest.mkdir(parents=True)
        (dest / notebook.name).write_bytes(notebook.read_bytes())
        return time.perf_counter() - start


def time_nbgrader_process() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import nbgrader.apps.autogradeapp"], check=True)
    return time.perf_counter() - start


async def _kernel_and_import() -> tuple[float, float]:
    from autograder.jail import SandboxKernelManager
    km = SandboxKernelManager()
    start = time.perf_counter()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    km.seal()
    started = time.perf_counter() - start
    start = time.perf_counter()
    reply = await kc._async_execute_interactive("import mxnet", store_history=False, timeout=120,
                                                output_hook=lambda msg: None)
    imported = time.perf_counter() - start
    assert reply["content"]["status"] == "ok", reply["content"]
    kc.stop_channels()
    await km.shutdown_kernel(now=True)
    return started, imported


def time_cells(notebook: Path, assignment: str) -> list[tuple[str, float]]:
    """Each code cell's time, run by the course's SandboxedExecute (nbclient's own timing records)."""
    import nbformat

    from autograder.executor import SandboxedExecute
    nb = nbformat.read(notebook, as_version=4)
    ep = SandboxedExecute(timeout=300, record_timing=True)
    ep.preprocess(nb, {"nbgrader": {"assignment": assignment}, "metadata": {"path": str(notebook.parent)}})
    out = []
    for i, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            t0 = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            t1 = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            gid = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {i}"
            out.append((gid, (t1 - t0).total_seconds()))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("assignment", nargs="?", default="ps06-bptt")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--report", help="write the markdown report here")
    args = p.parse_args()
    os.environ.pop("SEQMX_DB_URL", None)
    load_start = os.getloadavg()
    started = datetime.now(timezone.utc)
    from autograder import parallel
    from autograder.parallel import course_template, grade_one

    with tempfile.TemporaryDirectory() as tmp:
        course = scratch_course(Path(tmp) / "course", [args.assignment])
        template = course_template(course, args.assignment)
        (notebook,) = (COURSE / "source" / args.assignment).glob("*.ipynb")
        runs: dict[str, list[float]] = {}
        cells_runs: list[list[tuple[str, float]]] = []
        for _ in range(args.repeat):
            runs.setdefault("scratch course", []).append(time_scratch(template, args.assignment, notebook))
            runs.setdefault("nbgrader process", []).append(time_nbgrader_process())
            k, imp = asyncio.run(_kernel_and_import())
            runs.setdefault("kernel start (sandbox)", []).append(k)
            runs.setdefault("import mxnet", []).append(imp)
            cells = time_cells(notebook, args.assignment)
            cells_runs.append(cells)
            runs.setdefault("cells", []).append(sum(s for _, s in cells))
            for key, fork in (("grade_one", True), ("grade_one, new interpreter", False)):
                parallel.FORK = fork
                start = time.perf_counter()
                result = grade_one(template, args.assignment, "s001", {notebook.name: notebook.read_bytes()})
                runs.setdefault(key, []).append(time.perf_counter() - start)
                if result.notebook is None or result.score != result.max_score:
                    raise SystemExit(f"the reference did not get full marks: {result}")
            parallel.FORK = True
            print({k: round(v[-1], 2) for k, v in runs.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    rest = med["grade_one"] - med["scratch course"] - med["nbgrader process"] - med["kernel start (sandbox)"] - med["cells"]
    per_cell: dict[str, list[float]] = {}
    for cells in cells_runs:
        for gid, s in cells:
            per_cell.setdefault(gid, []).append(s)
    slowest = sorted(((statistics.median(v), gid) for gid, v in per_cell.items()), reverse=True)[:3]
    load_end = os.getloadavg()
    whole = med["grade_one"]
    rows = ["| phase | median s | share of grade_one | runs (s) |", "| --- | ---: | ---: | --- |"]
    for k in ("scratch course", "nbgrader process", "kernel start (sandbox)", "import mxnet", "cells"):
        rows.append(f"| {k} | {med[k]:.2f} | {med[k] / whole:.0%} | {', '.join(f'{x:.2f}' for x in runs[k])} |")
    rows.append(f"| rest (nbgrader's own work) | {rest:.2f} | {rest / whole:.0%} | |")
    rows.append(f"| **grade_one (whole)** | {whole:.2f} | 100% | {', '.join(f'{x:.2f}' for x in runs['grade_one'])} |")
    plain = med["grade_one, new interpreter"]
    rows.append(f"| grade_one, new interpreter per submission (before) | {plain:.2f} | {plain / whole:.0%} | "
                f"{', '.join(f'{x:.2f}' for x in runs['grade_one, new interpreter'])} |")
    not_student = med["scratch course"] + med["nbgrader process"] + med["kernel start (sandbox)"] + med["import mxnet"] + rest
    lines = [
        f"# Grading one submission of `{args.assignment}`, phase by phase",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, load average {load_start[0]:.2f} at the "
        f"start and {load_end[0]:.2f} at the end (1-minute), by `python bench/grading_phases.py {args.assignment} "
        f"--repeat {args.repeat}`; medians of {args.repeat} runs, each phase timed on its own (see the script).",
        "",
        f"Headline: of {whole:.1f} s to grade one `{args.assignment}` reference, {not_student:.1f} s "
        f"({not_student / whole:.0%}) is not the student's own work (scratch course, nbgrader process, sandboxed "
        f"kernel start, `import mxnet`, nbgrader's bookkeeping); the cells take {med['cells'] - med['import mxnet']:.1f} s "
        f"beyond the import. Forking nbgrader from a server that imported it once instead of starting a new "
        f"interpreter per submission: {plain:.1f} s -> {whole:.1f} s ({plain - whole:+.1f} s saved per submission).",
        "",
        *rows,
        "",
        "Slowest cells (median s): " + ", ".join(f"`{gid}` {s:.2f}" for s, gid in slowest) + ".",
    ]
    print("\n".join(lines))
    if args.report:
        write_report(args.report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
