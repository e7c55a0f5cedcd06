"""Rosters in from Canvas and Moodle, grades and feedback files back out (autograder.lms).

The rosters are made here (no real data), shaped like canvas-lms's GradebookExporter and Moodle's
grading worksheet download; the checks follow their importers (see autograder/lms.py)."""
import csv
import hashlib
import io
import os
import shutil
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder import lms
from autograder.course import UsageError
from conftest import COURSE, make_course, run_cli, run_nbgrader

PS = "ps01-language-models"
PS2 = "ps02-ngram-smoothing"  # in the gradebook, not in the Canvas roster: a new Canvas column

CANVAS_HEADER = ("Student,ID,SIS User ID,SIS Login ID,Section,ps01-language-models (4521),Essay (4522),"
                 "Current Points,Final Points,Current Score,Unposted Current Score,Final Score,"
                 "Unposted Final Score")
CANVAS = "\n".join([
    CANVAS_HEADER,
    ",,,,,Manual Posting,,,,,,,",
    "    Points Possible,,,,,10.00,20.00,(read only),(read only),(read only),(read only),(read only),(read only)",
    '"O’Neil, Zoë 学生",1001,S-1001,zoe.oneil@example.edu,Section A,,,0.00,0.00,0.00,0.00,0.00,0.00',
    '"Smith, Alex",1002,S-1002,asmith@example.edu,Section A,5.00,,5.00,5.00,50.00,50.00,16.67,16.67',
    '"Smith, Alex",1003,S-1003,alex.smith2,Section B,,,0.00,0.00,0.00,0.00,0.00,0.00',
    '"Nguyen-Tran, Mai-Anh",1004,,mnguyen@example.edu,"Section A and Section B",,,0.00,0.00,0.00,0.00,0.00,0.00',
    '"Student, Test",1099,,5f0c8e1d2b3a4c5d6e7f8091a2b3c4d5e6f70819,Section A,,,0.00,0.00,0.00,0.00,0.00,0.00',
]) + "\n"

MOODLE_HEADER = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                 "Grade can be changed", "Last modified (submission)", "Online text", "Last modified (grade)",
                 "Feedback comments"]
MOODLE_ROWS = [
    ["Participant 2001", "Zoë 学生 O’Neil", "zoe.oneil@example.edu", "Submitted for grading", "", "10.00",
     "Yes", "Friday, 7 March 2025, 3:05 PM", "", "-", ""],
    ["Participant 2002", "Alex Smith", "asmith@example.edu", "Submitted for grading - Graded", "5.00", "10.00",
     "Yes", "Friday, 7 March 2025, 11:58 PM", "", "Saturday, 8 March 2025, 9:00 AM", "Good start, see me"],
    ["Participant 2003", "Alex Smith", "alex.smith2@example.edu", "No submission", "", "10.00", "Yes", "-",
     "", "-", "Spoke in class"],
    ["Participant 2004", "Mai-Anh D'Arcy_Nguyen", "mnguyen@example.edu", "Submitted for grading", "",
     "10.00", "Yes", "Thursday, 6 March 2025, 10:00 AM", "", "-", ""],
]


def moodle_text(rows=MOODLE_ROWS, header=MOODLE_HEADER) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return "\ufeff".encode() + buf.getvalue().encode()  # Moodle's download starts with a BOM


@pytest.fixture
def canvas_roster(tmp_path):
    path = tmp_path / "canvas gradebook export.csv"
    path.write_text(CANVAS, encoding="utf-8")
    return path


@pytest.fixture
def moodle_sheet(tmp_path):
    path = tmp_path / "Grades-SEQ101-ps01-42.csv"
    path.write_bytes(moodle_text())
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gradebook(db_url: str, grades: dict, assignment: str = PS, max_score: float = 10) -> None:
    """An assignment of one notebook with one 10-point cell, and {student: (points, late penalty)}."""
    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(assignment)
        gb.add_notebook(assignment, assignment)
        gb.add_grade_cell("answer", assignment, assignment, max_score=max_score, cell_type="code")
        for student, (points, penalty) in grades.items():
            gb.update_or_create_student(student)
            gb.add_submission(assignment, student)
            gb.find_grade("answer", assignment, assignment, student).auto_score = points
            gb.find_submission_notebook(assignment, assignment, student).late_submission_penalty = penalty
            gb.db.commit()


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    """nbgrader's Gradebook runs `alembic` by name, as `python -m autograder` lets it (cli.main)."""
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


@pytest.fixture(scope="session")
def empty_gradebook(tmp_path_factory) -> Path:
    """An empty nbgrader gradebook, made once (a new one runs `alembic`, seconds on a busy machine)."""
    path = tmp_path_factory.mktemp("template") / "gradebook.db"
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with Gradebook(f"sqlite:///{path}"):
        pass
    return path


@pytest.fixture
def db_url(tmp_path, empty_gradebook):
    shutil.copy(empty_gradebook, tmp_path / "gradebook.db")
    return f"sqlite:///{tmp_path / 'gradebook.db'}"


def read_csv(path: Path, bom: bool = False) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith("\ufeff".encode()) == bom
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# ---------------------------------------------------------------- reading rosters

def test_canvas_roster_keeps_names_as_written_and_skips_points_and_test_student(canvas_roster):
    roster = lms.read_roster(canvas_roster)
    assert roster.lms == "canvas"
    assert [(e.student_id, e.display_name, e.first_name, e.last_name) for e in roster.entries] == [
        ("1001", "O’Neil, Zoë 学生", "Zoë 学生", "O’Neil"),
        ("1002", "Smith, Alex", "Alex", "Smith"),
        ("1003", "Smith, Alex", "Alex", "Smith"),
        ("1004", "Nguyen-Tran, Mai-Anh", "Mai-Anh", "Nguyen-Tran"),
    ]
    zoe = roster.entries[0]
    assert (zoe.lms_user_id, zoe.sis_user_id, zoe.sis_login_id, zoe.section, zoe.email) == (
        "1001", "S-1001", "zoe.oneil@example.edu", "Section A", "zoe.oneil@example.edu")
    assert roster.entries[2].email == ""  # a login id that is not an address is not an email
    assert roster.entries[3].section == "Section A and Section B"
    assert roster.assignments == {"ps01-language-models": "4521", "Essay": "4522"}  # no total columns
    assert roster.points_possible == {"ps01-language-models": "10.00", "Essay": "20.00"}
    assert roster.skipped == ["the Test Student"]


def test_moodle_worksheet_with_bom_keeps_names_ids_and_submission_times(moodle_sheet):
    roster = lms.read_roster(moodle_sheet)
    assert roster.lms == "moodle" and roster.columns == MOODLE_HEADER  # the BOM is not in the first title
    assert [(e.student_id, e.display_name, e.first_name, e.last_name) for e in roster.entries] == [
        ("2001", "Zoë 学生 O’Neil", "Zoë 学生", "O’Neil"),
        ("2002", "Alex Smith", "Alex", "Smith"),
        ("2003", "Alex Smith", "Alex", "Smith"),
        ("2004", "Mai-Anh D'Arcy_Nguyen", "Mai-Anh", "D'Arcy_Nguyen"),
    ]
    assert [e.lms_user_id for e in roster.entries] == ["2001", "2002", "2003", "2004"]
    assert roster.entries[1].email == "asmith@example.edu"
    assert [e.submitted for e in roster.entries] == [r[7] for r in MOODLE_ROWS]
    assert lms.parse_moodle_time(roster.entries[1].submitted) == datetime(2025, 3, 7, 23, 58)
    assert lms.parse_moodle_time("-") is None


@pytest.mark.parametrize("when, text", [
    (datetime(2025, 3, 7, 15, 5), "Friday, 7 March 2025, 3:05 PM"),
    (datetime(2024, 12, 30, 0, 9), "Monday, 30 December 2024, 12:09 AM"),
    (datetime(2025, 1, 1, 12, 0), "Wednesday, 1 January 2025, 12:00 PM"),
])
def test_moodle_time_is_userdate_format_and_reads_back(when, text):
    assert lms.moodle_time(when) == text
    assert lms.parse_moodle_time(text) == when


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00binary", "not a CSV file"),
    (b"", "empty roster file"),
    (b"name,email\nAda,ada@example.edu\n", "neither a Canvas gradebook export"),
    (b"Student,ID,SIS Login ID,Sect\n\"Smith, Alex\",1002,asmith,A\n", "without the column 'Section'"),
    (b"Student,ID,SIS Login ID,Section\n\"Smith, Alex\",abc,asmith,A\n", "row 2: ID 'abc' is not a Canvas user ID"),
    (b"Student,ID,SIS Login ID,Section\n\"Smith, A\",7,a,A\n\"Smith, B\",7,b,A\n", "rows 2 and 3 have the same"),
    ("\ufeffIdentifier,Full name,Status,Maximum Grade,Last modified (grade)\n".encode(), "without the column 'Grade'"),
    (b"Identifier,Full name,Grade,Last modified (grade)\nParticipant seven,Ada,,-\n", "is not 'Participant <number>'"),
    (b"Identifier,Full name,Grade,Last modified (grade)\nParticipant 7,Ada,\n", "row 2 has 3 cells"),
])
def test_a_malformed_roster_is_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "roster.csv"
    path.write_bytes(content)
    with pytest.raises(UsageError) as err:
        lms.read_roster(path)
    text = str(err.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text, text


def test_a_missing_roster_file_is_named(tmp_path):
    with pytest.raises(UsageError, match="no such roster file"):
        lms.read_roster(tmp_path / "nowhere.csv")


# ---------------------------------------------------------------- storing rosters

def test_roster_is_stored_as_nbgrader_students_and_updated_not_duplicated(canvas_roster, moodle_sheet,
                                                                          db_url, tmp_path):
    canvas = lms.read_roster(canvas_roster)
    assert lms.store_roster(canvas, db_url) == (4, 0)
    assert lms.store_roster(canvas, db_url) == (0, 0)  # the same roster again changes nothing
    assert lms.store_roster(lms.read_roster(moodle_sheet), db_url) == (4, 0)
    with Gradebook(db_url) as gb:
        stored = {s.id: (s.first_name, s.last_name, s.email, s.lms_user_id) for s in gb.students}
    assert stored["1001"] == ("Zoë 学生", "O’Neil", "zoe.oneil@example.edu", "1001")
    assert stored["1003"] == ("Alex", "Smith", None, "1003")
    assert stored["2004"] == ("Mai-Anh", "D'Arcy_Nguyen", "mnguyen@example.edu", "2004")
    assert len(stored) == 8 and "1099" not in stored  # not the Test Student
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(CANVAS.replace('"Smith, Alex",1003', '"Smith-Jones, Alex",1003'), encoding="utf-8")
    assert lms.store_roster(lms.read_roster(renamed), db_url) == (0, 1)
    with Gradebook(db_url) as gb:
        assert gb.find_student("1003").last_name == "Smith-Jones"


# ---------------------------------------------------------------- Canvas export

@pytest.fixture
def graded(db_url, canvas_roster):
    """Canvas students in the gradebook; 1001 9/10, 1002 7.5 with a late penalty of 1, 1003 and
    1004 nothing, 'alice' (graded from a folder, not on the roster) 4; ps02 only for 1004."""
    lms.store_roster(lms.read_roster(canvas_roster), db_url)
    gradebook(db_url, {"1001": (9, 0), "1002": (7.5, 1), "alice": (4, 0)})
    gradebook(db_url, {"1004": (3, 0)}, assignment=PS2, max_score=5)
    return db_url


@pytest.mark.parametrize("missing, blank", [("empty", ""), ("zero", "0")])
def test_canvas_export_is_canvas_import_shaped_with_every_roster_student(graded, canvas_roster, tmp_path,
                                                                         missing, blank):
    before = digest(canvas_roster)
    out, said = tmp_path / "canvas import.csv", []
    n = lms.export_canvas(graded, out, lms.read_roster(canvas_roster), missing=missing, say=said.append)
    rows = read_csv(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "ps01-language-models (4521)", PS2]
    assert rows[1] == ["    Points Possible", "", "", "", "", "10.00", "5"]
    assert rows[2:] == [
        ["O’Neil, Zoë 学生", "1001", "S-1001", "zoe.oneil@example.edu", "Section A", "9", blank],
        ["Smith, Alex", "1002", "S-1002", "asmith@example.edu", "Section A", "6.5", blank],
        ["Smith, Alex", "1003", "S-1003", "alex.smith2", "Section B", blank, blank],
        ["Nguyen-Tran, Mai-Anh", "1004", "", "mnguyen@example.edu", "Section A and Section B", blank, "3"],
        ["alice", "", "", "", "", "4", blank],
    ]
    assert n == 5 and digest(canvas_roster) == before
    assert f"{PS}: Canvas column '{PS} (4521)'" in said
    assert any(s.startswith(f"{PS2}: no Canvas column titled") and "new assignment column" in s for s in said)
    assert any("not on the roster" in s and "alice" in s for s in said)
    # Canvas's importer reads it back as it reads its own export: same students, same column ids
    out.write_text(out.read_text(encoding="utf-8").replace("alice,,,,,4", "\"Doe, Alice\",1010,,,,4"),
                   encoding="utf-8")  # an ID for the extra row: the roster reader wants one for every student
    again = lms.read_roster(out)
    assert [(e.student_id, e.display_name) for e in again.entries[:4]] == [
        (e.student_id, e.display_name) for e in lms.read_roster(canvas_roster).entries]
    assert again.assignments[PS] == "4521"


def test_canvas_export_of_one_assignment_warns_when_canvas_has_other_points(graded, tmp_path):
    roster = tmp_path / "canvas.csv"
    roster.write_text(CANVAS.replace("    Points Possible,,,,,10.00", "    Points Possible,,,,,20.00"),
                      encoding="utf-8")
    said = []
    lms.export_canvas(graded, tmp_path / "out.csv", lms.read_roster(roster), assignment=PS, say=said.append)
    rows = read_csv(tmp_path / "out.csv")
    assert rows[0][5:] == [f"{PS} (4521)"] and rows[1][5:] == ["20.00"]  # Canvas's own points kept
    assert any("out of 20.00 points" in s for s in said), said


def test_canvas_export_protects_a_name_starting_with_equals(db_url, tmp_path):
    roster = tmp_path / "canvas.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n"
                      '"=""=HYPERLINK(1), Eve""",1005,,eve,A\n', encoding="utf-8")  # Canvas's ="name"
    parsed = lms.read_roster(roster)
    assert [(e.display_name, e.last_name, e.first_name) for e in parsed.entries] == [
        ("=HYPERLINK(1), Eve", "=HYPERLINK(1)", "Eve")]
    gradebook(db_url, {})
    lms.export_canvas(db_url, tmp_path / "out.csv", parsed, say=lambda s: None)
    assert read_csv(tmp_path / "out.csv")[2][:2] == ['="=HYPERLINK(1), Eve"', "1005"]


# ---------------------------------------------------------------- Moodle export

@pytest.fixture
def moodle_graded(db_url, moodle_sheet):
    lms.store_roster(lms.read_roster(moodle_sheet), db_url)
    gradebook(db_url, {"2001": (9, 0), "2002": (7.5, 1), "2004": (10, 0), "bob": (6, 0)})
    return db_url


@pytest.mark.parametrize("missing", ["empty", "zero"])
def test_moodle_export_fills_the_worksheet_in_its_own_columns(moodle_graded, moodle_sheet, tmp_path, missing):
    before = digest(moodle_sheet)
    now = datetime(2025, 3, 10, 14, 7)
    out, said = tmp_path / "worksheet.csv", []
    graded = lms.export_moodle(moodle_graded, out, lms.read_roster(moodle_sheet), PS, missing, now=now,
                               say=said.append)
    rows = read_csv(out, bom=True)
    assert rows[0] == MOODLE_HEADER
    assert [r[0] for r in rows[1:]] == ["Participant 2001", "Participant 2002", "Participant 2003",
                                        "Participant 2004"]
    col = {c: i for i, c in enumerate(MOODLE_HEADER)}
    assert [r[col["Grade"]] for r in rows[1:]] == ["9.00", "6.50", "" if missing == "empty" else "0.00", "10.00"]
    assert {r[col["Last modified (grade)"]] for r in rows[1:]} == {"Monday, 10 March 2025, 2:07 PM"}
    comments = [r[col["Feedback comments"]] for r in rows[1:]]
    assert comments[0] == "Autograded score: 9 / 10. See the feedback file for the checks and hints."
    assert "6.5 / 10" in comments[1] and "late penalty of 1" in comments[1] and "feedback file" in comments[1]
    assert comments[2] == ("Spoke in class" if missing == "empty" else "No submission graded: 0 / 10.")
    # everything else as Moodle wrote it, names and all
    for old, new in zip(MOODLE_ROWS, rows[1:]):
        keep = [i for c, i in col.items() if c not in ("Grade", "Last modified (grade)", "Feedback comments")]
        assert [new[i] for i in keep] == [old[i] for i in keep]
    assert graded == (3 if missing == "empty" else 4)
    assert any("not in the worksheet" in s and "bob" in s for s in said)
    assert digest(moodle_sheet) == before


def test_moodle_export_without_feedback_column_or_with_other_decimals(moodle_graded, tmp_path):
    header = [c for c in MOODLE_HEADER if c != "Feedback comments"]
    rows = [[c.replace("10.00", "10,0") for c in r[:-1]] for r in MOODLE_ROWS]
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(moodle_text(rows, header))
    said = []
    lms.export_moodle(moodle_graded, tmp_path / "out.csv", lms.read_roster(sheet), PS, now=datetime(2025, 3, 10),
                      say=said.append)
    out = read_csv(tmp_path / "out.csv", bom=True)
    assert out[0] == header
    assert [r[header.index("Grade")] for r in out[1:]] == ["9,0", "6,5", "", "10,0"]  # the worksheet's decimal mark
    assert any("no 'Feedback comments' column" in s for s in said)


def test_moodle_export_needs_its_worksheet_and_one_assignment(moodle_graded, canvas_roster, moodle_sheet, tmp_path):
    with pytest.raises(UsageError, match="needs --roster"):
        lms.export_moodle(moodle_graded, tmp_path / "o.csv", None, PS)
    with pytest.raises(UsageError, match="needs --roster"):
        lms.export_moodle(moodle_graded, tmp_path / "o.csv", lms.read_roster(canvas_roster), PS)
    with pytest.raises(UsageError, match="needs --assignment"):
        lms.export_moodle(moodle_graded, tmp_path / "o.csv", lms.read_roster(moodle_sheet), None)
    with pytest.raises(UsageError, match="'ps99' is not in the gradebook"):
        lms.export_moodle(moodle_graded, tmp_path / "o.csv", lms.read_roster(moodle_sheet), "ps99")
    assert list(tmp_path.glob("o.csv*")) == []


# ---------------------------------------------------------------- atomic writing

@pytest.mark.parametrize("fmt", ["canvas", "moodle"])
def test_an_export_killed_midway_leaves_no_file_and_keeps_the_old_one(moodle_graded, moodle_sheet, canvas_roster,
                                                                      tmp_path, monkeypatch, fmt):
    real = csv.writer

    def failing_writer(f, **kw):
        w = real(f, **kw)

        class Writer:
            rows = 0

            def writerow(self, row):
                Writer.rows += 1
                if Writer.rows == 3:
                    f.flush()  # some rows are on disk already
                    raise KeyboardInterrupt("killed")
                return w.writerow(row)
        return Writer()

    def export(dest):
        if fmt == "canvas":
            lms.export_canvas(moodle_graded, dest, lms.read_roster(canvas_roster), say=lambda s: None)
        else:
            lms.export_moodle(moodle_graded, dest, lms.read_roster(moodle_sheet), PS, say=lambda s: None)

    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.setattr(lms.csv, "writer", failing_writer)
    with pytest.raises(KeyboardInterrupt):
        export(folder / "grades.csv")
    assert list(folder.iterdir()) == []  # no grades file, no temporary file
    (folder / "grades.csv").write_text("the previous export\n")
    with pytest.raises(KeyboardInterrupt):
        export(folder / "grades.csv")
    assert [p.name for p in folder.iterdir()] == ["grades.csv"]
    assert (folder / "grades.csv").read_text() == "the previous export\n"
    monkeypatch.setattr(lms.csv, "writer", real)
    export(folder / "grades.csv")  # the same export, not interrupted, replaces it
    assert (folder / "grades.csv").read_text() != "the previous export\n"


# ---------------------------------------------------------------- feedback files

def feedback_pages(root: Path, students, assignment=PS) -> None:
    for sid in students:
        page = root / "feedback" / sid / assignment / f"{assignment}.html"
        page.parent.mkdir(parents=True)
        page.write_text(f"<html><body>feedback of {sid}</body></html>", encoding="utf-8")


def moodle_import_match(arcname: str):
    """The rule of Moodle's importziplib.php: per path part, explode('_', part, 5); piece 1 numeric
    is the participant, pieces 2-3 the plugin; the rest of the path is the file name."""
    parts = arcname.split("/")
    while parts:
        info = parts.pop(0).split("_", 4)
        if len(info) >= 4 and info[1].isdigit():
            return info[1], (info[2], info[3]), "/".join([info[4] if len(info) == 5 else "", *parts])
    return None


def test_moodle_feedback_zip_follows_the_upload_rule(moodle_sheet, db_url, tmp_path):
    lms.store_roster(lms.read_roster(moodle_sheet), db_url)
    feedback_pages(tmp_path, ["2001", "2002", "2003", "2004", "bob"])
    said = []
    dest = tmp_path / "moodle feedback.zip"
    assert lms.pack_feedback(tmp_path, db_url, PS, "moodle", dest, say=said.append) == 4
    with zipfile.ZipFile(dest) as zf:
        names = sorted(zf.namelist())
        assert zf.read(names[-1]).decode() == "<html><body>feedback of 2001</body></html>"
    assert names == [
        f"Alex Smith_2002_assignsubmission_file_/{PS}.html",
        f"Alex Smith_2003_assignsubmission_file_/{PS}.html",
        f"Mai-Anh DArcy Nguyen_2004_assignsubmission_file_/{PS}.html",  # Moodle's clean_filename, no '_'
        f"Zoë 学生 O’Neil_2001_assignsubmission_file_/{PS}.html",
    ]
    assert sorted(moodle_import_match(n)[0] for n in names) == ["2001", "2002", "2003", "2004"]
    assert {moodle_import_match(n)[1] for n in names} == {("assignsubmission", "file")}
    assert {moodle_import_match(n)[2] for n in names} == {f"/{PS}.html"}
    assert any("not packed" in s and "bob" in s for s in said)


def test_canvas_feedback_files_carry_the_user_id(canvas_roster, db_url, tmp_path):
    lms.store_roster(lms.read_roster(canvas_roster), db_url)
    gradebook(db_url, {"7": (1, 0)})  # a student id made of digits is its own Canvas id
    feedback_pages(tmp_path, ["1001", "1002", "1003", "7"])
    dest = tmp_path / "canvas.zip"
    assert lms.pack_feedback(tmp_path, db_url, PS, "canvas", dest, say=lambda s: None) == 4
    with zipfile.ZipFile(dest) as zf:
        names = sorted(zf.namelist())
    assert names == ["7_7_feedback.html", "O’Neil, Zoë 学生_1001_feedback.html",
                     "Smith, Alex_1002_feedback.html", "Smith, Alex_1003_feedback.html"]
    # Canvas's infer_comment_context_from_filename: the first all-digit '_' piece is the user id
    assert [next(p for p in n.split("_") if p.isdigit()) for n in names] == ["7", "1001", "1002", "1003"]


# ---------------------------------------------------------------- the CLI

def test_cli_roster_import_and_canvas_export(tmp_path, canvas_roster, empty_gradebook):
    course = make_course(tmp_path / "course")
    shutil.copy(empty_gradebook, course / "gradebook.db")
    proc = run_cli(course, "roster", "import", str(canvas_roster))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"roster {canvas_roster} (canvas): 4 students, 4 added, 0 updated, "
                                   "0 unchanged; skipped the Test Student")
    gradebook(f"sqlite:///{course / 'gradebook.db'}", {"1002": (7.5, 1)})
    out = tmp_path / "to canvas.csv"
    proc = run_cli(course, "export", "--format", "canvas", "--roster", str(canvas_roster), "--to", str(out),
                   "--missing", "zero")
    assert proc.returncode == 0, proc.stderr
    assert "4 students, 0 added, 0 updated, 4 unchanged" in proc.stdout
    assert f"exported 4 student row(s) x 1 assignment(s) for Canvas to {out}" in proc.stdout
    rows = read_csv(out)
    assert rows[0] == CANVAS_HEADER.split(",")[:6]
    assert [r[5] for r in rows[2:]] == ["0", "6.5", "0", "0"]
    proc = run_cli(course, "export", "--to", str(tmp_path / "nbgrader.csv"), "--assignment", PS)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "nbgrader.csv") as f:
        assert {r["student_id"]: r["score"] for r in csv.DictReader(f)} == {
            "1001": "0.0", "1002": "6.5", "1003": "0.0", "1004": "0.0"}


@pytest.mark.parametrize("args, message", [
    (("export", "--format", "moodle", "--assignment", PS, "--to", "x.csv"), "needs --roster"),
    (("export", "--missing", "zero"), "--missing applies to --format canvas and moodle"),
    (("roster", "import", "roster.csv"), "roster.csv: neither a Canvas gradebook export"),
    (("export", "--format", "canvas", "--roster", "roster.csv"), "roster.csv: neither a Canvas gradebook export"),
    (("feedback", PS, "--pack", "moodle"), "--pack needs --to FILE.zip"),
    (("feedback", PS, "--pack", "canvas", "--to", "no/such/dir/f.zip"), "no such folder for the feedback zip"),
])
def test_cli_bad_lms_input_is_one_line(tmp_path, args, message, empty_gradebook):
    course = make_course(tmp_path / "course")
    shutil.copy(empty_gradebook, course / "gradebook.db")
    (course / "roster.csv").write_text("name,email\nAda,ada@example.edu\n")
    proc = run_cli(course, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert not (course / "x.csv").exists() and not (course / "grades.csv").exists()


def test_cli_feedback_pack_moodle_after_nbgrader_feedback(tmp_path, moodle_sheet):
    """`feedback --pack` runs nbgrader's generate_feedback on an autograded notebook, then zips
    the page under the student's Moodle folder (the notebook is the reference, scored by hand)."""
    course = make_course(tmp_path / "course")

    def nbgrader(*args):
        run_nbgrader(course, *args)

    nbgrader("generate_assignment", PS)  # the assignment and its cells in the gradebook
    db = f"sqlite:///{course / 'gradebook.db'}"
    lms.store_roster(lms.read_roster(moodle_sheet), db)
    with Gradebook(db) as gb:
        gb.add_submission(PS, "2001")
    (course / "autograded" / "2001" / PS).mkdir(parents=True)
    shutil.copy(COURSE / "source" / PS / f"{PS}.ipynb", course / "autograded" / "2001" / PS)
    proc = run_cli(course, "feedback", PS, "--pack", "moodle", "--to", str(tmp_path / "fb.zip"))
    assert proc.returncode == 0, proc.stderr
    assert "packed 1 feedback page(s) of 1 student(s) for Moodle" in proc.stdout
    with zipfile.ZipFile(tmp_path / "fb.zip") as zf:
        assert zf.namelist() == [f"Zoë 学生 O’Neil_2001_assignsubmission_file_/{PS}.html"]
        assert "<html" in zf.read(zf.namelist()[0]).decode()
    # and the grades into the same worksheet, through the CLI (2001's submission scored 0 so far)
    proc = run_cli(course, "export", "--format", "moodle", "--roster", str(moodle_sheet), "--assignment", PS,
                   "--to", str(tmp_path / "worksheet.csv"))
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(tmp_path / "worksheet.csv", bom=True)
    assert rows[0] == MOODLE_HEADER and [r[4] for r in rows[1:]] == ["0.00", "", "", ""]
