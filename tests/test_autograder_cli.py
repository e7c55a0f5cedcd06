"""Problem set 1 end to end: release, grade a class, export; proven by wrong solutions."""
import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import COURSE, FIXTURES, class_folder, env_for, make_course, run_cli

PS = "ps01-language-models"
NB = f"{PS}.ipynb"
SOURCE = COURSE / "source" / PS / NB

# What each committed fixture must score, and why (out of 10):
EXPECTED = {
    "reference": 10,            # the source notebook itself
    "blank": 0,                 # the release, handed in untouched
    "alternative-correct": 10,  # right answers written differently (numpy, set comprehension)
    "positions": 8,             # counts positions, as the notes do: part 1 visible (1) + hidden (1) lost
    "add-k-without-v": 5,       # add-k denominator without V: add-k visible (1) + hidden (2),
                                # valid_ppl (1) and best_k (1) lost; perplexity itself is right
    "uniform-backoff": 9,       # still sums to one (visible passes), hidden absolute-discount test (1) lost
}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """One class graded once: reference, blank release and every fixture."""
    tmp = tmp_path_factory.mktemp("ps01")
    course = make_course(tmp / "course")
    release = run_cli(course, "release", PS)
    assert release.returncode == 0, release.stderr
    released = course / "release" / PS / NB
    notebooks = {"reference": SOURCE, "blank": released}
    notebooks.update({p.stem: p for p in (FIXTURES / PS).glob("*.ipynb")})
    folder = class_folder(tmp / "class", notebooks)
    before = {p: p.read_bytes() for p in folder.rglob("*.ipynb")}
    grade = run_cli(course, "grade", PS, str(folder))
    export = run_cli(course, "export", "--to", str(tmp / "grades.csv"))
    with open(tmp / "grades.csv") as f:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    return dict(course=course, released=released, folder=folder, before=before,
                grade=grade, export=export, scores=scores)


def test_every_fixture_scores_exactly_its_predicted_marks(graded_class):
    assert graded_class["grade"].returncode == 0, graded_class["grade"].stdout + graded_class["grade"].stderr
    assert graded_class["scores"] == {k: float(v) for k, v in EXPECTED.items()}


def test_every_committed_fixture_has_a_prediction():
    assert {p.stem for p in (FIXTURES / PS).glob("*.ipynb")} <= EXPECTED.keys()


def test_grade_prints_a_score_table(graded_class):
    out = graded_class["grade"].stdout
    assert "reference" in out and f"{len(EXPECTED)} of {len(EXPECTED)} submissions graded" in out


def test_grading_never_modifies_a_submission(graded_class):
    assert {p: p.read_bytes() for p in graded_class["folder"].rglob("*.ipynb")} == graded_class["before"]


def test_release_has_no_solution_and_no_hidden_test(graded_class):
    text = graded_class["released"].read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "autograder.checks", "count_ngrams(tokens, k)"):
        assert marker not in text, marker
    nb = nbformat.read(graded_class["released"], as_version=4)
    stubs = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)


def test_every_part_has_points_and_the_total_is_ten():
    nb = nbformat.read(SOURCE, as_version=4)
    points = [c.metadata["nbgrader"]["points"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert all(p > 0 for p in points) and sum(points) == 10


def test_test_cells_start_with_a_docstring():
    nb = nbformat.read(SOURCE, as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all(c.source.startswith('"""') for c in tests)


def test_export_writes_one_row_per_student(graded_class):
    assert graded_class["export"].returncode == 0, graded_class["export"].stderr
    assert len(graded_class["scores"]) == len(EXPECTED)


def test_lms_zip_is_graded_like_a_folder(course, tmp_path):
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # Canvas names: <student>_<ids>_<original name>
        zf.write(SOURCE, f"submissions/carol_123_456_{NB}")
        zf.write(FIXTURES / PS / "positions.ipynb", f"submissions/dave_124_457_{NB}")
        zf.writestr("submissions/__MACOSX/._carol_123_456_x.ipynb", b"\0")
    proc = run_cli(course, "grade", PS, str(archive))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "carol" in proc.stdout and "dave" in proc.stdout
    rows = {ln.split()[0]: ln.split()[1] for ln in proc.stdout.splitlines() if ln.endswith("  graded")}
    assert rows == {"carol": "10", "dave": "8"}


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
    assert proc.returncode == 1  # not every submission could be graded
    assert f"frank" in proc.stdout and "not a notebook (not JSON" in proc.stdout
    assert any(ln.split()[:2] == ["erin", "10"] for ln in proc.stdout.splitlines())


def test_a_single_file_that_is_not_a_zip_is_refused(course, tmp_path):
    bogus = tmp_path / "class.txt"
    bogus.write_text("hello")
    proc = run_cli(course, "grade", PS, str(bogus))
    assert proc.returncode == 2 and "neither a folder" in proc.stderr


def test_calibrated_expectations_match_the_reference_solution(tmp_path):
    """CI re-runs the reference: it must still give the recorded values within their tolerances."""
    from autograder import checks

    committed = checks.load_expectations(PS)
    proc = subprocess.run([sys.executable, "-m", "autograder", "calibrate", PS, "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env_for(COURSE), timeout=600)
    assert proc.returncode == 0, proc.stderr
    fresh = json.loads((tmp_path / f"{PS}.json").read_text())
    assert fresh["checks"].keys() == committed["checks"].keys()
    for name, rec in fresh["checks"].items():
        assert checks.verdict(PS, name, rec["value"], committed) is None, name


def test_stock_nbgrader_grades_reference_full_and_release_zero(tmp_path):
    """The check a course maintainer runs by hand: nbgrader's own commands, no wrapper."""
    course = make_course(tmp_path / "course")
    env = env_for(course)

    def nbgrader(*args):
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]

    nbgrader("generate_assignment", PS)
    for student, nb in (("alice", SOURCE), ("bob", course / "release" / PS / NB)):
        (course / "submitted" / student / PS).mkdir(parents=True)
        (course / "submitted" / student / PS / NB).write_bytes(nb.read_bytes())
    nbgrader("autograde", PS)
    nbgrader("export", "--to", str(tmp_path / "grades.csv"))
    with open(tmp_path / "grades.csv") as f:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    assert scores == {"alice": 10.0, "bob": 0.0}
