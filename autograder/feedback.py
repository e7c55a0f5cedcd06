"""Feedback that teaches without leaking: nbgrader's feedback, with hidden tests redacted.

Stock ``nbgrader generate_feedback`` renders the autograded notebook, and in
it every hidden test's source and its full traceback (nbgrader issues 917,
1156, 1363). :class:`RedactHiddenTests` runs after nbgrader's ``GetGrades``
(see ``exercises/nbgrader_config.py``, so stock nbgrader uses it too) and

- replaces a hidden test cell's source by its one-line docstring, which says
  what is checked, and a note that the code is not shown;
- replaces its error output by one line: the check that failed and its hint
  (``autograder.checks.check`` never puts expected values in that line);
- puts a summary at the top: every test cell that lost points, with that line.

The summary is an HTML table in a markdown cell, every text in it escaped with
``html.escape`` (a markdown table would take ``<unk>`` in a hint for an HTML tag,
and ``_`` or ``*`` for emphasis); what the reason puts in backticks is shown as
code. Long reasons are cut at a word, with an ellipsis.

Visible tests are shown whole: the student has their source already.
"""
from __future__ import annotations

import html
import re

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.utils import is_grade, is_solution
from traitlets import Bool

from autograder.checks import shorten

HIDDEN = ClearHiddenTests.begin_test_delimeter.default_value  # "BEGIN HIDDEN TESTS", nbgrader's own
DOCSTRING = re.compile(r'^\s*("""|\'\'\')(.*?)\1', re.S)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_REASON = 600  # characters: one line (a check's message and hint fit), whatever the student's code raised


def docstring(source: str) -> str:
    """A cell's leading docstring, on one line ('' if it has none)."""
    m = DOCSTRING.match(source)
    return " ".join(m.group(2).split()) if m else ""


def one_line_reason(outputs: list) -> str:
    """The failure of a test cell in one line: ``ExceptionName: message`` (truncated)."""
    for out in outputs:
        if out.get("output_type") == "error":
            text = f"{out.get('ename', 'Error')}: {ANSI.sub('', str(out.get('evalue', '')))}"
            return shorten(" ".join(text.split()), MAX_REASON)
    return ""


def redact(cell) -> None:
    """Hide a hidden test cell's code and traceback; keep its docstring and a one-line reason."""
    summary = docstring(cell.source) or "Hidden test"
    cell.source = f'"""{summary}"""\n# The code of this hidden test is not shown.'
    reason = one_line_reason(cell.get("outputs", []))
    cell.outputs = [new_output("stream", name="stdout", text=f"Failed: {reason}\n")] if reason else []
    cell.execution_count = None


def lost_points(nb) -> list[tuple[str, float, float, str]]:
    """(grade_id, score, points, reason) of every graded test cell that scored below its points."""
    rows = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not is_grade(cell) or is_solution(cell) or "points" not in meta:
            continue
        score = meta.get("score")
        if score is not None and score < meta["points"]:
            printed = " ".join("".join(o.get("text", "") for o in cell.get("outputs", [])).split())
            reason = one_line_reason(cell.get("outputs", [])) or shorten(printed, MAX_REASON)
            rows.append((meta["grade_id"], score, meta["points"], reason or "no output (see the cell)"))
    return rows


class RedactHiddenTests(Preprocessor):
    """nbgrader feedback preprocessor: no hidden test source, no expected values, one line per lost point."""

    enabled = Bool(True, help="on whenever it is listed (nbconvert preprocessors default to off)").tag(config=True)

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            if cell.cell_type == "code" and HIDDEN in cell.source:
                redact(cell)
        nb.cells.insert(0, new_markdown_cell(summary(lost_points(nb))))
        when = submission_line(resources.get("nbgrader", {}))
        if when:
            nb.cells.insert(0, new_markdown_cell(when))
        return nb, resources


def submission_line(info: dict) -> str:
    """When the submission came, against the due date, and its late penalty: one line, or ''."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.late import describe
    if not info.get("db_url"):
        return ""
    try:
        with Gradebook(info["db_url"]) as gb:
            sub = gb.find_submission(info["assignment"], info["student"])
            stamp, due, late = sub.timestamp, sub.duedate, sub.total_seconds_late
    except (MissingEntry, KeyError):
        return ""
    if stamp is None:
        return ""
    from autograder.late import CANVAS_LATE_SECONDS
    line = f"**Submitted** {stamp:%Y-%m-%d %H:%M} UTC"
    if due is not None and 0 < late <= CANVAS_LATE_SECONDS:  # Canvas's _LATE flag: no time was given
        line = f"**Submitted** after the due date ({due:%Y-%m-%d %H:%M} UTC), as Canvas marked it"
        if late > 0:
            line += f"; late penalty {-float(info.get('late_penalty') or 0):g} points"
    elif due is not None:
        line += f", due {due:%Y-%m-%d %H:%M} UTC: {describe(late)}"
        if late > 0:
            line += f"; late penalty {-float(info.get('late_penalty') or 0):g} points"
    return line + "."


def as_html(text: str) -> str:
    """Plain text as HTML, every character escaped; what is in backticks as code."""
    parts = re.split(r"`([^`]+)`", text)  # odd indices: the code spans
    return "".join(f"<code>{html.escape(part)}</code>" if i % 2 else html.escape(part)
                   for i, part in enumerate(parts))


def summary(rows: list[tuple[str, float, float, str]]) -> str:
    """The "Points lost" markdown: a heading and an HTML table (one line per row, no blank line in it)."""
    if not rows:
        return "## Points lost\n\nNone: every test passed."
    lines = ["## Points lost", "", "<table>",
             '<thead><tr><th>test</th><th style="text-align:right">score</th><th>why (and a hint)</th></tr></thead>',
             "<tbody>"]
    for gid, score, points, reason in rows:
        reason = reason.replace("Failed: ", "")
        lines.append(f'<tr><td><code>{html.escape(gid)}</code></td><td style="text-align:right">'
                     f"{score:g} / {points:g}</td><td>{as_html(reason)}</td></tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)
