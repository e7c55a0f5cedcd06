"""What a student receives: the rule that ties visible to hidden tests, and a self-check without warnings.

``nbgrader validate`` (the students' self-check) reads a test cell's displayed value as a partial
score. A release's hidden test cell keeps only what is outside its hidden block; when that was
the docstring alone, its value was displayed and validate warned twice per hidden test that the
text "cannot be converted to a float". Each hidden test cell now ends with a ``print`` after its
docstring, and nothing else in a test cell ends with a displayed value.
"""
import ast
import re
import subprocess

import nbformat
import pytest
from nbgrader.preprocessors import ClearHiddenTests

from conftest import COURSE, env_for, make_course, run_cli

ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
# the rule of autograder.verdict.TrustedVerdict.confirm (confirm_visible in exercises/nbgrader_config.py)
RULE = ("A visible test earns its points only if the hidden tests of the answers it uses pass too, so an "
        "answer that passes its visible test but fails its hidden test loses the points of both.")
SILENT_CALLS = {"print", "check"}  # calls that return None: nothing displayed


def source_notebook(ps: str):
    (nb,) = (COURSE / "source" / ps).glob("*.ipynb")
    return nb


def displayed_value(source: str) -> str | None:
    """The code of the last statement if IPython would display its value (None if nothing is shown)."""
    tree = ast.parse(source)
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or source.rstrip().endswith(";"):
        return None
    last = tree.body[-1].value
    if isinstance(last, ast.Call) and isinstance(last.func, ast.Name) and last.func.id in SILENT_CALLS:
        return None
    return ast.unparse(last)


@pytest.mark.parametrize("ps", ASSIGNMENTS)
def test_the_introduction_says_how_visible_and_hidden_tests_combine(ps):
    nb = nbformat.read(source_notebook(ps), as_version=4)
    intro = next(c for c in nb.cells if c.cell_type == "markdown")
    assert RULE in " ".join(intro.source.split()), f"{ps}: the first markdown cell does not state the rule"


@pytest.mark.parametrize("ps", ASSIGNMENTS)
def test_no_test_cell_of_the_source_or_the_release_ends_with_a_displayed_value(ps):
    source = nbformat.read(source_notebook(ps), as_version=4)
    release, _ = ClearHiddenTests().preprocess(nbformat.from_dict(source), {})  # what nbgrader releases
    for which, nb in (("source", source), ("release", release)):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                shown = displayed_value(cell.source)
                assert shown is None, (f"{ps} ({which}): {meta['grade_id']} displays {shown[:60]!r}, which "
                                       "nbgrader validate reads as a partial score")


def test_the_rule_is_the_graders():
    """The sentence describes what the course grades with: confirm_visible on."""
    config = (COURSE / "nbgrader_config.py").read_text()
    assert re.search(r"^c\.TrustedVerdict\.confirm_visible\s*=\s*True", config, re.M)


@pytest.mark.slow  # about 30 s: a release and a notebook run
def test_nbgrader_validate_of_an_honest_release_prints_no_warning(tmp_path):
    """A release filled with the reference's answers, validated as a student does: Success!, no warning."""
    ps = "ps01-language-models"
    course = make_course(tmp_path / "course")
    assert run_cli(course, "release", ps).returncode == 0
    released = course / "release" / ps / source_notebook(ps).name
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source
               for c in nbformat.read(source_notebook(ps), as_version=4).cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(released, as_version=4)
    filled = 0
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers and cell.metadata["nbgrader"].get("solution"):
            cell.source, filled = answers[gid], filled + 1
    assert filled >= 4
    student = tmp_path / "student" / released.name
    student.parent.mkdir()
    nbformat.write(nb, student)
    proc = subprocess.run(["nbgrader", "validate", str(student)], cwd=course, env=env_for(course),
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert "Success! Your notebook passes all the tests." in out, out[-2000:]
    assert "cannot be converted" not in out and "[ValidateApp | WARNING]" not in out, out[-2000:]
