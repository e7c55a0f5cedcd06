"""Grade a class in parallel with Dask distributed; one writer merges the results into the gradebook.

Each task grades one submission in isolation: it unpacks a scratch copy of the course (the
assignment's source, the configuration and a private SQLite gradebook that knows only this
assignment), runs stock ``nbgrader autograde --student=<id>`` there (every kernel in the
sandbox, hidden tests judged outside it: ``exercises/nbgrader_config.py``) and returns the
autograded notebook as text. Tasks never touch the course's gradebook. The process that
submitted them is its only writer: as each result arrives it runs nbgrader's own
``SaveAutoGrades`` and ``AssignLatePenalties`` preprocessors on the returned notebook against the
course's gradebook (SQLite, or any SQLAlchemy URL such as PostgreSQL) and writes the notebook to
``autograded/``, so a grader killed mid-class keeps every submission merged so far.

By default a local cluster runs ``workers`` tasks at once (threads: each task waits on its own
``nbgrader`` process, the work happens there). Each ``nbgrader autograde`` is a fresh process, but
not a fresh interpreter: it is forked from a server that imported nbgrader once (multiprocessing's
"forkserver"), which saves the 3 to 8 s that importing nbgrader costs every submission
(``bench/grading_phases.py``); nothing is shared between submissions but that import. (On the
worker processes of a Dask cluster, which may not fork such children, it is a plain process.) With ``scheduler`` (``tcp://host:8786``) the
tasks go to a running Dask cluster, whose workers need this repository installed at the same
path (``make venv``) and bubblewrap.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from autograder.course import log_tail, nbgrader
from autograder.workspace import nbgrader_env, scratch_course

PREFLIGHT = "reference-solution"  # the preflight task's student name (never merged, never a student id)
SCRATCH_PREFIX = "seqmx-grade-"  # + the owner's pid: autograder.jail.clean_stale removes a killed run's


@dataclass
class Result:
    student: str
    notebook: str | None  # the autograded notebook (JSON text), None when nbgrader failed
    error: str            # one line, '' on success
    seconds: float
    score: float = 0.0    # as the scratch course's gradebook scored it (before any late penalty)
    max_score: float = 0.0
    lost: str = ""        # the first test that lost points, with its one-line reason


def course_template(course: Path, assignment: str) -> bytes:
    """A tar of the smallest course that can autograde ``assignment``: its config, its source
    folder and a gradebook made by ``nbgrader generate_assignment`` (so it knows every cell)."""
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-template-") as tmp:
        root = scratch_course(Path(tmp), course, [assignment])
        proc = nbgrader("generate_assignment", assignment, "--force", root=root, db_url=_scratch_db(root))
        if proc.returncode:
            raise RuntimeError(f"{assignment}: nbgrader generate_assignment failed in a scratch course: "
                               f"{log_tail(proc)}")
        shutil.rmtree(root / "release", ignore_errors=True)  # the tasks need the gradebook, not the release
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(root, arcname=".")
        return buf.getvalue()


def grade_one(template: bytes, assignment: str, student: str, files: dict[str, bytes]) -> Result:
    """Autograde one submission in a scratch course of its own (runs on a Dask worker).

    ``files``: the staged submission folder, name -> bytes (the notebook, timestamp.txt)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as tmp:
        root = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(template), mode="r:gz") as tar:
            tar.extractall(root, filter="data")  # our own archive; the filter refuses any escape anyway
        dest = root / "submitted" / "student" / assignment
        dest.mkdir(parents=True)
        for name, data in files.items():
            (dest / Path(name).name).write_bytes(data)
        # the student is 'student' in the scratch course: an id never becomes a path or an argument here
        proc = autograde(root, assignment, _scratch_db(root))
        graded = sorted((root / "autograded" / "student" / assignment).glob("*.ipynb"))
        if proc.returncode or len(graded) != 1:
            return Result(student, None, f"nbgrader autograde failed: {log_tail(proc)}",
                          time.monotonic() - started)
        text = graded[0].read_text(encoding="utf-8")
        score, max_score, lost = _scored(root, assignment, graded[0].stem, text)
        return Result(student, text, "", time.monotonic() - started, score, max_score, lost)


FORK = True  # False: a new interpreter per submission, as before the fork server (bench/grading_phases.py)
# what the fork server imports once: nbgrader's apps and the course's preprocessors
PRELOAD = ["nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp", "autograder.executor", "autograder.verdict",
           "autograder.parallel"]


def _context():
    """Python's one forkserver context; the server reads the preload list when it starts (first child)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def autograde(root: Path, assignment: str, db_url: str) -> subprocess.CompletedProcess:
    """``nbgrader autograde ASSIGNMENT --student=student --force`` in the scratch course ``root``,
    in a process forked from the fork server (see the module's docstring); its log in ``stdout``."""
    argv = ["autograde", assignment, "--student=student", "--force"]
    if not FORK or multiprocessing.current_process().daemon:
        # a Dask worker process (a cluster given by --scheduler) may not start multiprocessing
        # children: a plain nbgrader process, which imports nbgrader anew
        return nbgrader(*argv, root=root, db_url=db_url)
    log = root / "autograde.log"
    env = nbgrader_env(db_url)
    child = _context().Process(target=_nbgrader_child, args=(str(root), argv, env, str(log)),
                               name=f"nbgrader-{root.name}")
    child.start()
    child.join()
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    return subprocess.CompletedProcess(["nbgrader", *argv], child.exitcode, stdout=text, stderr="")


def _nbgrader_child(root: str, argv: list[str], env: dict, log: str) -> None:
    """In the forked process: nbgrader's own command line, as ``python -m nbgrader ARGV`` would run
    it, in ``root`` with ``env``, its output to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(root)
    os.environ.clear()
    os.environ.update(env)
    from nbgrader.apps.nbgraderapp import NbGraderApp
    NbGraderApp.launch_instance(argv=argv)


def _scored(root: Path, assignment: str, notebook_id: str, text: str) -> tuple[float, float, str]:
    """The scratch gradebook's score of the one submission, and its first lost test with the reason."""
    import nbformat
    from nbgrader.api import Gradebook

    from autograder.feedback import one_line_reason

    with Gradebook(_scratch_db(root)) as gb:
        sub = gb.find_submission(assignment, "student")
        nb = gb.find_submission_notebook(notebook_id, assignment, "student")
        lost = [g.name for g in nb.grades if g.score < g.max_score]
        lost.sort(key=lambda name: "hidden" not in name)  # a hidden check's reason says more than "not confirmed"
        score, max_score = sub.score, sub.max_score
    reason = ""
    if lost:
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nbformat.reads(text, as_version=4).cells}
        cell = cells.get(lost[0])
        reason = one_line_reason(cell.get("outputs", [])) if cell is not None else ""
    return score, max_score, (f"{lost[0]}: {reason}" if reason else lost[0]) if lost else ""


def _scratch_db(root: Path) -> str:
    """The scratch course's own gradebook, whatever the instructor's environment names."""
    return "sqlite:///" + str(root / "gradebook.db")


class Writer:
    """The one writer of the course's gradebook and ``autograded/`` folder."""

    def __init__(self, course: Path, db_url: str, assignment: str, notebook: str, config):
        self.course, self.db_url, self.assignment = course, db_url, assignment
        self.notebook_id = Path(notebook).stem
        self.notebook = notebook
        self.config = config

    def merge(self, result: Result) -> None:
        import nbformat
        from sqlalchemy.exc import SAWarning

        nb = nbformat.reads(result.notebook, as_version=4)
        with warnings.catch_warnings():
            # nbgrader 0.9's update_or_create_submission, under SQLAlchemy 2: autoflush notices only
            warnings.simplefilter("ignore", SAWarning)
            self._merge(result, nb)

    def _merge(self, result: Result, nb) -> None:
        from nbgrader.api import Gradebook
        from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
        from nbgrader.utils import parse_utc

        stamp = self.course / "submitted" / result.student / self.assignment / "timestamp.txt"
        timestamp = parse_utc(stamp.read_text().strip()) if stamp.is_file() and stamp.read_text().strip() else None
        with Gradebook(self.db_url) as gb:
            gb.update_or_create_student(result.student)
            if timestamp:
                gb.update_or_create_submission(self.assignment, result.student, timestamp=timestamp)
            else:
                gb.update_or_create_submission(self.assignment, result.student)
        resources = {"nbgrader": {"notebook": self.notebook_id, "assignment": self.assignment,
                                  "student": result.student, "db_url": self.db_url}}
        for pp in (SaveAutoGrades(config=self.config), AssignLatePenalties(config=self.config)):
            nb, resources = pp.preprocess(nb, resources)
        # the autograded copy, for feedback: written whole, then renamed into place
        dest = self.course / "autograded" / result.student / self.assignment
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=dest, delete=False, suffix=".part", encoding="utf-8") as tmp:
            tmp.write(result.notebook)
        Path(tmp.name).replace(dest / self.notebook)


class PreflightFailed(Exception):
    """The reference solution did not score full marks in the sandbox: nothing was graded."""


def grade_class(course: Path, assignment: str, notebook: str, students: list[str], db_url: str, config,
                workers: int | None = None, scheduler: str | None = None,
                preflight: dict[str, bytes] | None = None) -> dict[str, Result]:
    """Grade every staged submission of ``students``; merge each into the gradebook as it arrives.

    ``preflight``: the reference solution, staged as a student's submission (file name -> bytes). It
    is graded first, beside the class; no student's result is merged until it has scored full marks,
    and if it does not, every task is cancelled and :class:`PreflightFailed` says why (a broken
    grading environment never grades a class 0)."""
    from distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    template = course_template(course, assignment)
    writer = Writer(course, db_url, assignment, notebook, config)
    results: dict[str, Result] = {}
    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        # threads: a task only waits on its nbgrader process; no worker process to start or to leak
        cluster = LocalCluster(n_workers=1, threads_per_worker=workers or os.cpu_count() or 1, processes=False,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        shared = client.scatter(template, broadcast=True)  # sent to each worker once, not with every task

        def files(student: str) -> dict[str, bytes]:
            folder = course / "submitted" / student / assignment
            return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

        # submitted in the class's order, each its own task: pure=False, a re-run grades again
        check = (client.submit(grade_one, shared, assignment, PREFLIGHT, preflight, pure=False,
                               key="grade-preflight") if preflight is not None else None)
        futures = [client.submit(grade_one, shared, assignment, s, files(s), pure=False,
                                 key=f"grade-{i}")
                   for i, s in enumerate(students)]
        waiting: list[Result] = []  # results that arrived before the preflight passed
        passed = check is None
        with tqdm(total=len(futures), desc=f"grading {assignment}", unit="submission", file=sys.stderr,
                  dynamic_ncols=True) as bar:
            for future in as_completed(futures + ([check] if check is not None else [])):
                result = future.result()
                if future is check:
                    if result.error or result.score < result.max_score or not result.max_score:
                        for f in futures:
                            f.cancel()
                        why = result.error or (f"scored {result.score:g} of {result.max_score:g}"
                                               + (f" (first lost: {result.lost})" if result.lost else ""))
                        raise PreflightFailed(why)
                    passed = True
                    ready, waiting = waiting, []
                else:
                    ready = [result]
                    if not passed:
                        waiting.append(result)
                        continue
                for result in ready:
                    if result.notebook is not None:
                        try:
                            writer.merge(result)
                        except Exception as err:  # a notebook nbgrader wrote but the gradebook refused: say so
                            result = Result(result.student, None, f"not merged into the gradebook: {err}",
                                            result.seconds)
                    results[result.student] = result
                    bar.update(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results
