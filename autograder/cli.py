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
import shutil
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


def grade(assignment: str, submissions: str, workers: int | None = None, scheduler: str | None = None,
          lms: str | None = None, roster: str | None = None, timezone: str = "UTC",
          preflight: bool = True, allow_no_process_limit: bool = False) -> int:
    """Autograde every submission of ``assignment`` found in a folder or an LMS export."""
    from autograder import submissions as subs_mod
    from nbgrader.api import Gradebook, MissingEntry

    course.require_assignment(assignment)
    from autograder.jail import SandboxMissing, bwrap_path, clean_stale
    try:
        bwrap_path()
    except SandboxMissing as err:
        raise UsageError(str(err))
    from autograder import jail
    jail.require_process_limit(allow=allow_no_process_limit)  # a cgroup caps each sandbox, or one line why not
    clean_stale()  # what a killed run left behind (runtime folders, cgroups)
    notebooks = course.notebooks(assignment)
    if len(notebooks) != 1:
        raise UsageError(f"{assignment}: expected one notebook in source/, found {len(notebooks)}")
    zone = _zone(timezone)
    layout, found = subs_mod.collect(Path(submissions), lms)
    db_url = _check_gradebook()
    entries = _read_roster(roster) if roster else None
    _ensure_in_gradebook(assignment)
    released = course.ROOT / "release" / assignment / notebooks[0]
    if not released.is_file():
        release([assignment])
    with Gradebook(db_url) as gb:
        due = gb.find_assignment(assignment).duedate
    notes = _dates(found, layout, entries, due, zone)
    added = _register(found, entries, db_url)
    import nbformat
    release_nb = nbformat.read(released, as_version=4)
    staged = subs_mod.stage(found, course.ROOT, assignment, notebooks[0], release_nb)
    reference = _preflight_files(assignment, notebooks[0], release_nb) if preflight else None
    from autograder.parallel import PreflightFailed, grade_class
    started = time.monotonic()
    try:
        results = grade_class(course.ROOT, assignment, notebooks[0], list(staged), db_url,
                              _coursedir().config, workers=workers, scheduler=scheduler,
                              preflight=reference)
    except PreflightFailed as err:
        raise UsageError(f"preflight: the reference solution of {assignment}, graded in the sandbox, {err}: "
                         "the grading environment is broken (check `make venv` and the sandbox); "
                         "nothing was graded")
    if reference is not None:
        _preflight_passed(assignment)
    wall = time.monotonic() - started
    failures = {s: r.error for s, r in results.items() if r.error}
    rows = []
    from autograder.late import describe
    with Gradebook(db_url) as gb:
        names = {st.id: " ".join(x for x in (st.first_name, st.last_name) if x) for st in gb.students}
        names.update({e.student_id: e.display_name for e in (entries.entries if entries else [])})  # as written
        for sub in sorted(found, key=lambda s: s.student):
            if sub.data is None:
                rows.append((sub.student, "-", "-", "-", "-", sub.name, f"not graded: {sub.source}: {sub.problem}"))
                continue
            if sub.student in failures:
                rows.append((sub.student, "-", "-", "-", "-", sub.name, f"not graded: {failures[sub.student]}"))
                continue
            try:
                s = gb.find_submission(assignment, sub.student)
            except MissingEntry:
                rows.append((sub.student, "-", "-", "-", "-", sub.name, "not graded: no result in the gradebook"))
                continue
            status = f"graded as blank: {staged[sub.student]}" if staged.get(sub.student) else "graded"
            if sub.others and sub.data:
                status += "; not notebooks, not graded: " + ", ".join(sub.others)
            when = f"{s.timestamp:%Y-%m-%d %H:%M}" if s.timestamp else "-"
            late = "-"
            if s.timestamp and due:
                late = "late (Canvas's flag)" if sub.late_flag else describe(s.total_seconds_late)
                if s.total_seconds_late > 0:
                    late += f", -{s.late_submission_penalty or 0:g}"
            if sub.late_flag:
                when = "-"
            # nbgrader keeps the penalty beside the score: the grade is the score minus the penalty
            final = s.score - (s.late_submission_penalty or 0)
            name = names.get(sub.student) or sub.name
            rows.append((sub.student, f"{final:g}", f"{s.max_score:g}", when, late, name, status))
    # an id, a name or a file name comes from the submission: one printable line each, whatever it holds
    rows = [tuple(_printable(x) for x in r) for r in rows]
    print(_table(("student", "score", "max", "submitted (UTC)", "late, penalty", "name", "status"), rows))
    # unreadable ones (graded as blank) count: the instructor must look
    not_graded = sum(r[6] != "graded" and not r[6].startswith("graded; ") for r in rows)
    print(f"{len(rows) - not_graded} of {len(rows)} submissions graded")
    _summary([float(r[1]) for r in rows if r[1] != "-"], max((float(r[2]) for r in rows if r[2] != "-"), default=0))
    for line in notes + added:
        print(line)
    # timings vary from run to run: on stderr, so that the table above is the same for the same class
    busy = sum(r.seconds for r in results.values())
    print(f"graded {len(results)} notebook(s) in {wall:.1f} s on {_where(workers, scheduler)}; "
          f"{busy:.1f} s of grading in all ({busy / max(len(results), 1):.1f} s per notebook)", file=sys.stderr)
    return 1 if not_graded else 0


def due(assignment: str, date: str) -> int:
    """Set the due date of ``assignment`` in nbgrader's gradebook (what ``nbgrader db assignment add
    --duedate`` sets); late penalties are computed from it when a class is graded."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    course.require_assignment(assignment)
    try:
        when = parse_utc(date)
    except (ValueError, OverflowError) as err:
        raise UsageError(f"due date {date!r} is not a date ({err}); for example \"2026-12-01 23:59:00 UTC\"")
    parts = date.split()
    if len(parts) == 3 and not parts[2].lstrip("+-").isdigit():
        import dateutil.tz
        if dateutil.tz.gettz(parts[2]) is None:  # nbgrader would silently read it as UTC
            raise UsageError(f"due date {date!r}: unknown time zone {parts[2]!r} (for example UTC or Europe/Berlin)")
    db_url = _check_gradebook()
    _ensure_in_gradebook(assignment)
    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(assignment, duedate=when)
    print(f"{assignment} is due {when:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell (scores right-aligned); the last column is free text."""
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head) - 1)]
    return "\n".join("  ".join(f"{x:>{w}}" if i in (1, 2) else f"{x:<{w}}" for i, (x, w) in enumerate(zip(r, widths)))
                     + "  " + r[-1] for r in [head, *rows])


def _zone(name: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone {name!r}: not a time zone name (for example UTC or Europe/Berlin)")


def _read_roster(path: str):
    from autograder import lms
    return lms.read_roster(Path(path))


def _dates(found, layout: str, roster, due, zone) -> list[str]:
    """Give each submission its time from what the export really carries; notes for the instructor.

    folders: nbgrader's timestamp.txt (read by submissions.collect). Moodle: the grading worksheet's
    'Last modified (submission)' (``--roster``), in the exporter's time zone. Canvas: the ``_LATE``
    flag, dated :data:`autograder.late.CANVAS_LATE_SECONDS` after the due date. Never a zip entry's
    date (the time of zipping)."""
    from datetime import timedelta

    from autograder.late import CANVAS_LATE_SECONDS
    notes = []
    if layout == "canvas":
        flagged = [s for s in found if s.late_flag and s.data is not None]
        if flagged and due is None:
            notes.append(f"{len(flagged)} submission(s) marked _LATE by Canvas, but the assignment has no due "
                         "date: no late penalty (set one with `python -m autograder due`)")
        elif flagged:
            for s in flagged:
                s.timestamp = f"{due + timedelta(seconds=CANVAS_LATE_SECONDS):%Y-%m-%d %H:%M:%S.%f} UTC"
    elif layout == "moodle":
        times = {e.student_id: e.submitted for e in (roster.entries if roster else [])}
        if roster is None:
            notes.append("Moodle's zip carries no submission times: pass its grading worksheet with --roster "
                         "to date the submissions (and apply late penalties)")
        for s in found:
            text = times.get(s.student, "")
            if text and s.data is not None:
                s.timestamp = _moodle_time(text, zone)
    return notes


MOODLE_TIME_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%d %B %Y, %I:%M %p", "%d %B %Y, %H:%M",
                       "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


def _moodle_time(text: str, zone) -> str | None:
    """The worksheet's 'Last modified (submission)' ('Monday, 1 December 2026, 11:59 PM', in the
    time zone of the user who exported it) as nbgrader's timestamp text in UTC; None for '-'."""
    from datetime import datetime, timezone
    text = " ".join(text.split())
    if not text or text == "-":
        return None
    for fmt in MOODLE_TIME_FORMATS:
        try:
            local = datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
        return f"{local.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S.%f} UTC"
    raise UsageError(f"the grading worksheet's 'Last modified (submission)' {text!r} is not a date Moodle "
                     "writes (expected like 'Monday, 1 December 2026, 11:59 PM')")


def _register(found, roster, db_url: str) -> list[str]:
    """Store the roster, and each student the export names, in nbgrader's student table. Returns
    notes: the students graded who are not on the roster (added)."""
    from nbgrader.api import Gradebook, MissingEntry
    notes = []
    if roster is not None:
        from autograder import lms
        lms.store_roster(roster, db_url)
    on_roster = {e.student_id for e in roster.entries} if roster is not None else set()
    with Gradebook(db_url) as gb:
        for s in found:
            if s.data is None or not s.student:
                continue
            try:
                known = gb.find_student(s.student)
            except MissingEntry:
                known = None
            if known is None or not (known.first_name or known.last_name):
                gb.update_or_create_student(s.student, last_name=s.name or None,
                                            lms_user_id=s.lms_id or None)
            if roster is not None and s.student not in on_roster:
                notes.append(f"not on the roster, added: {_printable(s.student)} ({_printable(s.name)})")
    return notes


def _preflight_files(assignment: str, notebook: str, release_nb) -> dict[str, bytes] | None:
    """The reference solution as a student would submit it (rebuilt on the release), unless the same
    reference already passed in this same environment (see :func:`_fingerprint`)."""
    import nbformat

    from autograder.assemble import assemble, read_student
    if _preflight_cache(assignment).is_file():
        return None
    source = course.ROOT / "source" / assignment / notebook
    nb = assemble(read_student(source.read_bytes()), release_nb)
    return {notebook: nbformat.writes(nb).encode("utf-8")}


def _preflight_cache(assignment: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqmx-autograder" / "preflight"
    return base / f"{assignment}-{_fingerprint(assignment)}"


def _preflight_passed(assignment: str) -> None:
    mark = _preflight_cache(assignment)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text("the reference solution scored full marks\n")


_FINGERPRINTS: dict[str, str] = {}


def _fingerprint(assignment: str) -> str:
    """What the reference's grade depends on: the assignment's files and configuration, the grader's and
    the library's code, the data, and the environment the kernel imports them from (an editable
    install pointing at another checkout changes it)."""
    if assignment in _FINGERPRINTS:
        return _FINGERPRINTS[assignment]
    import hashlib
    import subprocess
    repo = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    files = [*sorted((course.ROOT / "source" / assignment).rglob("*")), course.ROOT / "nbgrader_config.py",
             *sorted((repo / "autograder").rglob("*.py")), *sorted((repo / "autograder" / "expectations").glob("*.json")),
             *sorted((repo / "seqmx").rglob("*.py")), repo / "data" / "SHA1SUMS"]
    for f in files:
        if f.is_file():  # by name and content, wherever the course folder is
            h.update(f"{f.parent.name}/{f.name}".encode() + b"\0" + f.read_bytes())
    probe = subprocess.run([sys.executable, "-c", "import importlib.util as u, importlib.metadata as m; "
                            "print([u.find_spec(p).origin for p in ('seqmx', 'autograder', 'mxnet', 'nbgrader')], "
                            "[m.version(p) for p in ('mxnet', 'numpy', 'nbgrader', 'd2l')])"],
                           capture_output=True, text=True)
    h.update((sys.executable + probe.stdout + probe.stderr + str(shutil.which("bwrap"))).encode())
    _FINGERPRINTS[assignment] = h.hexdigest()[:16]
    return _FINGERPRINTS[assignment]


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
    import csv
    with open(dest, newline="", encoding="utf-8") as f:
        rows = sum(1 for _ in csv.reader(f)) - 1
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


def _record(value, spec) -> dict:
    """A calibrated value with its tolerance, and for a single number the band it allows."""
    rec = {"value": value, "rtol": spec.rtol, "atol": spec.atol, "why": spec.why}
    if isinstance(value, float) and (spec.rtol or spec.atol):
        half = spec.atol + spec.rtol * abs(value)
        rec["band"] = [value - half, value + half]
    return rec


def calibrate(names: list[str], out: str | None = None, timeout: int = 600, timings_only: bool = False) -> int:
    """Run each reference solution and record its answers to every hidden check, and its times.

    The answers go to ``autograder/expectations/<assignment>.json`` (or ``out``); the time of each
    of the reference's cells (by grade_id) and of each check's probe to
    ``autograder/timings/<assignment>.json``, from which grading sets each cell's time limit
    (:class:`autograder.executor.SandboxedExecute`). ``timings_only``: leave the expectations alone.
    """
    import importlib.metadata as md
    import platform
    import shutil
    from datetime import datetime, timezone

    import nbformat
    from nbclient import NotebookClient
    from nbgrader.utils import is_grade, is_solution

    from autograder import checks, probes
    from autograder.executor import TIMINGS

    for name in names or course.assignments():
        course.require_assignment(name)
        src = course.ROOT / "source" / name
        (nb_name,) = course.notebooks(name)
        nb = nbformat.read(src / nb_name, as_version=4)
        # the reference's own cells, without its tests, then one cell that probes every answer
        nb.cells = [c for c in nb.cells if not (is_grade(c) and not is_solution(c))]
        # (the reference's answers, sent as grading's probes are: autograder.probes)
        nb.cells.append(nbformat.v4.new_code_cell(
            "from autograder.checks import probe_all as _probe_all\nfrom autograder.probes import emit as _emit\n"
            f"_seconds = {{}}\nfor _name, _values in _probe_all({name!r}, globals(), _seconds).items():\n"
            f"    _emit({name!r}, _name, _values, seconds=_seconds[_name])"))
        started, load_before = time.monotonic(), os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as work:
            shutil.copytree(src, work, dirs_exist_ok=True)
            NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                           resources={"metadata": {"path": work}}).execute()
        total = time.monotonic() - started
        probed = probes.recorded(nb.cells[-1].outputs)
        values = {k: p["values"] for k, p in probed.items()}
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        versions = {"python": platform.python_version(),
                    **{p: md.version(p) for p in ("numpy", "mxnet", "d2l", "nbgrader")}}
        timing = {"assignment": name, "calibrated": stamp, "versions": versions,
                  "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                  "cells": _cell_seconds(nb), "checks": {k: round(p["seconds"], 3) for k, p in probed.items()},
                  "total": round(total, 3)}
        _write_json(TIMINGS / f"{name}.json", timing)
        if timings_only:
            print(f"timed {name}: {total:.1f} s -> {TIMINGS / (name + '.json')}")
            continue
        specs = checks.checks_of(name)
        record = {
            "assignment": name,
            "calibrated": stamp,
            "seeds": dict(specs.seeds),
            "versions": versions,
            "checks": {k: _record(v, specs[k]) for k, v in values.items()},
        }
        dest = Path(out or checks.EXPECTATIONS) / f"{name}.json"
        _write_json(dest, record)
        print(f"calibrated {name}: {len(values)} checks -> {dest}")
    return 0


def _cell_seconds(nb) -> dict[str, float]:
    """Seconds each cell with a grade_id took (nbclient's execute_input to execute_reply)."""
    from nbgrader.utils import parse_utc
    out = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        run = cell.get("metadata", {}).get("execution", {})
        if gid and cell.cell_type == "code" and "iopub.execute_input" in run and "shell.execute_reply" in run:
            seconds = (parse_utc(run["shell.execute_reply"]) - parse_utc(run["iopub.execute_input"])).total_seconds()
            out[gid] = round(seconds, 3)
    return out


def _write_json(dest: Path, record: dict) -> None:
    """Written whole, then renamed into place (the one atomic writer, autograder.workspace.atomic_file)."""
    from autograder.workspace import atomic_file
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(dest) as f:
        f.write(json.dumps(record, indent=1, sort_keys=True) + "\n")


def publish(dest: str) -> int:
    """Write the student edition into ``dest``: no solution, hidden test or calibrated value (autograder/publish.py)."""
    from autograder.publish import publish as write_edition

    print(f"student edition -> {write_edition(Path(dest))}")
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
    g.add_argument("--lms", choices=("canvas", "moodle", "folders"),
                   help="the layout of SUBMISSIONS (detected from the names when left out)")
    g.add_argument("--roster", metavar="FILE", help="a Canvas gradebook export or the Moodle assignment's grading "
                   "worksheet: students' names and ids, and Moodle's submission times")
    g.add_argument("--timezone", default="UTC", metavar="ZONE",
                   help="the time zone of the Moodle worksheet's dates: the exporting user's (default: UTC)")
    g.add_argument("--no-preflight", dest="preflight", action="store_false",
                   help="do not grade the reference solution first (it is graded once per environment)")
    g.add_argument("--allow-no-process-limit", action="store_true", help="grade even where no cgroup can cap "
                   "the processes of a student's kernel (a fork bomb then meets only RLIMIT_NPROC)")
    d = sub.add_parser("due", help="set an assignment's due date in the gradebook (late penalties follow it)")
    d.add_argument("assignment")
    d.add_argument("date", help='for example "2026-12-01 23:59:00 UTC" or "2026-12-01 23:59 Europe/Berlin"')
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
    c.add_argument("--timings-only", action="store_true",
                   help="only re-time the reference's cells (autograder/timings/), keep the expectations")
    pb = sub.add_parser("publish", help="write the student edition (book, library, data, release notebooks)")
    pb.add_argument("dest", nargs="?", default="_publish", help="the folder to write (default: _publish)")
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
            return grade(args.assignment, args.submissions, args.workers, args.scheduler, args.lms, args.roster,
                         args.timezone, args.preflight, allow_no_process_limit=args.allow_no_process_limit)
        if args.command == "due":
            return due(args.assignment, args.date)
        if args.command == "export":
            return export(args.to, args.format, args.roster, args.assignment, args.missing)
        if args.command == "roster":
            return roster_import(args.file)
        if args.command == "feedback":
            return feedback(args.assignment, args.pack, args.to)
        if args.command == "calibrate":
            return calibrate(args.assignments, args.out, timings_only=args.timings_only)
        if args.command == "publish":
            return publish(args.dest)
    except UsageError as err:
        print(f"autograder {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0
