"""Feedback redaction: hidden tests show their docstring and one line, never their code or traceback."""
import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder.feedback import RedactHiddenTests, docstring

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
            "f.random: 3 value(s) differ from the reference. Hint: mind the bias",
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
        "Failed: AssertionError: f.random: 3 value(s) differ from the reference. Hint: mind the bias\n"]


def test_summary_lists_every_cell_that_lost_points_and_only_those():
    nb, _ = RedactHiddenTests().preprocess(autograded_notebook(), {})
    summary = nb.cells[0].source
    assert summary.startswith("## Points lost")
    assert "`test_f_hidden` | 0 / 1 | AssertionError: f.random" in summary and "Hint: mind the bias" in summary
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
