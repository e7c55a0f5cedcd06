"""Rebuild a submission on the instructor's skeleton: only the student's code is taken from it.

A submitted notebook is data, not instructions: its metadata can claim any
points, unlock or delete a test cell, turn one into markdown, duplicate it or
carry ``schema_version: 99`` (which stops stock nbgrader's whole batch). The
grader never reads any of that. It takes the *release* notebook (the
instructor's own copy) cell by cell and puts into it

- for each answer cell, the source of the student's cell with the same
  ``grade_id`` (the first code cell of that id; a missing one stays the stub),
- the student's own extra code and markdown cells, where the student put them,

while every locked cell, test and instruction comes from the release, with
the release's metadata. nbgrader then restores the hidden tests from its
gradebook as usual. Outputs are dropped (they are recomputed).
"""
from __future__ import annotations

import copy
import json

import nbformat
from nbgrader.utils import is_solution

MAX_CELLS = 2000          # more is not a problem set: refuse rather than run it
MAX_CELL_CHARS = 200_000  # one cell's source


class BadSubmission(ValueError):
    """The notebook cannot be graded; the message is one line for the student."""


def read_student(data: bytes) -> dict:
    """The student's notebook as JSON, checked just enough to take cells from it."""
    if not data.strip():
        raise BadSubmission("empty file")
    try:
        nb = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadSubmission("not a notebook (not UTF-8 text)")
    except json.JSONDecodeError as err:
        raise BadSubmission(f"not a notebook (not JSON, truncated?: {str(err).splitlines()[0][:80]})")
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise BadSubmission("not a notebook (no list of cells)")
    if nb.get("nbformat") != 4:
        raise BadSubmission(f"unsupported notebook format {nb.get('nbformat')!r} (nbformat 4 expected)")
    if len(nb["cells"]) > MAX_CELLS:
        raise BadSubmission(f"{len(nb['cells'])} cells: more than {MAX_CELLS}")
    return nb


def _text(source) -> str:
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        source = "".join(source)
    if not isinstance(source, str):
        return ""
    return source[:MAX_CELL_CHARS]


def _grade_id(cell: dict):
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return gid if isinstance(gid, str) else None


def blank(release, reason: str) -> nbformat.NotebookNode:
    """The release as it was handed out, with a note saying why the submission could not be used."""
    nb = copy.deepcopy(release)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f"**The grader could not read your submission: {reason}.** It was graded as the blank notebook."))
    return nb


def assemble(student: dict, release) -> nbformat.NotebookNode:
    """The notebook to grade: the release's cells, the student's answers and extra cells."""
    skeleton = [c for c in release.cells]
    answer_ids = {c.metadata["nbgrader"]["grade_id"] for c in skeleton if is_solution(c)}
    release_ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in skeleton} - {None}

    answers: dict[str, str] = {}
    extras_after: dict[str | None, list] = {}  # extra cells, keyed by the release cell they follow
    last_known = None
    for cell in student["cells"]:
        if not isinstance(cell, dict):
            continue
        gid = _grade_id(cell)
        kind = cell.get("cell_type")
        if gid in answer_ids:
            if gid not in answers and kind == _cell_kind(skeleton, gid):  # the first one of the right kind
                answers[gid] = _text(cell.get("source"))
            last_known = gid
        elif gid in release_ids:
            last_known = gid  # a locked or test cell: the release's copy is used
        elif kind in ("code", "markdown"):
            extra = (nbformat.v4.new_code_cell(_text(cell.get("source"))) if kind == "code"
                     else nbformat.v4.new_markdown_cell(_text(cell.get("source"))))
            extras_after.setdefault(last_known, []).append(extra)

    cells = list(extras_after.get(None, []))
    for cell in skeleton:
        cell = copy.deepcopy(cell)
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
        cells.extend(extras_after.get(gid, []) if gid else [])
    nb = copy.deepcopy(release)
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def _cell_kind(skeleton, gid: str) -> str:
    for c in skeleton:
        if c.metadata.get("nbgrader", {}).get("grade_id") == gid:
            return c.cell_type
    return ""
