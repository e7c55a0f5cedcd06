"""Feedback redaction: hidden tests show their docstring and one line, never their code or traceback."""
import os
from html.parser import HTMLParser

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder.feedback import MAX_REASON, RedactHiddenTests, docstring, lost_points

HIDDEN_SOURCE = ('"""Hidden: f on seeded random inputs."""\n### BEGIN HIDDEN TESTS\n'
                 'from autograder.checks import check\ncheck("ps99", "f.random", f)\n### END HIDDEN TESTS')


def graded(source, gid, score, points=1, outputs=()):
    cell = new_code_cell(source, outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": gid, "points": points,
                                 "score": score, "locked": True, "schema_version": 3}
    return cell


def error(evalue, traceback_lines):
    return new_output("error", ename="AssertionError", evalue=evalue, traceback=traceback_lines)


def autograded_notebook():
    leak = "expected 0.123456789"
    return new_notebook(cells=[
        graded('"""Visible test: f(1) == 2."""\nassert f(1) == 2, "expected 2"', "test_f_visible", 1),
        graded(HIDDEN_SOURCE, "test_f_hidden", 0, outputs=[error(
            "f.random: output `[2]['h']` (shape (3, 4)) differs first at [1, 0]; 3 of 96 values differ. "
            "Hint: mind the bias",
            ["\x1b[31m---\x1b[39m", f"Cell In[3], line 4\n----> 4 check(\"ps99\", \"f.random\", f)  # {leak}"])]),
        graded(HIDDEN_SOURCE.replace("f.random", "g.random"), "test_g_hidden", 2, points=2),
    ])


def test_hidden_test_source_and_traceback_are_replaced_by_its_docstring_and_one_line():
    nb, _ = RedactHiddenTests().preprocess(autograded_notebook(), {})
    text = nbformat.writes(nb)
    for secret in ("BEGIN HIDDEN TESTS", "autograder.checks", 'check(\\"ps99', "0.123456789", "Cell In["):
        assert secret not in text, secret
    hidden = nb.cells[2]
    assert hidden.source.startswith('"""Hidden: f on seeded random inputs."""')
    assert [o.text for o in hidden.outputs] == [
        "Failed: AssertionError: f.random: output `[2]['h']` (shape (3, 4)) differs first at [1, 0]; "
        "3 of 96 values differ. Hint: mind the bias\n"]


def test_summary_lists_every_cell_that_lost_points_and_only_those():
    nb, _ = RedactHiddenTests().preprocess(autograded_notebook(), {})
    summary = nb.cells[0].source
    assert summary.startswith("## Points lost")
    assert ('<tr><td><code>test_f_hidden</code></td><td style="text-align:right">0 / 1</td><td>AssertionError: '
            "f.random: output <code>[2][&#x27;h&#x27;]</code> (shape (3, 4))") in summary
    assert "Hint: mind the bias" in summary and summary.count("<tr>") == 2  # the header and one row
    assert "test_f_visible" not in summary and "test_g_hidden" not in summary


def test_a_full_score_says_nothing_was_lost():
    nb = autograded_notebook()
    nb.cells[1].metadata["nbgrader"]["score"] = 1
    nb.cells[1].outputs = []
    nb, _ = RedactHiddenTests().preprocess(nb, {})
    assert "None: every test passed." in nb.cells[0].source


def test_docstring_is_read_on_one_line():
    assert docstring('"""Hidden: a\n   b."""\nx = 1') == "Hidden: a b."
    assert docstring("x = 1") == ""


class VisibleText(HTMLParser):
    """The text a browser shows (entities decoded), and the text of each table row."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.rows, self._skip, self._in_cell = [], [], 0, False

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)
            if self._in_cell:
                self.rows[-1][-1] += data


def feedback_html(nb) -> str:
    """The page ``nbgrader generate_feedback`` writes for ``nb``: its exporter, template and our preprocessor."""
    import nbgrader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb, _ = RedactHiddenTests().preprocess(nb, {})
    formgrader = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")
    c = Config()  # as nbgrader.converters.GenerateFeedback configures it
    c.HTMLExporter.template_name = "feedback"
    c.HTMLExporter.extra_template_basedirs = [os.path.join(formgrader, "templates")]
    c.HTMLExporter.extra_template_paths = [os.path.join(formgrader, "static", "node_modules", "bootstrap",
                                                        "dist", "css")]
    resources = {"nbgrader": {"notebook": "ps99", "score": 1, "max_score": 4, "late_penalty": 0}}
    body, _ = HTMLExporter(config=c).from_notebook_node(nb, resources=resources)
    return body


def test_angle_brackets_and_markdown_characters_survive_as_visible_text_in_the_feedback_page():
    nb = autograded_notebook()
    reason = ("f.random: output `tokens[<pad>]` differs; 2 of 9 values differ. Hint: map a rare word to "
              "<unk>, never to <pad> | keep *all* of x_t and y_t & mind 2 * h < 3")
    nb.cells[1].outputs = [error(reason, [])]
    page = VisibleText()
    page.feed(feedback_html(nb))
    text = "".join(page.text)
    row = [r for r in page.rows if r and r[0] == "test_f_hidden"]
    assert len(row) == 1, "one row of the Points lost table names the test"
    assert row[0][1:] == ["0 / 1", "AssertionError: " + reason.replace("`", "")]  # every word, as written
    assert text.count("Failed: AssertionError: " + reason) == 1  # the redacted cell's own line


def test_a_long_error_is_cut_at_a_space_with_an_ellipsis():
    nb = autograded_notebook()
    words = "the answer raised because tokens_per_batch exceeded the budget of the sampler".split()
    evalue = " ".join(words[i % len(words)] for i in range(400))
    nb.cells[1].outputs = [error(evalue, [])]
    ((gid, score, points, reason),) = lost_points(nb)
    full = "AssertionError: " + evalue
    assert reason.endswith("\u2026") and len(reason) <= MAX_REASON
    head = reason[:-1]
    assert full.startswith(head) and full[len(head)] == " ", "cut between two words, never inside one"
    nb, _ = RedactHiddenTests().preprocess(nb, {})
    assert nb.cells[2].outputs[0].text == f"Failed: {reason}\n"
