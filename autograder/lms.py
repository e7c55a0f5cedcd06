"""Rosters in from Canvas and Moodle, grades and feedback back out to them.

Formats, as the LMSs' own code reads and writes them (checked in canvas-lms and moodle):

* Canvas gradebook export / import CSV -- canvas-lms ``lib/gradebook_exporter.rb`` (header
  ``Student, ID, [SIS User ID,] SIS Login ID, [Integration ID, Root Account,] Section``, custom
  columns, one column per assignment titled ``<title> (<assignment id>)``, Canvas's totals; an
  optional "Manual Posting" row, then the row ``"    Points Possible"``; students sorted by
  sortable name ``Last, First``, the Test Student last; a name starting with ``=`` written as
  ``="name"``) and ``lib/gradebook_importer.rb`` (the header must start with a cell containing
  "Student" and one containing "ID", ``SIS User ID`` then ``SIS Login ID``, then ``Section``;
  a column ``<title> (<id>)`` updates assignment <id>, any other title creates a new assignment;
  a row whose first cell contains "Points Possible" sets the points of the columns; students are
  matched on ID, then SIS ids, then name; scores are parsed with ``,`` or ``.`` as decimal mark).
* Moodle grading worksheet -- moodle ``mod/assign/gradingtable.php`` (download: ``Identifier``
  = "Participant " + the assignment's unique participant id, ``Full name``, the identity fields,
  ``Status``, ``Grade``, ``Maximum Grade``, ``Grade can be changed``, ``Last modified
  (submission)``, submission editor fields such as ``Online text``, ``Last modified (grade)``,
  feedback editor fields such as ``Feedback comments``; grades with the grade item's decimals;
  times by ``userdate()``: ``lang/en/langconfig.php`` strftimedaydatetime ``%A, %d %B %Y, %I:%M
  %p`` without the leading zeros of day and hour, ``lib/moodlelib.php``) and
  ``mod/assign/feedback/offline/importgradeslib.php`` + ``locallib.php`` (upload: needs the columns
  ``Identifier``, ``Grade`` and ``Last modified (grade)``; the id is what follows the length of
  "Participant "; ``Grade`` read by ``unformat_float``, an empty grade or one above the maximum is
  skipped; a row whose ``Last modified (grade)`` (``strtotime``) is older than Moodle's grade by
  over 60 s is skipped unless "ignore modified" is ticked; feedback columns are matched by their
  titles; ``lib/csvlib.class.php`` drops a UTF-8 BOM and accepts ``\\n`` or ``\\r\\n``).
* Moodle feedback files zip -- moodle ``mod/assign/feedback/file/importziplib.php``: in each path
  part split on ``_`` (at most 5 pieces) the second piece must be the participant id and the
  third and fourth a plugin (``assignsubmission_file``), the rest is the file name; the name
  piece comes from ``mod/assign/locallib.php`` (``_`` in the full name turned into spaces, then
  ``clean_filename``: control characters and ``& < > " ` | ' : \\ /`` removed).
* Canvas feedback files -- canvas-lms ``app/models/assignment.rb``
  (``infer_comment_context_from_filename``: the first ``_``-separated piece made of digits is the
  user id; a bulk re-upload also needs the id of a file the student submitted, which the
  gradebook does not have, so these files are named to be matched by a person or a script).

Student ids (agreed for the course): a Canvas student is nbgrader student ``<Canvas user ID>``,
a Moodle student ``<participant id>`` (the digits of ``Participant 12345``); the LMS id is also
kept in nbgrader's ``lms_user_id``.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from autograder.course import UsageError

CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "    Points Possible"
CANVAS_TEST_STUDENT = "Student, Test"  # Canvas's "Test Student" (student view), by sortable name
# Canvas's total columns (GradebookImporter::NON_ASSIGNMENT_COLUMN_HEADERS): never assignments
CANVAS_TOTALS = re.compile("Current Score|Current Points|Current Grade|Final Score|Final Points|"
                           "Final Grade|Override Score|Override Grade|Override Status")
CANVAS_TITLE_AND_ID = re.compile(r"(.*)\s\((\d+)\)", re.S)  # Assignment.title_and_id
CANVAS_HIDDEN_ROW = re.compile(r"\s*(Muted|Manual Posting.*)?\s*", re.I)

MOODLE_ID = "Identifier"
MOODLE_NAME = "Full name"
MOODLE_EMAIL = "Email address"
MOODLE_GRADE = "Grade"
MOODLE_MAX = "Maximum Grade"
MOODLE_CAN_CHANGE = "Grade can be changed"
MOODLE_SUBMITTED = "Last modified (submission)"
MOODLE_MODIFIED = "Last modified (grade)"
MOODLE_FEEDBACK = "Feedback comments"
MOODLE_PARTICIPANT = re.compile(r"(\D*?)(\d+)")  # "Participant 12345" (the prefix is translated)
MOODLE_ZIP_PLUGIN = "assignsubmission_file"

_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]


@dataclass
class RosterEntry:
    """One student of an LMS roster, as the LMS wrote it."""
    student_id: str          # the nbgrader student id (Canvas user ID / Moodle participant id)
    display_name: str        # exactly as written (Canvas: sortable "Last, First"; Moodle: full name)
    first_name: str
    last_name: str
    email: str
    lms_user_id: str         # Canvas user ID / Moodle participant id
    sis_user_id: str = ""    # Canvas
    sis_login_id: str = ""   # Canvas
    section: str = ""        # Canvas
    submitted: str = ""      # Moodle: "Last modified (submission)" as written ("-" when none)
    row: list[str] = field(default_factory=list, repr=False)  # the row as read (Moodle export keeps it)


@dataclass
class Roster:
    """A class list read from an LMS export, with what is needed to write grades back to it."""
    path: Path
    lms: str                                   # "canvas" | "moodle"
    columns: list[str]                         # the header as read
    entries: list[RosterEntry]
    assignments: dict[str, str] = field(default_factory=dict)      # Canvas: title -> assignment id
    points_possible: dict[str, str] = field(default_factory=dict)  # Canvas: title -> "10.00" as written
    skipped: list[str] = field(default_factory=list)               # rows left out, and why

    @property
    def by_student(self) -> dict[str, RosterEntry]:
        return {e.student_id: e for e in self.entries}

    @property
    def by_lms_id(self) -> dict[str, RosterEntry]:
        return {e.lms_user_id: e for e in self.entries}


# ---------------------------------------------------------------- reading a roster

def _rows(path: Path) -> list[list[str]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such roster file")
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a roster CSV file")
    except OSError as err:
        raise UsageError(f"{path}: cannot read it: {err.strerror}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a CSV file in UTF-8 (export it from the LMS as CSV)")
    if "\0" in text:
        raise UsageError(f"{path}: not a CSV file (binary content)")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise UsageError(f"{path}: not a readable CSV file ({err})")
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise UsageError(f"{path}: empty roster file")
    return rows


def read_roster(path) -> Roster:
    """Read a Canvas gradebook export or a Moodle grading worksheet (told apart by their header).

    A file that is neither, or lacks a key column, raises :class:`UsageError` naming the file.
    """
    path = Path(path)
    rows = _rows(path)
    header = [c.strip() for c in rows[0]]
    if MOODLE_ID in header:
        return _read_moodle(path, header, rows[1:])
    if len(header) > 1 and (("Student" in header[0] and "ID" in header[1])
                            or (header[0] == "LastName" and header[1:2] == ["FirstName"])):
        return _read_canvas(path, header, rows[1:])
    raise UsageError(f"{path}: neither a Canvas gradebook export (Student, ID, ..., Section) nor a "
                     f"Moodle grading worksheet (Identifier, ..., Grade); its header starts "
                     f"{', '.join(header[:3])!r}")


def _cell(row: list[str], i: int | None) -> str:
    return row[i].strip() if i is not None and i < len(row) else ""


def _canvas_name(text: str) -> str:
    """Canvas writes a name starting with '=' as ="name" (so that a spreadsheet shows it as text)."""
    m = re.fullmatch(r'="(.*)"', text, re.S)
    return m.group(1) if m and text.lstrip().startswith("=") else text


def _read_canvas(path: Path, header: list[str], rows: list[list[str]]) -> Roster:
    split_names = header[0] == "LastName"
    index = {name: i for i, name in reversed(list(enumerate(header)))}
    for needed in ("ID", "Section"):
        if needed not in index:
            raise UsageError(f"{path}: Canvas gradebook export without the column {needed!r}")
    i_id, i_section = index["ID"], index["Section"]
    i_sis, i_login = index.get("SIS User ID"), index.get("SIS Login ID")
    roster = Roster(path, "canvas", header, [])
    columns = {}  # column index -> title
    for i, title in enumerate(header[i_section + 1:], start=i_section + 1):
        m = CANVAS_TITLE_AND_ID.fullmatch(title)
        if m and not CANVAS_TOTALS.search(title):
            roster.assignments[m.group(1)] = m.group(2)
            columns[i] = m.group(1)
    seen = {}
    for n, row in enumerate(rows, start=2):
        first = row[0] if row else ""
        if "Points Possible" in first:
            roster.points_possible.update({t: _cell(row, i) for i, t in columns.items()})
            continue
        if all(CANVAS_HIDDEN_ROW.fullmatch(c) for c in row):
            continue  # the "Manual Posting" (formerly "Muted") row
        if split_names:
            last, first_name = _canvas_name(_cell(row, 0)), _cell(row, 1)
            display = f"{last}, {first_name}" if first_name else last
        else:
            display = _canvas_name(row[0])
            last, sep, first_name = display.partition(", ")
            if not sep:
                last, first_name = display, ""
        if display.strip() == CANVAS_TEST_STUDENT:
            roster.skipped.append("the Test Student")
            continue
        uid = _cell(row, i_id)
        if not uid.isdigit():
            raise UsageError(f"{path}: row {n}: ID {uid!r} is not a Canvas user ID (digits)")
        if uid in seen:
            raise UsageError(f"{path}: rows {seen[uid]} and {n} have the same Canvas user ID {uid}")
        seen[uid] = n
        login = _cell(row, i_login)
        roster.entries.append(RosterEntry(
            student_id=uid, display_name=display, first_name=first_name.strip(), last_name=last.strip(),
            email=login if "@" in login else "", lms_user_id=uid, sis_user_id=_cell(row, i_sis),
            sis_login_id=login, section=_cell(row, i_section), row=list(row)))
    return roster


def _read_moodle(path: Path, header: list[str], rows: list[list[str]]) -> Roster:
    for needed in (MOODLE_ID, MOODLE_GRADE, MOODLE_MODIFIED):  # what Moodle's upload needs
        if needed not in header:
            raise UsageError(f"{path}: Moodle grading worksheet without the column {needed!r}")
    if len(set(header)) != len(header):
        raise UsageError(f"{path}: Moodle grading worksheet with a repeated column title")
    col = {name: i for i, name in enumerate(header)}
    roster = Roster(path, "moodle", header, [])
    seen = {}
    for n, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise UsageError(f"{path}: row {n} has {len(row)} cells, the header {len(header)}")
        ident = row[col[MOODLE_ID]].strip()
        m = MOODLE_PARTICIPANT.fullmatch(ident)
        if not m:
            raise UsageError(f"{path}: row {n}: Identifier {ident!r} is not 'Participant <number>'")
        pid = m.group(2)
        if pid in seen:
            raise UsageError(f"{path}: rows {seen[pid]} and {n} have the same Identifier {ident!r}")
        seen[pid] = n
        name = row[col[MOODLE_NAME]] if MOODLE_NAME in col else ""
        # Moodle's full name is "First Last" by default: the last word is taken as the last name,
        # so that first + " " + last gives the name back as written
        first, _, last = name.strip().rpartition(" ")
        roster.entries.append(RosterEntry(
            student_id=pid, display_name=name, first_name=first, last_name=last,
            email=_cell(row, col.get(MOODLE_EMAIL)), lms_user_id=pid,
            submitted=_cell(row, col.get(MOODLE_SUBMITTED)), row=list(row)))
    return roster


# ---------------------------------------------------------------- storing a roster

def store_roster(roster: Roster, db_url: str) -> tuple[int, int]:
    """Add or update every roster student in nbgrader's student table. Returns (added, updated).

    ``updated`` counts students already in the gradebook whose name, email or LMS id changed.
    An empty email in the roster never erases one already stored.
    """
    from nbgrader.api import Gradebook, MissingEntry

    added = updated = 0
    with Gradebook(db_url) as gb:
        for e in roster.entries:
            fields = {"first_name": e.first_name, "last_name": e.last_name, "lms_user_id": e.lms_user_id}
            if e.email:
                fields["email"] = e.email
            try:
                old = gb.find_student(e.student_id)
            except MissingEntry:
                added += 1
            else:
                if any((getattr(old, k) or "") != v for k, v in fields.items()):
                    updated += 1
                else:
                    continue
            gb.update_or_create_student(e.student_id, **fields)
    return added, updated


# ---------------------------------------------------------------- the gradebook's grades

@dataclass
class Score:
    score: float         # after the late penalty, as nbgrader's own export computes it
    raw: float
    penalty: float
    max_score: float


@dataclass
class Student:
    id: str
    first_name: str
    last_name: str
    email: str
    lms_user_id: str

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.id

    @property
    def sortable_name(self) -> str:
        if self.first_name and self.last_name:
            return f"{self.last_name}, {self.first_name}"
        return self.last_name or self.first_name or self.id


def read_gradebook(db_url: str, assignment: str | None = None):
    """(assignments {name: max score}, students {id: Student}, scores {(assignment, student): Score})."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        found = gb.assignments
        if assignment is not None:
            found = [a for a in found if a.name == assignment]
            if not found:
                raise UsageError(f"assignment {assignment!r} is not in the gradebook (grade it first)")
        assignments = {a.name: float(a.max_score or 0) for a in found}
        students = {s.id: Student(s.id, s.first_name or "", s.last_name or "", s.email or "",
                                  s.lms_user_id or "") for s in gb.students}
        scores = {}
        for name in assignments:
            for sub in gb.assignment_submissions(name):
                raw, penalty = float(sub.score or 0), float(sub.late_submission_penalty or 0)
                scores[(name, sub.student_id)] = Score(max(0.0, raw - penalty), raw, penalty,
                                                       float(sub.max_score or 0))
    return assignments, students, scores


# ---------------------------------------------------------------- writing files atomically

from autograder.workspace import atomic_file  # noqa: E402,F401 (the one atomic writer; imported from here too)


def check_destination(dest: Path, what: str) -> Path:
    dest = Path(dest).resolve()
    if not dest.parent.is_dir():
        raise UsageError(f"{dest.parent}: no such folder for the {what}")
    if dest.is_dir():
        raise UsageError(f"{dest}: is a folder, not a file name for the {what}")
    return dest


# ---------------------------------------------------------------- numbers and times

def _plain(x: float, decimals: int = 2) -> str:
    """8 -> "8", 8.5 -> "8.5", 7.333 -> "7.33" (Canvas keeps two decimals: GradebookExporter)."""
    return f"{x:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{x:.0f}"


def _moodle_number(x: float, decimals: int, sep: str) -> str:
    """Like Moodle's format_float(x, decimals); more decimals (up to Moodle's 5) if needed."""
    text = f"{x:.{decimals}f}"
    if abs(float(text) - x) > 1e-9:
        text = f"{x:.5f}".rstrip("0")
    return text.replace(".", sep)


def moodle_time(when: datetime) -> str:
    """Moodle's userdate(): 'Friday, 7 March 2025, 3:05 PM' (English, no leading zeros)."""
    hour = when.hour % 12 or 12
    return (f"{_DAYS[when.weekday()]}, {when.day} {_MONTHS[when.month - 1]} {when.year}, "
            f"{hour}:{when.minute:02d} {'AM' if when.hour < 12 else 'PM'}")


def parse_moodle_time(text: str) -> datetime | None:
    """The inverse of :func:`moodle_time` (None for '-' or anything else)."""
    m = re.fullmatch(r"\s*(\w+), (\d{1,2}) (\w+) (\d{4}), (\d{1,2}):(\d{2}) (AM|PM)\s*", text or "")
    if not m or m.group(3) not in _MONTHS:
        return None
    hour = int(m.group(5)) % 12 + (12 if m.group(7) == "PM" else 0)
    try:
        return datetime(int(m.group(4)), _MONTHS.index(m.group(3)) + 1, int(m.group(2)), hour, int(m.group(6)))
    except ValueError:
        return None


def _number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return None


def _excel_safe(name: str) -> str:
    """Canvas's own export writes a name starting with '=' as ="name" (GradebookExporter#student_name)."""
    return f'="{name}"' if re.match(r"\s*=", name) else name


# ---------------------------------------------------------------- Canvas

def check_export(fmt: str, roster: Roster | None, assignment: str | None, missing: str = "empty") -> None:
    """What an export to ``fmt`` needs, checked before anything is imported or written."""
    if missing not in ("empty", "zero"):
        raise UsageError(f"--missing {missing!r}: expected 'empty' or 'zero'")
    if fmt == "canvas" and roster is not None and roster.lms != "canvas":
        raise UsageError(f"{roster.path}: a Moodle worksheet; --format canvas needs a Canvas gradebook export")
    if fmt == "moodle":
        if roster is None or roster.lms != "moodle":
            raise UsageError("--format moodle needs --roster: the assignment's grading worksheet downloaded "
                             "from Moodle (Moodle matches the rows on its Identifier column)")
        if not assignment:
            raise UsageError("--format moodle needs --assignment: one worksheet is one Moodle assignment")


def export_canvas(db_url: str, dest, roster: Roster | None = None, assignment: str | None = None,
                  missing: str = "empty", say: Callable[[str], None] = print) -> int:
    """Write a CSV that Canvas's gradebook import takes as is. Returns the number of student rows."""
    check_export("canvas", roster, assignment, missing)
    dest = check_destination(dest, "Canvas grades file")
    assignments, students, scores = read_gradebook(db_url, assignment)
    header, points = list(CANVAS_STUDENT_COLUMNS), [CANVAS_POINTS_POSSIBLE, "", "", "", ""]
    for name, max_score in assignments.items():
        cid = roster.assignments.get(name) if roster else None
        if cid is None:
            header.append(name)
            points.append(_plain(max_score))
            say(f"{name}: no Canvas column titled {name!r}" + (" in the roster" if roster else "")
                + ": Canvas will create a new assignment column")
            continue
        header.append(f"{name} ({cid})")
        theirs = roster.points_possible.get(name, "")
        points.append(theirs or _plain(max_score))
        say(f"{name}: Canvas column '{name} ({cid})'")
        if "read only" in theirs:
            say(f"{name}: warning: Canvas's column is read only; Canvas will not import it")
        elif _number(theirs) is not None and abs(_number(theirs) - max_score) > 1e-9:
            say(f"{name}: warning: Canvas's column is out of {theirs} points, the gradebook's out of "
                f"{_plain(max_score)}: the scores are written as the gradebook's points")

    def cells(sid: str) -> list[str]:
        out = []
        for name in assignments:
            s = scores.get((name, sid))
            out.append(_plain(s.score) if s else ("0" if missing == "zero" else ""))
        return out

    rows = []
    on_roster = set()
    for e in roster.entries if roster else []:
        on_roster.add(e.student_id)
        rows.append([_excel_safe(e.display_name), e.lms_user_id, e.sis_user_id, e.sis_login_id, e.section]
                    + cells(e.student_id))
    graded = {sid for (_, sid) in scores}
    extra = sorted((s for s in students if s not in on_roster and (roster is None or s in graded)),
                   key=lambda s: (students[s].sortable_name.casefold(), s))
    no_id = []
    for sid in extra:
        st = students[sid]
        uid = st.lms_user_id or (sid if sid.isdigit() else "")
        if not uid:
            no_id.append(sid)
        rows.append([_excel_safe(st.sortable_name), uid, "", "", ""] + cells(sid))
    if roster and extra:
        say(f"{len(extra)} graded student(s) not on the roster, added at the end: {', '.join(extra)}")
    if no_id:
        say(f"{len(no_id)} student(s) without a Canvas user ID (import the roster): Canvas will match "
            f"them by name or ask: {', '.join(no_id)}")
    with atomic_file(dest) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerow(points)
        for row in rows:
            w.writerow(row)
    say(f"exported {len(rows)} student row(s) x {len(assignments)} assignment(s) for Canvas to {dest}")
    return len(rows)


# ---------------------------------------------------------------- Moodle

def _moodle_decimals(roster: Roster) -> tuple[int, str]:
    """The grade item's decimals and decimal mark, as the worksheet writes its Maximum Grade."""
    if MOODLE_MAX in roster.columns:
        i = roster.columns.index(MOODLE_MAX)
        for e in roster.entries:
            m = re.fullmatch(r"\d+(?:([.,])(\d+))?", e.row[i].strip())
            if m:
                return (len(m.group(2)), m.group(1)) if m.group(1) else (0, ".")
    return 2, "."


def feedback_comment(s: Score) -> str:
    text = f"Autograded score: {_plain(s.score)} / {_plain(s.max_score)}"
    if s.penalty:
        text += f" ({_plain(s.raw)} before a late penalty of {_plain(s.penalty)})"
    return text + ". See the feedback file for the checks and hints."


def export_moodle(db_url: str, dest, roster: Roster, assignment: str, missing: str = "empty",
                  now: datetime | None = None, say: Callable[[str], None] = print) -> int:
    """Fill the grading worksheet of ``assignment`` (the roster) with the gradebook's scores.

    Every column and row of the worksheet is kept in its order; ``Grade``, ``Last modified
    (grade)`` (the export time) and ``Feedback comments`` (when the worksheet has it) change.
    A student without a submission keeps Moodle's feedback text, so the upload does not erase it.
    Returns the number of rows with a grade.
    """
    check_export("moodle", roster, assignment, missing)
    dest = check_destination(dest, "Moodle grading worksheet")
    assignments, students, scores = read_gradebook(db_url, assignment)
    max_score = assignments[assignment]
    when = moodle_time(now or datetime.now())
    cols = roster.columns
    i_grade, i_mod = cols.index(MOODLE_GRADE), cols.index(MOODLE_MODIFIED)
    i_fb = cols.index(MOODLE_FEEDBACK) if MOODLE_FEEDBACK in cols else None
    i_max = cols.index(MOODLE_MAX) if MOODLE_MAX in cols else None
    i_can = cols.index(MOODLE_CAN_CHANGE) if MOODLE_CAN_CHANGE in cols else None
    decimals, sep = _moodle_decimals(roster)
    rows, graded, locked, over = [], 0, [], []
    for e in roster.entries:
        row = list(e.row)
        s = scores.get((assignment, e.student_id))
        if s is None and missing == "zero":
            s = Score(0.0, 0.0, 0.0, max_score)
        if s is None:
            row[i_grade] = ""  # Moodle's upload skips an empty grade: Moodle's own grade stays
        else:
            graded += 1
            row[i_grade] = _moodle_number(s.score, decimals, sep)
            if i_fb is not None:
                row[i_fb] = feedback_comment(s) if (assignment, e.student_id) in scores else \
                    f"No submission graded: 0 / {_plain(max_score)}."
            if i_max is not None and not row[i_max].strip():
                row[i_max] = _moodle_number(max_score, decimals, sep)
            theirs = _number(row[i_max]) if i_max is not None else None
            if theirs is not None and s.score > theirs + 1e-9:
                over.append(e.student_id)
            if i_can is not None and row[i_can].strip().lower() == "no":
                locked.append(e.student_id)
        row[i_mod] = when
        rows.append(row)
    if i_max is not None:
        theirs = {_number(e.row[i_max]) for e in roster.entries} - {None}
        if theirs and any(abs(t - max_score) > 1e-9 for t in theirs):
            say(f"{assignment}: warning: Moodle's maximum grade is {', '.join(_plain(t) for t in sorted(theirs))}, "
                f"the gradebook's {_plain(max_score)}: the scores are written as the gradebook's points")
    if over:
        say(f"warning: {len(over)} grade(s) above Moodle's maximum, which Moodle's upload skips: {', '.join(over)}")
    if locked:
        say(f"warning: {len(locked)} row(s) say 'Grade can be changed: No'; Moodle will skip them: {', '.join(locked)}")
    if i_fb is None:
        say(f"the worksheet has no {MOODLE_FEEDBACK!r} column (feedback comments are off in Moodle): "
            "grades only")
    on_sheet = {e.student_id for e in roster.entries}
    extra = sorted(sid for (a, sid) in scores if a == assignment and sid not in on_sheet)
    if extra:
        say(f"{len(extra)} graded student(s) not in the worksheet, not written (Moodle matches rows "
            f"on Identifier): {', '.join(extra)}")
    with atomic_file(dest, encoding="utf-8-sig") as f:  # Moodle's own download starts with a BOM
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for row in rows:
            w.writerow(row)
    say(f"exported {graded} grade(s) of {assignment} into the Moodle worksheet {dest} "
        f"({len(rows)} row(s); Last modified (grade) {when})")
    return graded


# ---------------------------------------------------------------- feedback files for the LMS

_MOODLE_UNSAFE = re.compile(r"[\x00-\x1f\x7f&<>\"`|':\\/]")  # Moodle's clean_param(PARAM_FILE)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>\"|:*?\\/]")


def moodle_folder(full_name: str, participant_id: str) -> str:
    """The folder Moodle's feedback-zip upload reads: ``Full Name_<id>_assignsubmission_file_``."""
    prefix = _MOODLE_UNSAFE.sub("", full_name.replace("_", " ") + "_" + participant_id)
    return f"{prefix}_{MOODLE_ZIP_PLUGIN}_"


def canvas_file_name(sortable_name: str, user_id: str, suffix: str = "feedback.html") -> str:
    """``<sortable name>_<user id>_feedback.html`` (no '_' in the name: the id is the first number)."""
    name = _UNSAFE.sub("", sortable_name.replace("_", " ")).strip() or "student"
    return f"{name}_{user_id}_{suffix}"


def pack_feedback(course_root, db_url: str, assignment: str, lms: str, dest,
                  say: Callable[[str], None] = print) -> int:
    """Zip ``feedback/<student>/<assignment>/*.html`` for Moodle's or Canvas's upload. Returns the
    number of students packed; a student without an LMS id is named in a printed line."""
    if lms not in ("canvas", "moodle"):
        raise UsageError(f"--pack {lms!r}: expected 'canvas' or 'moodle'")
    dest = check_destination(dest, "feedback zip")
    _, students, _ = read_gradebook(db_url)
    root = Path(course_root) / "feedback"
    folders = sorted(p for p in root.glob(f"*/{assignment}") if p.is_dir()) if root.is_dir() else []
    members, no_id, packed = [], [], set()
    for folder in folders:
        sid = folder.parent.name
        st = students.get(sid) or Student(sid, "", "", "", "")
        lms_id = st.lms_user_id or (sid if sid.isdigit() else "")
        pages = sorted(folder.glob("*.html"))
        if not pages:
            continue
        if not lms_id:
            no_id.append(sid)
            continue
        for page in pages:
            if lms == "moodle":
                arc = f"{moodle_folder(st.full_name, lms_id)}/{page.name}"
            else:
                suffix = "feedback.html" if len(pages) == 1 else f"{page.stem}_feedback.html"
                arc = canvas_file_name(st.sortable_name, lms_id, suffix)
            members.append((arc, page))
            packed.add(sid)
    if no_id:
        say(f"not packed, no {'participant' if lms == 'moodle' else 'Canvas user'} id "
            f"(import the roster first): {', '.join(no_id)}")
    if not members:
        raise UsageError(f"{assignment}: no feedback pages of a student with an LMS id under {root}")
    with atomic_file(dest, "wb") as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
            for arc, page in members:
                zf.write(page, arc)
    say(f"packed {len(members)} feedback page(s) of {len(packed)} student(s) for {lms.capitalize()} -> {dest}")
    return len(packed)


# ---------------------------------------------------------------- nbgrader's own CSV, quoted

from nbgrader.plugins import CsvExportPlugin  # noqa: E402


class QuotedCsvExportPlugin(CsvExportPlugin):
    """nbgrader's CSV export (same columns, same rows) written by Python's csv module.

    nbgrader 0.9's ``CsvExportPlugin`` joins the fields with commas unquoted, so a name with a
    comma ("O’Neil, Zoë") or a newline breaks every later column. Configured as
    ``c.ExportApp.plugin_class`` in ``exercises/nbgrader_config.py``: stock ``nbgrader export`` and
    ``python -m autograder export`` both write it."""

    def export(self, gradebook) -> None:
        from nbgrader.api import MissingEntry

        keys = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                "raw_score", "late_submission_penalty", "score", "max_score"]
        students = {str(s) for s in self.student}
        assignments = {str(a) for a in self.assignment}
        with open(self.to or "grades.csv", "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(keys)
            for assignment in gradebook.assignments:
                if assignments and assignment.name not in assignments:
                    continue
                for student in gradebook.students:
                    if students and student.id not in students:
                        continue
                    row = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
                           "last_name": student.last_name, "first_name": student.first_name,
                           "email": student.email, "max_score": assignment.max_score}
                    try:
                        sub = gradebook.find_submission(assignment.name, student.id)
                    except MissingEntry:
                        row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
                    else:
                        penalty = sub.late_submission_penalty
                        row.update(timestamp=sub.timestamp, raw_score=sub.score, late_submission_penalty=penalty,
                                   score=max(0.0, sub.score - penalty))
                    out.writerow(["" if row[k] is None else str(row[k]) for k in keys])
