"""Collect a class's submissions: a folder of ``<student>/<notebook>.ipynb`` or an LMS zip.

The originals are only read. Each accepted notebook is copied into nbgrader's
``submitted/<student>/<assignment>/`` under the assignment's notebook name
(LMSs rename uploads), so that ``nbgrader autograde`` finds it.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat

from autograder.course import UsageError

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


@dataclass
class Submission:
    student: str
    source: str          # where it came from, for messages (a path, or zip:member)
    data: bytes | None   # the notebook's bytes, None when it cannot be staged (unsafe id, duplicate)
    problem: str = ""    # why, one line (also: a file too large, graded as the blank notebook)


# Canvas names a downloaded submission <student>[_LATE]_<user id>_<submission id>_<original name>
CANVAS_NAME = re.compile(r"([^_/]+?)(?:_LATE)?_\d+_\d+_.*\.ipynb")


def _student_of(parts: tuple[str, ...], name: str) -> str:
    """The student id: the folder the notebook sits in, else (at the top) a Canvas-style file name.

    A file in a student's folder is that student's, whatever its name says.
    """
    if parts:
        return parts[0]
    m = CANVAS_NAME.fullmatch(name)
    return m.group(1) if m else ""


def _hidden(parts: tuple[str, ...], name: str) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or name.startswith(".")


def _from_entries(entries: list[tuple[tuple[str, ...], str, str, callable]]) -> list[Submission]:
    """entries: (folder parts, file name, where, read) for every *.ipynb found."""
    entries = [e for e in entries if not _hidden(e[0], e[1])]  # macOS and editor litter
    # an LMS zip often wraps everything in one top folder: drop it when all share it
    # (student folders inside it, or an LMS's flat files inside it, named by student)
    tops = {parts[0] for parts, *_ in entries if parts}
    nested = all(len(parts) >= 2 for parts, *_ in entries)
    flat_lms = all(len(parts) == 1 and CANVAS_NAME.fullmatch(name) for parts, name, *_ in entries)
    if len(tops) == 1 and entries and (nested or flat_lms):
        entries = [(parts[1:], name, where, read) for parts, name, where, read in entries]
    found: dict[str, Submission] = {}
    duplicated: set[str] = set()
    for parts, name, where, read in sorted(entries, key=lambda e: e[2]):
        student = _student_of(parts, name)
        if student in duplicated:
            continue  # a third (or later) notebook of a student refused twice: still refused
        if not student:
            found[where] = Submission(where, where, None, "cannot tell whose notebook this is "
                                      "(expected <student>/<notebook>.ipynb or an LMS file name)")
            continue
        if not STUDENT_ID.fullmatch(student):
            found[where] = Submission(student, where, None, f"student id {student!r} is not a safe name "
                                      "(letters, digits, '_', '.', '-'; at most 64)")
            continue
        if student in found and found[student].data is not None:
            duplicated.add(student)
            found[student] = Submission(student, where, None,
                                        f"more than one notebook for student {student!r} "
                                        f"({found[student].source} and {where})")
            continue
        data = read()
        if data is None:  # too large to read: graded as the blank notebook, with the reason
            found[student] = Submission(student, where, b"", f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB")
            continue
        found[student] = Submission(student, where, data)
    return list(found.values())


def from_folder(folder: Path) -> list[Submission]:
    def reader(path: Path):
        return lambda: path.read_bytes() if path.stat().st_size <= MAX_NOTEBOOK_BYTES else None
    entries = []
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue  # a link could point anywhere: never follow one
        rel = path.relative_to(folder)
        if path.suffix != ".ipynb":
            continue
        entries.append((rel.parts[:-1], rel.name, str(path), reader(path)))
    return _from_entries(entries)


def from_zip(archive: Path) -> list[Submission]:
    """Read notebooks straight from the zip: nothing is extracted, so no path can escape."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise UsageError(f"{archive}: not a zip file")
    entries, refused = [], []
    with zf:
        for info in zf.infolist():
            path = PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir() or path.suffix != ".ipynb":
                continue
            parts = tuple(p for p in path.parts[:-1] if p not in ("", "."))
            if path.is_absolute() or ".." in parts:  # zip-slip: refused by name, never read
                where = f"{archive}:{info.filename}"
                refused.append(Submission(where, where, None, "zip member outside the archive's "
                                          "folder (absolute or '..' path): refused"))
                continue

            def read(info=info):
                if info.file_size > MAX_NOTEBOOK_BYTES:
                    return None
                with zf.open(info) as f:
                    return f.read(MAX_NOTEBOOK_BYTES + 1)
            entries.append((parts, path.name, f"{archive}:{info.filename}", read))
        return _from_entries(entries) + refused


def collect(path: Path) -> list[Submission]:
    """Every submission under ``path`` (a folder or a .zip), accepted or with its problem."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    if path.is_dir():
        subs = from_folder(path)
    elif zipfile.is_zipfile(path):
        subs = from_zip(path)
    else:
        raise UsageError(f"{path}: neither a folder of <student>/<notebook>.ipynb nor a zip file")
    if not subs:
        raise UsageError(f"{path}: no notebooks found (expected <student>/<notebook>.ipynb)")
    return subs


def stage(subs: list[Submission], course: Path, assignment: str, notebook: str, release) -> dict[str, str]:
    """Write each stageable submission, rebuilt on the release, to ``course/submitted/<student>/...``.

    The student's file is only read: what is staged is :func:`autograder.assemble.assemble`'s
    notebook (or the blank release with a note, when the file cannot be read as a notebook).
    Each file is written to a temporary name and renamed, so an interrupted run never leaves
    a half-written notebook. Returns {student: problem} ('' when the notebook was used).
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
        dest = course / "submitted" / sub.student / assignment
        if dest.exists():
            shutil.rmtree(dest)  # the new submission replaces the old one entirely
        dest.mkdir(parents=True)
        with tempfile.NamedTemporaryFile("w", dir=dest, delete=False, suffix=".part", encoding="utf-8") as tmp:
            nbformat.write(nb, tmp)
        Path(tmp.name).replace(dest / notebook)
        staged[sub.student] = problem
    return staged
