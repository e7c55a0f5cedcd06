"""``python -m autograder``: release, grade, export and calibrate the course's assignments.

Every command works on the nbgrader course directory ``exercises/`` (or
``$SEQMX_COURSE``) and uses nbgrader's own apps for the work. Heavy imports
(nbgrader, MXNet) happen inside the commands, so ``--help`` answers at once.
Bad input is reported in one line naming it, with exit code 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from autograder import course
from autograder.course import UsageError


def _coursedir():
    """nbgrader's CourseDirectory, configured by ``exercises/nbgrader_config.py``."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course.ROOT)).load_config()
    return CourseDirectory(config=config)


def release(names: list[str]) -> int:
    """Generate the student version of each assignment into ``exercises/release/``."""
    for name in names or course.assignments():
        course.require_assignment(name)
        proc = course.nbgrader("generate_assignment", name, "--force")
        if proc.returncode:
            raise UsageError(f"{name}: nbgrader generate_assignment failed: {course.log_tail(proc)}")
        print(f"released {name} -> {course.ROOT / 'release' / name}")
    return 0


def _check_gradebook() -> str:
    """The gradebook's URL, once it is known to open: else one line naming it (password hidden)."""
    from nbgrader.api import Gradebook
    from sqlalchemy.engine import make_url

    db_url = _coursedir().db_url
    try:
        shown = make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        raise UsageError(f"gradebook URL {db_url!r} ($SEQMX_DB_URL) is not a database URL")
    try:
        with Gradebook(db_url):
            pass
    except ModuleNotFoundError as err:
        raise UsageError(f"gradebook {shown}: its database driver is not installed ({err.name})")
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UsageError(f"gradebook {shown}: cannot open it: {first}")
    return db_url


def _ensure_in_gradebook(assignment: str) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(_coursedir().db_url) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    release([assignment])


def grade(assignment: str, submissions: str, workers: int | None = None, scheduler: str | None = None) -> int:
    """Autograde every submission of ``assignment`` found in a folder or an LMS zip."""
    from autograder import submissions as subs_mod
    from nbgrader.api import Gradebook, MissingEntry

    course.require_assignment(assignment)
    from autograder.sandbox import SandboxMissing, bwrap_path, clean_stale
    try:
        bwrap_path()
    except SandboxMissing as err:
        raise UsageError(str(err))
    clean_stale()  # what a killed run left behind (runtime folders, cgroups)
    notebooks = course.notebooks(assignment)
    if len(notebooks) != 1:
        raise UsageError(f"{assignment}: expected one notebook in source/, found {len(notebooks)}")
    found = subs_mod.collect(Path(submissions))
    db_url = _check_gradebook()
    _ensure_in_gradebook(assignment)
    released = course.ROOT / "release" / assignment / notebooks[0]
    if not released.is_file():
        release([assignment])
    import nbformat
    staged = subs_mod.stage(found, course.ROOT, assignment, notebooks[0],
                            nbformat.read(released, as_version=4))
    from autograder.parallel import grade_class
    started = time.monotonic()
    results = grade_class(course.ROOT, assignment, notebooks[0], list(staged), db_url,
                          _coursedir().config, workers=workers, scheduler=scheduler)
    wall = time.monotonic() - started
    failures = {s: r.error for s, r in results.items() if r.error}
    rows = []
    with Gradebook(db_url) as gb:
        for sub in sorted(found, key=lambda s: s.student):
            if sub.data is None:
                rows.append((sub.student, "-", "-", f"not graded: {sub.source}: {sub.problem}"))
                continue
            if sub.student in failures:
                rows.append((sub.student, "-", "-", f"not graded: {failures[sub.student]}"))
                continue
            try:
                s = gb.find_submission(assignment, sub.student)
            except MissingEntry:
                rows.append((sub.student, "-", "-", "not graded: no result in the gradebook"))
                continue
            status = f"graded as blank: {staged[sub.student]}" if staged.get(sub.student) else "graded"
            rows.append((sub.student, f"{s.score:g}", f"{s.max_score:g}", status))
    # an id or a file name comes from the submission: one printable line each, whatever it holds
    rows = [tuple(_printable(x) for x in r) for r in rows]
    width = max(len("student"), *(len(r[0]) for r in rows))
    print(f"{'student':<{width}}  {'score':>6}  {'max':>4}  status")
    for student, score, max_score, status in rows:
        print(f"{student:<{width}}  {score:>6}  {max_score:>4}  {status}")
    not_graded = sum(r[3] != "graded" for r in rows)  # unreadable ones count: the instructor must look
    print(f"{len(rows) - not_graded} of {len(rows)} submissions graded")
    _summary([float(r[1]) for r in rows if r[1] != "-"], max((float(r[2]) for r in rows if r[2] != "-"), default=0))
    # timings vary from run to run: on stderr, so that the table above is the same for the same class
    busy = sum(r.seconds for r in results.values())
    print(f"graded {len(results)} notebook(s) in {wall:.1f} s on {_where(workers, scheduler)}; "
          f"{busy:.1f} s of grading in all ({busy / max(len(results), 1):.1f} s per notebook)", file=sys.stderr)
    return 1 if not_graded else 0


def _summary(scores: list[float], max_score: float) -> None:
    """The class at a glance: how many scored what."""
    if not scores:
        return
    import statistics
    print(f"scores out of {max_score:g}: mean {statistics.mean(scores):.2f}, median {statistics.median(scores):g}, "
          f"min {min(scores):g}, max {max(scores):g}; full marks {sum(s == max_score for s in scores)}, "
          f"zero {sum(s == 0 for s in scores)}")


def _where(workers: int | None, scheduler: str | None) -> str:
    return f"the Dask cluster at {scheduler}" if scheduler else f"{workers or os.cpu_count()} local worker(s)"


def _printable(text: str) -> str:
    """Control characters (a newline in a student id) escaped: no line of the table can be forged."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def roster_import(path: str) -> int:
    """Add or update the students of a Canvas or Moodle roster in the gradebook (autograder.lms)."""
    from autograder import lms

    _store_roster(lms.read_roster(path), _check_gradebook())
    return 0


def _store_roster(roster, db_url: str) -> None:
    from autograder import lms

    added, updated = lms.store_roster(roster, db_url)
    skipped = f"; skipped {', '.join(roster.skipped)}" if roster.skipped else ""
    print(f"roster {roster.path} ({roster.lms}): {len(roster.entries)} students, {added} added, {updated} updated, "
          f"{len(roster.entries) - added - updated} unchanged{skipped}")


def export(to: str, fmt: str = "nbgrader", roster: str | None = None, assignment: str | None = None,
           missing: str | None = None) -> int:
    """Write the grades: nbgrader's CSV, a Canvas gradebook import or a Moodle grading worksheet.

    Each file is written whole, then renamed into place. The LMS formats live in autograder.lms.
    """
    dest = Path(to).resolve()
    if not dest.parent.is_dir():
        raise UsageError(f"{dest.parent}: no such folder for the grades file")
    if fmt == "nbgrader" and missing:
        raise UsageError("--missing applies to --format canvas and moodle (nbgrader's CSV writes 0)")
    from autograder import lms
    loaded = lms.read_roster(roster) if roster else None
    if fmt in ("canvas", "moodle"):
        lms.check_export(fmt, loaded, assignment, missing or "empty")
    db_url = _check_gradebook()
    if loaded:
        _store_roster(loaded, db_url)
    if fmt in ("canvas", "moodle"):
        if fmt == "canvas":
            lms.export_canvas(db_url, dest, loaded, assignment, missing or "empty")
        else:
            lms.export_moodle(db_url, dest, loaded, assignment, missing or "empty")
        return 0
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    try:
        proc = course.nbgrader("export", f"--to={tmp}", *([f"--assignment={assignment}"] if assignment else []))
        if proc.returncode:
            raise UsageError(f"nbgrader export failed: {course.log_tail(proc)}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    rows = dest.read_text().count("\n") - 1
    print(f"exported {rows} grade rows to {dest}")
    return 0


def feedback(assignment: str, pack: str | None = None, to: str | None = None) -> int:
    """Write each graded student's feedback (HTML) with nbgrader, hidden tests redacted.

    ``exercises/nbgrader_config.py`` adds :class:`autograder.feedback.RedactHiddenTests` to
    nbgrader's feedback preprocessors, so stock ``nbgrader generate_feedback`` redacts too.
    """
    course.require_assignment(assignment)
    if pack and not to:
        raise UsageError("--pack needs --to FILE.zip")
    if pack:
        from autograder.lms import check_destination
        check_destination(to, "feedback zip")
    proc = course.nbgrader("generate_feedback", assignment, "--force")
    if proc.returncode:
        raise UsageError(f"{assignment}: nbgrader generate_feedback failed: {course.log_tail(proc)}")
    written = sorted((course.ROOT / "feedback").glob(f"*/{assignment}/*.html"))
    print(f"feedback for {len(written)} submission(s) of {assignment} -> {course.ROOT / 'feedback'}")
    if pack:  # the pages zipped for the LMS's upload (autograder.lms)
        from autograder import lms
        lms.pack_feedback(course.ROOT, _check_gradebook(), assignment, pack, to)
    return 0


PROBE_MARK = "@@AUTOGRADER-PROBES@@"


def _record(value, spec) -> dict:
    """A calibrated value with its tolerance, and for a single number the band it allows."""
    rec = {"value": value, "rtol": spec.rtol, "atol": spec.atol, "why": spec.why}
    if isinstance(value, float) and (spec.rtol or spec.atol):
        half = spec.atol + spec.rtol * abs(value)
        rec["band"] = [value - half, value + half]
    return rec


def calibrate(names: list[str], out: str | None = None, timeout: int = 600) -> int:
    """Run each reference solution and record its answers to every hidden check."""
    import importlib.metadata as md
    import platform
    import shutil
    from datetime import datetime, timezone

    import nbformat
    from nbclient import NotebookClient

    from autograder import checks

    for name in names or course.assignments():
        course.require_assignment(name)
        src = course.ROOT / "source" / name
        (nb_name,) = course.notebooks(name)
        nb = nbformat.read(src / nb_name, as_version=4)
        # the reference's own cells, without its tests, then one cell that probes every answer
        nb.cells = [c for c in nb.cells if not (c.get("metadata", {}).get("nbgrader", {}).get("grade")
                                               and not c["metadata"]["nbgrader"].get("solution"))]
        nb.cells.append(nbformat.v4.new_code_cell(
            "import json as _json\nfrom autograder.checks import probe_all as _probe_all\n"
            f"print({PROBE_MARK!r} + _json.dumps(_probe_all({name!r}, globals())))"))
        with tempfile.TemporaryDirectory() as work:
            shutil.copytree(src, work, dirs_exist_ok=True)
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": work}}).execute()
        printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
        values = json.loads(printed.split(PROBE_MARK, 1)[1])
        module = checks.problem_module(name)
        specs = checks.checks_of(name)
        record = {
            "assignment": name,
            "calibrated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seeds": getattr(module, "SEEDS", {}),
            "versions": {"python": platform.python_version(),
                         **{p: md.version(p) for p in ("numpy", "mxnet", "d2l", "nbgrader")}},
            "checks": {k: _record(v, specs[k]) for k, v in values.items()},
        }
        dest = Path(out or checks.EXPECTATIONS) / f"{name}.json"
        tmp = dest.with_suffix(".json.part")
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, dest)
        print(f"calibrated {name}: {len(values)} checks -> {dest}")
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autograder", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("release", help="generate the student version of assignments (all by default)")
    r.add_argument("assignments", nargs="*")
    g = sub.add_parser("grade", help="autograde a folder of <student>/<notebook>.ipynb or an LMS zip")
    g.add_argument("assignment")
    g.add_argument("submissions", help="folder of <student>/<notebook>.ipynb, or a .zip exported by an LMS")
    g.add_argument("--workers", type=_positive, default=None,
                   help="submissions graded at once on this machine (default: the number of cores)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on a running Dask cluster (tcp://host:8786) instead of this machine")
    e = sub.add_parser("export", help="write all grades to a CSV file (nbgrader's, Canvas's or Moodle's)")
    e.add_argument("--to", default="grades.csv", help="the CSV file to write (default: grades.csv)")
    e.add_argument("--format", choices=("nbgrader", "canvas", "moodle"), default="nbgrader",
                   help="nbgrader's CSV (default), a Canvas gradebook import, or a Moodle grading worksheet")
    e.add_argument("--roster", metavar="FILE", help="a Canvas gradebook export or the Moodle assignment's "
                   "grading worksheet: imported first, and the export follows its rows and columns")
    e.add_argument("--assignment", metavar="NAME", help="only this assignment (required for moodle)")
    e.add_argument("--missing", choices=("empty", "zero"), default=None,
                   help="the grade of a student without a submission (canvas, moodle; default: empty)")
    ro = sub.add_parser("roster", help="import a Canvas or Moodle roster into the gradebook's students")
    ro_sub = ro.add_subparsers(dest="roster_command", required=True)
    ri = ro_sub.add_parser("import", help="add or update the students of a Canvas gradebook export "
                           "or a Moodle grading worksheet")
    ri.add_argument("file")
    f = sub.add_parser("feedback", help="write every graded student's feedback (hidden tests redacted)")
    f.add_argument("assignment")
    f.add_argument("--pack", choices=("canvas", "moodle"),
                   help="also zip the pages for the LMS (Moodle's feedback-files upload, "
                   "or one file per student for Canvas)")
    f.add_argument("--to", metavar="FILE.zip", help="the zip to write with --pack")
    c = sub.add_parser("calibrate", help="record the reference solutions' answers to the hidden checks")
    c.add_argument("assignments", nargs="*")
    c.add_argument("--out", help="folder to write the expectations to (default: autograder/expectations)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # nbgrader starts helpers (alembic, jupyter kernels) by name, also in-process: find the
    # environment's own first, even when it was not activated (`.venv/bin/python -m autograder`)
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    try:
        if args.command == "release":
            return release(args.assignments)
        if args.command == "grade":
            return grade(args.assignment, args.submissions, args.workers, args.scheduler)
        if args.command == "export":
            return export(args.to, args.format, args.roster, args.assignment, args.missing)
        if args.command == "roster":
            return roster_import(args.file)
        if args.command == "feedback":
            return feedback(args.assignment, args.pack, args.to)
        if args.command == "calibrate":
            return calibrate(args.assignments, args.out)
    except UsageError as err:
        print(f"autograder {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0
