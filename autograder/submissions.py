"""Collect a class's submissions as an LMS exports them, or as a folder of ``<student>/<notebook>``.

Three layouts, detected from the names (or named with ``--lms``):

- **canvas**: Canvas's "Download Submissions" zip, flat files named
  ``<sortable name>[_LATE]_<user id>_<attachment id>_<file>``; a re-uploaded file
  carries ``-N`` before its extension. The user id is the key (two students may
  share a name); ``_LATE`` is Canvas's flag that the submission came after the due
  date (a flag without a time).
- **moodle**: Moodle's "Download all submissions" zip: one folder per participant,
  ``Full Name_<participant id>_assignsubmission_file_/<file>`` (with or without the
  trailing ``_``), or Moodle's flat variant with the folder's name as a prefix of
  each file's name. The participant id is the key. Moodle's zip carries no
  submission time: its grading worksheet (``--roster``) does.
- **folders**: ``<student>/<notebook>.ipynb``, optionally with nbgrader's
  ``timestamp.txt`` beside it. The folder's name is the student's id when it is a
  safe name, else a safe id is derived from it (the name stays the display name).

Zip entry times are the time of zipping in both LMSs and are never used. The
originals are only read. Each accepted notebook is rebuilt on the release and
written into nbgrader's ``submitted/<student>/<assignment>/`` under the
assignment's notebook name (LMSs rename uploads), with ``timestamp.txt`` when a
submission time is known, so that ``nbgrader autograde`` and its late-penalty
plugin find them. Names are kept exactly as written, as display names: no
submission is refused because of its owner's name.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from autograder.course import UsageError

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
LAYOUTS = ("canvas", "moodle", "folders")

# nbgrader's own collector plugin parses the LMS file names (ZipCollectApp's FileNameCollectorPlugin)
CANVAS_REGEXP = (r"(?P<name>.+?)(?P<late>_LATE)?_(?P<student_id>\d+)_(?P<attachment>\d+)_"
                 r"(?P<file_id>.+?)(?:-(?P<upload>\d+))?(?P<ext>\.[^./]+)?$")
MOODLE_REGEXP = (r"(?P<name>.+)_(?P<student_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)"
                 r"(?:_(?P<file_id>.*))?$")


@dataclass
class Submission:
    student: str          # the nbgrader id: safe, stable (the LMS's id, or the folder's name)
    source: str           # where it came from, for messages (a path, or zip:member)
    data: bytes | None    # the notebook's bytes, None when it cannot be graded
    problem: str = ""     # why, one line (also: a file too large, graded as the blank notebook)
    name: str = ""        # the display name, exactly as the export wrote it
    lms_id: str = ""      # Canvas user id, Moodle participant id
    late_flag: bool = False          # Canvas's _LATE marker
    timestamp: str | None = None     # nbgrader's timestamp.txt text, when the export carries one
    others: list[str] = field(default_factory=list)  # files that are not notebooks: reported, not graded


def _collector(regexp: str):
    from nbgrader.plugins import FileNameCollectorPlugin
    return FileNameCollectorPlugin(named_regexp=regexp, valid_ext=[])


class _Matcher:
    """nbgrader's FileNameCollectorPlugin on a name (not a path: zip members are never extracted)."""

    def __init__(self, regexp: str):
        self.plugin = _collector(regexp)
        self.plugin.log.setLevel("ERROR")  # a name that does not match is not a warning here

    def __call__(self, name: str) -> dict | None:
        return self.plugin._match(name)


def safe_id(name: str) -> str:
    """A safe, stable nbgrader id for a display name: the name itself when safe, else an ASCII
    rendering of it plus a short hash of the exact name (two names never share an id)."""
    if STUDENT_ID.fullmatch(name):
        return name
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_).strip("-").lower()[:40] or "student"
    return f"{slug}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"


def _hidden(parts: tuple[str, ...], name: str) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or name.startswith(".")


@dataclass
class _Entry:
    parts: tuple[str, ...]   # folders, the archive's common top folder removed
    name: str                # file name
    where: str               # for messages
    read: callable           # -> bytes, or None when too large


def detect(entries: list[_Entry]) -> str:
    """The layout of a class: moodle when any folder or file follows Moodle's naming, canvas when
    every top-level file follows Canvas's, else folders."""
    moodle, canvas = _Matcher(MOODLE_REGEXP), _Matcher(CANVAS_REGEXP)
    if any(moodle(e.parts[0] if e.parts else e.name) for e in entries):
        return "moodle"
    top = [e for e in entries if not e.parts]
    if top and len(top) == len(entries) and all(canvas(e.name) for e in top):
        return "canvas"
    return "folders"


def _key(e: _Entry, layout: str, canvas, moodle) -> tuple[str, str, dict] | str:
    """(student id, display name, facts) of an entry, or a one-line problem."""
    if layout == "canvas":
        if e.parts:
            return "not in Canvas's layout (Canvas's zip holds files, not folders)"
        m = canvas(e.name)
        if not m:
            return "not named as Canvas names submissions (<name>[_LATE]_<user id>_<attachment id>_<file>)"
        return m["student_id"], m["name"], {"late": bool(m["late"]), "upload": int(m["upload"] or 0),
                                            "file": m["file_id"] + (m["ext"] or "")}
    if layout == "moodle":
        if e.parts:
            m, file = moodle(e.parts[0]), "/".join((*e.parts[1:], e.name))
        else:
            m = moodle(e.name)
            file = (m["file_id"] or "") if m else ""
        if not m:
            return "not named as Moodle names submissions (<Full Name>_<participant id>_assignsubmission_file_)"
        return m["student_id"], m["name"], {"late": False, "upload": 0, "file": file, "plugin": m["plugin"]}
    if not e.parts:
        return "cannot tell whose file this is (expected <student>/<notebook>.ipynb)"
    return safe_id(e.parts[0]), e.parts[0], {"late": False, "upload": 0, "file": "/".join((*e.parts[1:], e.name))}


def _group(entries: list[_Entry], layout: str) -> list[Submission]:
    """One submission per student: their notebook, re-uploads resolved, other files reported."""
    canvas, moodle = _Matcher(CANVAS_REGEXP), _Matcher(MOODLE_REGEXP)
    by_student: dict[str, dict] = {}
    out: list[Submission] = []
    for e in sorted(entries, key=lambda e: e.where):
        key = _key(e, layout, canvas, moodle)
        if isinstance(key, str):
            out.append(Submission(e.where, e.where, None, key))
            continue
        student, name, facts = key
        s = by_student.setdefault(student, {"name": name, "notebooks": [], "others": [], "late": False,
                                            "timestamp": None})
        s["late"] |= facts["late"]
        if e.name == "timestamp.txt" and layout == "folders" and len(e.parts) == 1:
            s["timestamp"] = e
        elif e.name.endswith(".ipynb"):
            s["notebooks"].append((facts["upload"], e))
        else:
            s["others"].append((facts["file"] or e.name, e.where))
    for student, s in sorted(by_student.items()):
        sub = Submission(student, "", None, name=s["name"], lms_id=student if layout != "folders" else "",
                         late_flag=s["late"], others=sorted(f for f, _ in s["others"]))
        if s["timestamp"] is not None:
            text = (s["timestamp"].read() or b"").decode("utf-8", "replace").strip()
            sub.timestamp = text or None
        notebooks = s["notebooks"]
        if not notebooks:
            sub.source = min(w for _, w in s["others"])
            sub.data = b""
            sub.problem = "no notebook submitted (received: " + ", ".join(sub.others) + ")"
            out.append(sub)
            continue
        # a re-upload (-N) replaces the earlier file; two different notebooks cannot be told apart
        newest = max(n for n, _ in notebooks)
        latest = [e for n, e in notebooks if n == newest]
        if len(latest) > 1 or (newest == 0 and len(notebooks) > 1):
            sub.source = ", ".join(e.where for _, e in notebooks)
            sub.problem = "more than one notebook: " + ", ".join(e.name for _, e in notebooks)
            out.append(sub)
            continue
        (e,) = latest
        sub.source = e.where
        data = e.read()
        if data is None:  # too large to read: graded as the blank notebook, with the reason
            sub.data, sub.problem = b"", f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB"
        else:
            sub.data = data
        out.append(sub)
    return out


def _unwrap(entries: list[_Entry]) -> list[_Entry]:
    """An export often wraps everything in one top folder: drop it when every entry shares it and
    it is not a student's own folder (student folders inside it, or an LMS's named files)."""
    entries = [e for e in entries if not _hidden(e.parts, e.name)]  # macOS and editor litter
    tops = {e.parts[0] for e in entries if e.parts}
    if len(tops) != 1 or not all(e.parts for e in entries):
        return entries
    (top,) = tops
    moodle, canvas = _Matcher(MOODLE_REGEXP), _Matcher(CANVAS_REGEXP)
    if moodle(top):
        return entries  # a Moodle participant's folder: a class of one
    nested = all(len(e.parts) >= 2 for e in entries)
    lms_files = all(len(e.parts) == 1 and (canvas(e.name) or moodle(e.name)) for e in entries)
    if nested or lms_files:
        return [_Entry(e.parts[1:], e.name, e.where, e.read) for e in entries]
    return entries


def from_folder(folder: Path) -> list[_Entry]:
    def reader(path: Path):
        return lambda: path.read_bytes() if path.stat().st_size <= MAX_NOTEBOOK_BYTES else None
    entries = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue  # a link could point anywhere: never follow one
        rel = path.relative_to(folder)
        entries.append(_Entry(rel.parts[:-1], rel.name, str(path), reader(path)))
    return entries


def from_zip(archive: Path, zf: zipfile.ZipFile) -> tuple[list[_Entry], list[Submission]]:
    """Members read straight from the zip: nothing is extracted, so no path can escape."""
    entries, refused = [], []
    for info in zf.infolist():
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if info.is_dir():
            continue
        parts = tuple(p for p in path.parts[:-1] if p not in ("", "."))
        where = f"{archive}:{info.filename}"
        if path.is_absolute() or ".." in parts:  # zip-slip: refused by name, never read
            refused.append(Submission(where, where, None, "zip member outside the archive's "
                                      "folder (absolute or '..' path): refused"))
            continue

        def read(info=info):
            if info.file_size > MAX_NOTEBOOK_BYTES:
                return None
            with zf.open(info) as f:
                return f.read(MAX_NOTEBOOK_BYTES + 1)
        entries.append(_Entry(parts, path.name, where, read))
    return entries, refused


def collect(path: Path, layout: str | None = None) -> tuple[str, list[Submission]]:
    """The layout and every submission under ``path`` (a folder or a .zip), accepted or with its
    problem. ``layout``: one of :data:`LAYOUTS`, detected when None."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    if path.is_dir():
        entries, refused = from_folder(path), []
        subs = _collect(entries, refused, layout, path)
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            entries, refused = from_zip(path, zf)
            subs = _collect(entries, refused, layout, path)
    else:
        raise UsageError(f"{path}: neither a folder of <student>/<notebook>.ipynb nor a zip file")
    return subs


def _collect(entries, refused, layout, path):
    entries = _unwrap(entries)
    if not any(e.name.endswith(".ipynb") for e in entries) and not refused:
        raise UsageError(f"{path}: no notebooks found (expected <student>/<notebook>.ipynb or an LMS export)")
    layout = layout or detect(entries)
    if layout not in LAYOUTS:
        raise UsageError(f"unknown LMS layout {layout!r} (known: {', '.join(LAYOUTS)})")
    return layout, _group(entries, layout) + refused  # every notebook read: the zip may close


def stage(subs: list[Submission], course: Path, assignment: str, notebook: str, release) -> dict[str, str]:
    """Write each gradable submission, rebuilt on the release, to ``course/submitted/<student>/...``.

    The student's file is only read: what is staged is :func:`autograder.assemble.assemble`'s
    notebook (or the blank release with a note, when the file cannot be read as a notebook). Files
    that are not notebooks are named in a note at the top (the feedback shows it). Each file is
    written to a temporary name and renamed, so an interrupted run never leaves a half-written
    notebook. ``timestamp.txt`` is written when the submission's time is known. Returns
    {student: problem} ('' when the notebook was used).
    """
    from autograder.assemble import BadSubmission, assemble, blank, read_student

    staged = {}
    for sub in subs:
        if sub.data is None:
            continue
        problem = sub.problem
        try:
            if problem:
                raise BadSubmission(problem)
            nb = assemble(read_student(sub.data), release)
        except BadSubmission as err:
            problem = str(err)
            nb = blank(release, problem)
        if sub.others and sub.data:
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(
                "**Not graded: files that are not notebooks:** " + ", ".join(f"`{o}`" for o in sub.others)))
        dest = course / "submitted" / sub.student / assignment
        if dest.exists():
            shutil.rmtree(dest)  # the new submission replaces the old one entirely
        dest.mkdir(parents=True)
        with tempfile.NamedTemporaryFile("w", dir=dest, delete=False, suffix=".part", encoding="utf-8") as tmp:
            nbformat.write(nb, tmp)
        Path(tmp.name).replace(dest / notebook)
        if sub.timestamp:
            (dest / "timestamp.txt").write_text(sub.timestamp + "\n", encoding="utf-8")
        staged[sub.student] = problem
    return staged
