"""A term through an LMS: Canvas and Moodle exports in, due dates and late penalties, grades out.

The exports are made here, as each LMS names its files (no real student data): Unicode names,
two students with the same name, a late submission, a re-upload, a file that is not a notebook.
The slow tests grade one class per LMS with ps01 (the fastest assignment) and predict every score
and penalty from the course's policy (exercises/nbgrader_config.py: 10% of the score per started
day late).
"""
from __future__ import annotations

import csv
import hashlib
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from autograder.course import UsageError
from autograder.late import LatePenalty, describe
from autograder.submissions import STUDENT_ID, collect, detect, safe_id
from conftest import COURSE, FIXTURES, grade_table, run_cli

PS = "ps01-language-models"
NB = f"{PS}.ipynb"
SOURCE = COURSE / "source" / PS / NB
WRONG = FIXTURES / PS / "positions.ipynb"  # predicted 8 of 10 (tests/fixtures/ps01-language-models)
ZOE = "Zoë O’Neil 学生"
DUE = "2026-12-01 23:59:00 UTC"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def canvas_zip(path: Path) -> Path:
    """Canvas's "Download Submissions": <sortable name>[_LATE]_<user id>_<attachment id>_<file>."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(WRONG, f"oneilzoë学生_LATE_4521_88120_{NB}")            # her first upload...
        zf.write(SOURCE, f"oneilzoë学生_LATE_4521_88123_{PS}-1.ipynb")   # ...replaced by a re-upload
        zf.write(WRONG, f"smithjane_4522_88124_{NB}")
        zf.write(SOURCE, "smithjane_4523_88125_answers.ipynb")          # same name, another student
        zf.writestr("smithjane_4523_88126_notes.pdf", b"%PDF-1.4\n")
        zf.writestr("doejohn_4524_88127_notes.pdf", b"%PDF-1.4\n")      # no notebook at all
    return path


def canvas_roster(path: Path) -> Path:
    """Canvas's gradebook export: the students, the assignment's column, Points Possible, a Test Student."""
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{PS} (9001)", "Current Score"],
            ["    Points Possible", "", "", "", "", "10.00", "(read only)"],
            ["O’Neil, Zoë 学生", "4521", "s4521", "zoe@uni.example", "A", "", ""],
            ["Smith, Jane", "4522", "s4522", "jane1@uni.example", "A", "", ""],
            ["Smith, Jane", "4523", "s4523", "jane2@uni.example", "B", "", ""],
            ["Doe, John", "4524", "s4524", "john@uni.example", "B", "", ""],
            ["Nakamura, Aiko", "4525", "s4525", "aiko@uni.example", "B", "", ""],
            ["Student, Test", "4599", "", "", "A", "", ""]]
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def moodle_zip(path: Path) -> Path:
    """Moodle's "Download all submissions", in folders (with and without the trailing _)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(SOURCE, f"{ZOE}_12345_assignsubmission_file_/{NB}")
        zf.write(WRONG, f"Jane Smith_12346_assignsubmission_file_/{NB}")
        zf.write(SOURCE, f"Jane Smith_12347_assignsubmission_file/{NB}")
        zf.writestr("Jane Smith_12347_assignsubmission_onlinetext_/onlinetext.html", b"<p>see notebook</p>")
    return path


def moodle_worksheet(path: Path) -> Path:
    """Moodle's grading worksheet, as downloaded (UTF-8 with a BOM), times in Europe/Berlin."""
    head = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
            "Last modified (submission)", "Online text", "Last modified (grade)", "Feedback comments"]
    rows = [head,
            ["Participant 12345", ZOE, "zoe@uni.example", "Submitted for grading", "", "10.00", "Yes",
             "Wednesday, 3 December 2026, 1:30 AM", "", "-", ""],   # 00:30 UTC on the 3rd: 1 d 00:31 late
            ["Participant 12346", "Jane Smith", "jane1@uni.example", "Submitted for grading", "", "10.00", "Yes",
             "Monday, 1 December 2026, 11:00 PM", "", "-", ""],     # 22:00 UTC: on time
            ["Participant 12347", "Jane Smith", "jane2@uni.example", "Submitted for grading", "", "10.00", "Yes",
             "Wednesday, 2 December 2026, 12:59 AM", "", "-", ""],  # 23:59 UTC: exactly on time
            ["Participant 12348", "Aiko Nakamura", "aiko@uni.example", "No submission", "", "10.00", "Yes",
             "-", "", "-", ""]]
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows(rows)
    return path


# --- intake: fast, nothing graded ------------------------------------------------------------------------

def test_canvas_zip_keys_on_the_user_id_and_keeps_flags_reuploads_and_other_files(tmp_path):
    archive = canvas_zip(tmp_path / "canvas.zip")
    layout, subs = collect(archive)
    by = {s.student: s for s in subs}
    assert layout == "canvas" and sorted(by) == ["4521", "4522", "4523", "4524"]
    assert by["4521"].late_flag and not by["4522"].late_flag
    assert by["4521"].data == SOURCE.read_bytes()  # the re-upload (-1) replaces the first file
    assert by["4522"].name == by["4523"].name == "smithjane"  # same name, two students
    assert by["4523"].others == ["notes.pdf"] and by["4523"].data == SOURCE.read_bytes()
    assert by["4524"].data == b"" and "no notebook submitted (received: notes.pdf)" in by["4524"].problem


@pytest.mark.parametrize("folders", [True, False], ids=["folders", "flat"])
def test_moodle_zip_keys_on_the_participant_id_and_keeps_the_name_as_written(tmp_path, folders):
    archive = tmp_path / "moodle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        sep = "/" if folders else ""
        zf.write(SOURCE, f"{ZOE}_12345_assignsubmission_file_{sep}{NB}")
        zf.write(WRONG, f"Jane Smith_12346_assignsubmission_file_{sep}{NB}")
        zf.writestr(f"O'Brien-Ní Dhuinn, Seán_12349_assignsubmission_file_{sep}slides.pptx", b"PK")
    layout, subs = collect(archive)
    by = {s.student: s for s in subs}
    assert layout == "moodle" and sorted(by) == ["12345", "12346", "12349"]
    assert by["12345"].name == ZOE and by["12345"].data == SOURCE.read_bytes()
    assert by["12349"].name == "O'Brien-Ní Dhuinn, Seán" and by["12349"].others == ["slides.pptx"]


def test_moodle_folder_without_the_trailing_underscore_is_read(tmp_path):
    layout, subs = collect(moodle_zip(tmp_path / "m.zip"))
    by = {s.student: s for s in subs}
    assert layout == "moodle" and by["12347"].data == SOURCE.read_bytes()
    assert by["12347"].others == ["onlinetext.html"]  # reported, not dropped


def test_folders_keep_any_name_under_a_safe_stable_id_and_read_timestamp_txt(tmp_path):
    for name in (ZOE, "a b", "-rf", "alice"):
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / NB).write_bytes(SOURCE.read_bytes())
    (tmp_path / "class" / "alice" / "timestamp.txt").write_text("2026-12-02 10:00:00.000000 UTC\n")
    layout, subs = collect(tmp_path / "class")
    by = {s.name: s for s in subs}
    assert layout == "folders" and sorted(by) == sorted([ZOE, "a b", "-rf", "alice"])
    assert by["alice"].student == "alice" and by["alice"].timestamp == "2026-12-02 10:00:00.000000 UTC"
    for name, s in by.items():
        assert STUDENT_ID.fullmatch(s.student) and s.data == SOURCE.read_bytes(), (name, s.student)
    assert len({s.student for s in subs}) == 4
    assert safe_id(ZOE) == by[ZOE].student == safe_id(ZOE)  # stable: the same name, the same id
    assert safe_id("Zoë") != safe_id("Zoe")  # two names never share an id


def test_layout_is_detected_and_a_forced_layout_reports_what_does_not_fit(tmp_path):
    archive = canvas_zip(tmp_path / "canvas.zip")
    assert collect(archive)[0] == "canvas"
    layout, subs = collect(archive, "moodle")
    assert layout == "moodle" and all(s.data is None and "Moodle names" in s.problem for s in subs)
    assert collect(moodle_zip(tmp_path / "m.zip"))[0] == "moodle"


def test_late_penalty_policies():
    day = 24 * 3600
    percent = LatePenalty(penalty_method="percent_per_day", percent_per_day=10, max_days_late=5)
    assert percent.late_submission_penalty("s", 10, 1) == 1           # a started day counts
    assert percent.late_submission_penalty("s", 10, day + 60) == 2
    assert percent.late_submission_penalty("s", 10, 5 * day) == 5
    assert percent.late_submission_penalty("s", 10, 5 * day + 1) == 10  # past the last day: all of it
    assert LatePenalty(penalty_method="zero").late_submission_penalty("s", 7, 1) == 7
    assert LatePenalty(penalty_method="none").late_submission_penalty("s", 7, 1) is None
    assert describe(0) == "on time" and describe(day + 31 * 60) == "1 d 00:31 late"


def test_moodle_times_are_read_in_the_exporters_time_zone():
    from autograder.cli import _moodle_time
    berlin = ZoneInfo("Europe/Berlin")
    assert _moodle_time("Wednesday, 3 December 2026, 1:30 AM", berlin) == "2026-12-03 00:30:00.000000 UTC"
    assert _moodle_time("Wednesday, 3 December 2026, 1:30 AM", ZoneInfo("UTC")) == "2026-12-03 01:30:00.000000 UTC"
    assert _moodle_time("-", berlin) is None
    with pytest.raises(UsageError, match="not a date Moodle writes"):
        _moodle_time("yesterday", berlin)


def test_due_sets_the_gradebook_and_nbgrader_reads_it(course):
    proc = run_cli(course, "due", PS, "2026-12-01 23:59:00 Europe/Berlin")
    assert proc.returncode == 0, proc.stderr
    assert f"{PS} is due 2026-12-01 22:59:00 UTC" in proc.stdout
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_assignment(PS).duedate == datetime(2026, 12, 1, 22, 59)
    bad = run_cli(course, "due", PS, "2026-12-01 23:59:00 Mars/Olympus")
    assert bad.returncode == 2 and "unknown time zone 'Mars/Olympus'" in bad.stderr and bad.stderr.count("\n") == 1


# --- a term: slow, one class graded per LMS ---------------------------------------------------------------

def _rows(proc) -> dict[str, dict]:
    return {r["student"]: r for r in grade_table(proc.stdout)}


@pytest.mark.slow
def test_a_canvas_term_from_the_export_to_the_gradebook_import(course, tmp_path):
    archive, roster = canvas_zip(tmp_path / "canvas.zip"), canvas_roster(tmp_path / "gradebook.csv")
    before = {p: sha(p) for p in (archive, roster)}
    assert run_cli(course, "due", PS, DUE).returncode == 0
    proc = run_cli(course, "grade", PS, str(archive), "--roster", str(roster))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 4524 sent no notebook: the instructor must look
    rows = _rows(proc)
    # late by Canvas's flag: one started day at 10% of 10; the others on time
    assert {s: (r["score"], r["late"]) for s, r in rows.items()} == {
        "4521": ("9", "late (Canvas's flag), -1"), "4522": ("8", "-"), "4523": ("10", "-"), "4524": ("0", "-")}
    assert rows["4521"]["name"] == "O’Neil, Zoë 学生" and rows["4523"]["name"] == "Smith, Jane"  # the roster's
    assert "notes.pdf" in rows["4523"]["status"] and "notes.pdf" in rows["4524"]["status"]
    out = tmp_path / "canvas-import.csv"
    proc = run_cli(course, "export", "--format", "canvas", "--to", str(out), "--roster", str(roster))
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{PS} (9001)"]
    assert table[1][0] == "    Points Possible" and table[1][5] in ("10", "10.0", "10.00")
    grades = {r[1]: r[5] for r in table[2:]}
    assert {k: float(v) if v else None for k, v in grades.items()} == {
        "4521": 9.0, "4522": 8.0, "4523": 10.0, "4524": 0.0, "4525": None}
    assert {p: sha(p) for p in (archive, roster)} == before  # the inputs are never modified


@pytest.mark.slow
def test_a_moodle_term_from_the_export_to_the_worksheet_import(course, tmp_path):
    archive, sheet = moodle_zip(tmp_path / "moodle.zip"), moodle_worksheet(tmp_path / "worksheet.csv")
    before = {p: sha(p) for p in (archive, sheet)}
    assert run_cli(course, "due", PS, DUE).returncode == 0
    proc = run_cli(course, "grade", PS, str(archive), "--roster", str(sheet), "--timezone", "Europe/Berlin")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _rows(proc)
    # 12345: 1 d 00:31 late = 2 started days, 20% of 10; 12346 and 12347 on time (12347 to the minute)
    assert {s: (r["score"], r["submitted"], r["late"]) for s, r in rows.items()} == {
        "12345": ("8", "2026-12-03 00:30", "1 d 00:31 late, -2"),
        "12346": ("8", "2026-12-01 22:00", "on time"),
        "12347": ("10", "2026-12-01 23:59", "on time")}
    assert rows["12345"]["name"] == ZOE and "onlinetext.html" in rows["12347"]["status"]
    out = tmp_path / "worksheet-import.csv"
    proc = run_cli(course, "export", "--format", "moodle", "--assignment", PS, "--to", str(out),
                   "--roster", str(sheet))
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="", encoding="utf-8-sig") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                              "Grade can be changed", "Last modified (submission)", "Online text",
                              "Last modified (grade)", "Feedback comments"]
    grades = {r["Identifier"]: r["Grade"] for r in table}
    assert {k: float(v) if v else None for k, v in grades.items()} == {
        "Participant 12345": 8.0, "Participant 12346": 8.0, "Participant 12347": 10.0, "Participant 12348": None}
    assert {p: sha(p) for p in (archive, sheet)} == before
    assert run_cli(course, "feedback", PS).returncode == 0
    page = (course / "feedback" / "12345" / PS / f"{PS}.html").read_text(encoding="utf-8")
    assert "Submitted</strong> 2026-12-03 00:30 UTC, due 2026-12-01 23:59 UTC: 1 d 00:31 late; " \
           "late penalty -2 points" in page
    assert "1 d 00:31 late" not in (course / "feedback" / "12346" / PS / f"{PS}.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_broken_environment_stops_grading_before_any_student_is_graded(course, tmp_path):
    """The preflight: the reference is graded first; when it cannot score full marks (here every cell
    may run 1 ms), grade stops with one line and the gradebook has no student."""
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.Execute.timeout = 0.001\n")
    proc = run_cli(course, "grade", PS, str(canvas_zip(tmp_path / "canvas.zip")))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("autograder grade: error: preflight: the reference solution") and "nothing was graded" in line
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_assignment(PS).submissions == []
    assert not (course / "autograded").exists()


def test_a_graded_student_not_on_the_roster_is_added_and_named(tmp_path, monkeypatch):
    import os
    import sys
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))  # alembic
    from autograder import lms
    from autograder.cli import _register
    from autograder.submissions import Submission
    from nbgrader.api import Gradebook

    roster = lms.read_roster(canvas_roster(tmp_path / "gradebook.csv"))
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    found = [Submission("4521", "x", b"{}", name="oneilzoë学生", lms_id="4521"),
             Submission("7777", "y", b"{}", name="latecomerlee", lms_id="7777")]
    notes = _register(found, roster, db)
    assert notes == ["not on the roster, added: 7777 (latecomerlee)"]
    with Gradebook(db) as gb:
        assert gb.find_student("7777").last_name == "latecomerlee"
        zoe = gb.find_student("4521")  # the roster's names win over the file name's
        assert (zoe.first_name, zoe.last_name, zoe.email) == ("Zoë 学生", "O’Neil", "zoe@uni.example")
