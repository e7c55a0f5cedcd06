"""Parallel grading (autograder/parallel.py): 1 or 2 workers, a Dask scheduler, a PostgreSQL gradebook.

Every class here is ps01 (the fastest assignment to grade): the reference, the blank release
and two wrong fixtures, whose predicted marks are in tests/fixtures/ps01-language-models.
The PostgreSQL tests need a server: ``$SEQMX_TEST_PG_URL`` names one whose role may create
databases (``.ci/run`` installs Debian's postgresql, starts it and sets the variable); without
it they are skipped, and ``.ci/run`` sets ``SEQMX_REQUIRE_PG=1`` so that CI fails instead.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import COURSE, FIXTURES, class_folder, env_for, make_course, run_cli
from fixtures.make_fixtures import specs

PS = "ps01-language-models"
WRONG = ("positions", "add-k-without-v")
PG_URL = os.environ.get("SEQMX_TEST_PG_URL")
# one xdist worker (--dist loadgroup): the tests share the classes graded by the fixture by_workers
pytestmark = pytest.mark.xdist_group("parallel-grading")


def predicted(max_score: float) -> dict[str, float]:
    return {"reference": max_score, "blank": 0.0, **{w: float(specs(PS)[w]["score"]) for w in WRONG}}


def notebooks(course: Path) -> dict[str, Path]:
    (src,) = (COURSE / "source" / PS).glob("*.ipynb")
    return {"reference": src, "blank": course / "release" / PS / src.name,
            **{w: FIXTURES / PS / f"{w}.ipynb" for w in WRONG}}


def new_course(root: Path, db_url: str | None = None) -> tuple[Path, dict]:
    course = make_course(root / "course")
    env = env_for(course)
    if db_url:
        env["SEQMX_DB_URL"] = db_url
    release = subprocess.run([sys.executable, "-m", "autograder", "release", PS], cwd=course, env=env,
                             capture_output=True, text=True, timeout=300)
    assert release.returncode == 0, release.stderr
    return course, env


def grade(course: Path, env: dict, folder: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", PS, str(folder), *options], cwd=course,
                          env=env, capture_output=True, text=True, timeout=900)


def export(course: Path, env: dict, dest: Path) -> dict[str, tuple[float, float]]:
    proc = subprocess.run([sys.executable, "-m", "autograder", "export", "--to", str(dest)], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(dest) as f:
        return {r["student_id"]: (float(r["score"]), float(r["max_score"])) for r in csv.DictReader(f)}


def scores_of(grades: dict[str, tuple[float, float]]) -> dict[str, float]:
    return {s: score for s, (score, _) in grades.items()}


@pytest.fixture(scope="module")
def by_workers(tmp_path_factory) -> dict:
    """The same class graded with 1 and with 2 workers, each in a course of its own."""
    out = {}
    for workers in (1, 2):
        tmp = tmp_path_factory.mktemp(f"workers{workers}")
        course, env = new_course(tmp)
        folder = class_folder(tmp / "class", notebooks(course))
        run = grade(course, env, folder, "--workers", str(workers))
        out[workers] = dict(run=run, grades=export(course, env, tmp / "grades.csv"), course=course)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_every_submission_scores_its_predicted_marks_on_any_number_of_workers(by_workers, workers):
    run, grades = by_workers[workers]["run"], by_workers[workers]["grades"]
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    max_score = grades["reference"][1]
    assert scores_of(grades) == predicted(max_score)


@pytest.mark.slow
def test_two_workers_print_the_table_of_one(by_workers):
    assert by_workers[2]["run"].stdout == by_workers[1]["run"].stdout


@pytest.mark.slow
def test_grading_shows_progress_and_a_class_summary(by_workers):
    run = by_workers[2]["run"]
    assert "4/4" in run.stderr  # the progress bar's last state
    assert f"on 2 local worker(s)" in run.stderr
    summary = [ln for ln in run.stdout.splitlines() if ln.startswith("scores out of")]
    assert summary == ["scores out of 10: mean 5.75, median 6.5, min 0, max 10; full marks 1, zero 1"], run.stdout


@pytest.mark.slow
def test_every_graded_notebook_is_in_autograded_for_feedback(by_workers):
    course = by_workers[2]["course"]
    for student in predicted(0):
        assert len(list((course / "autograded" / student / PS).glob("*.ipynb"))) == 1, student


@pytest.mark.slow
def test_a_dask_scheduler_address_grades_the_class_on_that_cluster(tmp_path):
    from distributed import LocalCluster

    course, env = new_course(tmp_path)
    folder = class_folder(tmp_path / "class", notebooks(course))
    # a cluster of its own processes, as a remote one would be: the tasks are sent to it by address
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        run = grade(course, env, folder, "--scheduler", cluster.scheduler_address)
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
        assert f"on the Dask cluster at {cluster.scheduler_address}" in run.stderr
    grades = export(course, env, tmp_path / "grades.csv")
    assert scores_of(grades) == predicted(grades["reference"][1])


@pytest.mark.parametrize("url, message", [
    ("nonsense", "is not a database URL"),
    ("postgresql://who:secret@127.0.0.1:9/none", "cannot open it"),
])
def test_a_gradebook_that_cannot_be_opened_is_named_in_one_line_without_its_password(tmp_path, url, message):
    course = make_course(tmp_path / "course")
    env = dict(env_for(course), SEQMX_DB_URL=url)
    proc = subprocess.run([sys.executable, "-m", "autograder", "export", "--to", str(tmp_path / "g.csv")],
                          cwd=course, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "secret" not in lines[0], proc.stderr
    assert not (tmp_path / "g.csv").exists()


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_workers_must_be_a_positive_number(tmp_path, workers):
    proc = run_cli(make_course(tmp_path / "course"), "grade", PS, str(tmp_path), "--workers", workers)
    assert proc.returncode == 2 and "positive whole number" in proc.stderr


# --- PostgreSQL ------------------------------------------------------------------------------------------

@pytest.fixture
def pg_database():
    """A fresh, empty database on the test server; dropped afterwards."""
    if not PG_URL:
        if os.environ.get("SEQMX_REQUIRE_PG"):
            pytest.fail("SEQMX_REQUIRE_PG is set but SEQMX_TEST_PG_URL names no PostgreSQL server")
        pytest.skip("no PostgreSQL server: set SEQMX_TEST_PG_URL (see .ci/run)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"seqmx_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def row_counts(db_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")}
    engine.dispose()
    return counts


@pytest.mark.slow
def test_a_postgresql_gradebook_gets_the_grades_sqlite_gets(pg_database, by_workers, tmp_path):
    course, env = new_course(tmp_path, pg_database)
    folder = class_folder(tmp_path / "class", notebooks(course))
    run = grade(course, env, folder, "--workers", "2")
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert export(course, env, tmp_path / "grades.csv") == by_workers[1]["grades"]
    assert not (course / "gradebook.db").exists(), "the SQLite gradebook was written instead"
    counts = row_counts(pg_database)
    again = grade(course, env, folder, "--workers", "2")  # re-grading: the same rows, none added
    assert again.stdout == run.stdout
    assert row_counts(pg_database) == counts and counts["student"] == 4


@pytest.mark.slow
def test_two_classes_graded_at_once_into_one_postgresql_gradebook(pg_database, by_workers, tmp_path):
    course, env = new_course(tmp_path, pg_database)
    nbs = notebooks(course)
    # two sections of the course, graded at the same time by two graders of two workers each
    sections = {name: class_folder(tmp_path / name, {f"{name}-{s}": p for s, p in nbs.items()})
                for name in ("a", "b")}
    runs = {name: subprocess.Popen([sys.executable, "-m", "autograder", "grade", PS, str(folder),
                                    "--workers", "2"], cwd=course, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            for name, folder in sections.items()}
    outs = {name: run.communicate(timeout=900) for name, run in runs.items()}
    for name, run in runs.items():
        assert run.returncode == 0, outs[name][0] + outs[name][1][-3000:]
    expected = {f"{name}-{s}": v for name in sections for s, v in by_workers[1]["grades"].items()}
    assert export(course, env, tmp_path / "grades.csv") == expected


def test_each_submission_gets_its_own_process_forked_after_nbgrader_was_imported_once(tmp_path):
    """autograder.parallel.autograde runs nbgrader in a process forked from a server that imported
    nbgrader once: every submission a new pid, none pays for the import again."""
    from autograder import parallel

    code = ("import json, os, sys; open({out!r}, 'w').write(json.dumps({{'pid': os.getpid(), "
            "'preloaded': [m for m in {mods!r} if m in sys.modules]}}))")
    seen = []
    for i in range(2):
        out = tmp_path / f"child{i}.json"
        child = parallel._context().Process(target=exec, args=(code.format(out=str(out), mods=parallel.PRELOAD),))
        child.start()
        child.join()
        assert child.exitcode == 0
        seen.append(json.loads(out.read_text()))
    assert seen[0]["pid"] != seen[1]["pid"] and os.getpid() not in (seen[0]["pid"], seen[1]["pid"])
    assert all(s["preloaded"] == parallel.PRELOAD for s in seen)
