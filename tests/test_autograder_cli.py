"""The instructor CLI as a user meets it: LMS zips, bad input, and stock nbgrader on the same course."""
import csv
import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import COURSE, FIXTURES, class_folder, grade_table, make_course, run_cli, run_nbgrader

PS = "ps01-language-models"
NB = f"{PS}.ipynb"
SOURCE = COURSE / "source" / PS / NB


def test_lms_zip_is_graded_like_a_folder(course, tmp_path):
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # Canvas names: <student>_<user id>_<attachment id>_<original name>
        zf.write(SOURCE, f"submissions/carol_123_456_{NB}")
        zf.write(FIXTURES / PS / "positions.ipynb", f"submissions/dave_124_457_{NB}")
        zf.writestr("submissions/__MACOSX/._carol_123_456_x.ipynb", b"\0")
    proc = run_cli(course, "grade", PS, str(archive))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["student"]: (r["score"], r["name"]) for r in grade_table(proc.stdout) if r["status"] == "graded"}
    assert rows == {"123": ("10", "carol"), "124": ("8", "dave")}  # the Canvas user id is the key


@pytest.mark.parametrize("args, message", [
    (("grade", "ps99-nothing", "."), "unknown assignment 'ps99-nothing'"),
    (("grade", PS, "no/such/folder"), "no/such/folder: no such file or folder"),
    (("release", "ps99-nothing"), "unknown assignment 'ps99-nothing'"),
    (("export", "--to", "no/such/dir/grades.csv"), "no such folder for the grades file"),
])
def test_bad_input_gets_one_line_naming_it(course, args, message):
    proc = run_cli(course, *args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_file_that_is_not_a_notebook_is_named_and_the_rest_graded(course, tmp_path):
    folder = class_folder(tmp_path / "class", {"erin": SOURCE})
    (tmp_path / "class" / "frank").mkdir()
    (tmp_path / "class" / "frank" / NB).write_text("this is not JSON")
    proc = run_cli(course, "grade", PS, str(folder))
    assert proc.returncode == 1  # not every submission could be read: the instructor must look
    assert any(ln.split()[:2] == ["frank", "0"] and "graded as blank: not a notebook (not JSON" in ln
               for ln in proc.stdout.splitlines()), proc.stdout
    assert any(ln.split()[:2] == ["erin", "10"] for ln in proc.stdout.splitlines())


def test_a_single_file_that_is_not_a_zip_is_refused(course, tmp_path):
    bogus = tmp_path / "class.txt"
    bogus.write_text("hello")
    proc = run_cli(course, "grade", PS, str(bogus))
    assert proc.returncode == 2 and "neither a folder" in proc.stderr


@pytest.mark.slow
def test_stock_nbgrader_grades_reference_full_and_release_zero(tmp_path):
    """The check a course maintainer runs by hand: nbgrader's own commands, no wrapper."""
    course = make_course(tmp_path / "course")

    def nbgrader(*args):
        run_nbgrader(course, *args)

    nbgrader("generate_assignment", PS)
    for student, nb in (("alice", SOURCE), ("bob", course / "release" / PS / NB)):
        (course / "submitted" / student / PS).mkdir(parents=True)
        (course / "submitted" / student / PS / NB).write_bytes(nb.read_bytes())
    nbgrader("autograde", PS)
    nbgrader("export", "--to", str(tmp_path / "grades.csv"))
    with open(tmp_path / "grades.csv") as f:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    assert scores == {"alice": 10.0, "bob": 0.0}


@pytest.mark.slow
def test_a_library_warning_would_cost_points_without_quiet_warnings(tmp_path):
    """The control for fixture correct-with-warning (10/10): the same notebook graded
    in a course whose setup cell does not call quiet_warnings() loses the visible
    add-k test (1): its stderr carries numpy's DeprecationWarning (IPython shows it
    again in every cell). The hidden add-k test (2) keeps its points: its verdict
    comes from the recorded values, outside the kernel (autograder.verdict)."""
    course = make_course(tmp_path / "course")
    source = course / "source" / PS / NB
    nb = nbformat.read(source, as_version=4)
    (setup,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    assert "\nquiet_warnings()" in setup.source
    setup.source = setup.source.replace("\nquiet_warnings()", "\n# quiet_warnings()")
    nbformat.write(nb, source)
    folder = class_folder(tmp_path / "class", {"gina": FIXTURES / PS / "correct-with-warning.ipynb"})
    proc = run_cli(course, "grade", PS, str(folder))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(ln.split()[:2] == ["gina", "9"] for ln in proc.stdout.splitlines()), proc.stdout
