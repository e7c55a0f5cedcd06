"""The student edition (``python -m autograder publish``): what students get, and nothing of the instructors'.

The edition is built once into a temporary folder (releasing every problem set: minutes, so those
tests are slow) and scanned by :func:`autograder.publish.leaks` for every line of a solution or a
hidden test of ``exercises/source/`` and every calibrated value of ``autograder/expectations/``;
the scanner is shown to find a planted line in several disguises, so that its silence means something.
"""
import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import publish
from conftest import COURSE, REPO

SITE = REPO / "_build" / "html"
INSTRUCTOR_ONLY = ["jupyter-book", "dask", "distributed", "psycopg", "playwright", "pytest", "nbgrader",
                   "sphinx", "tqdm"]


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    return publish.publish(tmp_path_factory.mktemp("edition") / "student-edition")


def _a_secret_line() -> tuple[str, str]:
    """One solution line (and where it comes from) of the first problem set, a distinctive one."""
    lines = publish.secret_lines(COURSE)
    line = next(ln for ln, where in lines.items() if where.startswith("solution line of ps01") and '"' in ln)
    return line, lines[line]


# --- the scanner: what it looks for, and that it finds it ------------------------------------------


def test_secrets_cover_every_problem_set_and_leave_out_the_release():
    lines = publish.secret_lines(COURSE)
    names = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
    for name in names:
        assert any(f"solution line of {name} " in w for w in lines.values()), f"no solution line of {name}"
        assert any(f"hidden test line of {name} " in w for w in lines.values()), f"no hidden test line of {name}"
    assert all(len(ln) >= publish.MIN_LINE for ln in lines)
    assert not any("BEGIN SOLUTION" in ln or "END HIDDEN TESTS" in ln for ln in lines)
    assert "### BEGIN SOLUTION" not in "".join(lines)
    assert 'raise NotImplementedError()' not in lines  # the release's stub is not a secret


def test_calibrated_values_are_searched_in_distinctive_forms_only():
    numbers = publish.secret_numbers(publish.EXPECTATIONS)
    record = json.loads((publish.EXPECTATIONS / "ps01-language-models.json").read_text())
    valid_ppl = record["checks"]["valid_ppl"]["value"]
    assert repr(valid_ppl) in numbers and f"{valid_ppl:.2f}" in numbers  # an answer, as a notebook prints it
    # the one answer the language-models chapter prints on purpose (publish.SHOWN_BY_THE_BOOK) is not a secret
    assert str(record["checks"]["storage_4gram"]["value"]) not in numbers
    for common in ("0.0", "1.0", "0.5", "0.25", "0.16666666666666666", "0.3333333333333333", "28", "0.2"):
        assert common not in numbers, common
    assert all(publish._digits(form) >= 5 for form in numbers)


def test_the_scanner_finds_a_planted_line_and_value_in_every_disguise(tmp_path):
    line, where = _a_secret_line()
    record = json.loads((publish.EXPECTATIONS / "ps01-language-models.json").read_text())
    ppl = record["checks"]["valid_ppl"]["value"]
    (tmp_path / "clean.md").write_text("Nothing to see here: 0.5, 1.0, 28 and 1/6 = 0.16666666666666666.\n")
    assert publish.leaks(tmp_path) == []

    (tmp_path / "notes.py").write_text(f"def f():\n        {line}\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = 1\n{line}\n")])
    nbformat.write(nb, tmp_path / "nb.ipynb")  # in JSON its quotes are escaped
    escaped = line.replace("&", "&amp;").replace('"', "&quot;").replace("(", '<span class="p">(</span>')
    (tmp_path / "page.html").write_text(f"<pre><span>{escaped}</span></pre>")  # highlighted, escaped
    with zipfile.ZipFile(tmp_path / "all.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("inner/notes.py", line)
    (tmp_path / "README.md").write_text(f"The validation perplexity is {ppl:.2f}.\n")
    found = publish.leaks(tmp_path)
    for name in ("notes.py", "nb.ipynb", "page.html", "all.zip!inner/notes.py"):
        assert any(f.startswith(f"{name}: {where}") for f in found), (name, found)
    assert any(f.startswith("README.md: calibrated value of ps01-language-models valid_ppl") for f in found), found
    assert not any(f.startswith("clean.md") for f in found)

    (tmp_path / "tests" / "fixtures").mkdir(parents=True)
    (tmp_path / "autograder" / "expectations").mkdir(parents=True)
    found = publish.leaks(tmp_path)
    assert "forbidden path autograder" in found and "forbidden path tests" in found


# --- the edition ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_edition_leaks_nothing_and_has_no_forbidden_path(edition):
    assert publish.leaks(edition) == []
    for path in publish.FORBIDDEN:
        assert not (edition / path).exists(), path
    assert not list(edition.rglob("*expectations*")) and not list(edition.rglob("gradebook.db"))


@pytest.mark.slow
def test_a_solution_line_planted_in_a_copy_of_the_edition_is_reported(edition, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(edition, copy)
    line, where = _a_secret_line()
    chapter = copy / "chapters" / "language-models.md"
    chapter.write_text(chapter.read_text() + f"\n```python\n{line}\n```\n")
    assert publish.leaks(copy) == [f"chapters/language-models.md: {where}: {line!r}"]


@pytest.mark.slow
def test_the_edition_has_what_students_need(edition):
    for name in ("_config.yml", "_toc.yml", "intro.md", "glossary.md", "references.bib", "references.md",
                 "reports/execution.md", "_ext/course_site.py", "_ext/student_site.py", "seqmx/__init__.py",
                 "data/SHA1SUMS", "data/README.md", "README.md", "requirements.txt", "requirements-book.txt",
                 "constraints.txt", "pyproject.toml", "Dockerfile", ".devcontainer/devcontainer.json",
                 publish.MARKER):
        assert (edition / name).is_file(), name
    for chapter in (REPO / "chapters").glob("*.md"):
        assert (edition / "chapters" / chapter.name).read_bytes() == chapter.read_bytes()
    for line in (REPO / "data" / "SHA1SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha1((edition / "data" / name).read_bytes()).hexdigest() == digest, name
    # every problem set's release notebook: the answer cells are stubs, the hidden tests are gone
    for source in sorted((COURSE / "source").glob("*/*.ipynb")):
        released = edition / "exercises" / source.parent.name / source.name
        nb = nbformat.read(released, as_version=4)
        nbformat.validate(nb)
        text = "".join(c.source for c in nb.cells)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "autograder" not in text
        assert "raise NotImplementedError()" in text
    # the book reads the shipped notebooks: its config loads the student extension, not the release step
    config = (edition / "_config.yml").read_text()
    assert "student_site: _ext" in config and "course_site:" not in config
    assert not (edition / "exercises" / "source").exists()


@pytest.mark.slow
def test_student_requirements_are_light_and_pinned_as_the_course_is(edition):
    def names(path: Path) -> set[str]:
        return {ln.split("#")[0].split("==")[0].strip().lower() for ln in path.read_text().splitlines()
                if ln.split("#")[0].strip() and not ln.startswith("-")}

    student = names(edition / "requirements.txt")
    assert {"mxnet", "numpy", "d2l", "notebook", "ipykernel"} <= student
    assert not student & set(INSTRUCTOR_ONLY)
    assert not names(edition / "constraints.txt") & {"dask", "distributed", "psycopg", "psycopg-binary",
                                                      "playwright", "pytest", "pytest-xdist", "nbgrader"}
    course_pins = {ln.split("==")[0].strip().lower(): ln.split("==")[1].split()[0]
                   for ln in (REPO / "constraints.txt").read_text().splitlines() if "==" in ln}
    for req in publish.student_requirements():
        name, version = req.split("==")
        assert course_pins[name.lower()] == version, f"{req}: the course pins {course_pins[name.lower()]}"
    project = tomllib.loads((edition / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == ["mxnet==1.9.1", "numpy==1.23.5", "d2l==1.0.3"]
    assert all(d in publish.student_requirements() for d in project["dependencies"])
    assert json.loads((edition / ".devcontainer" / "devcontainer.json").read_text())["build"]["dockerfile"] \
        == "../Dockerfile"
    dockerfile = (edition / "Dockerfile").read_text()
    assert "python:3.11-slim" in dockerfile and "requirements.txt" in dockerfile and "autograder" not in dockerfile


@pytest.mark.slow
def test_the_student_extension_links_the_shipped_problem_sets_without_the_grader(edition, tmp_path):
    """A one-page book with the edition's _ext and one shipped problem set; ``autograder`` cannot be imported."""
    ps = "ps03-rnn"
    src, out = tmp_path / "src", tmp_path / "build" / "html"
    shutil.copytree(edition / "exercises" / ps, src / "exercises" / ps)
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(edition / '_ext')!r})\n"
        "sys.modules['autograder'] = None  # the edition has no grader: importing it fails\n"
        "extensions = ['myst_parser', 'student_site']\n"
        "exclude_patterns = ['_build', 'exercises']\n"
        "mathjax_path = 'mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe'\n")
    (src / "index.md").write_text(f"# A chapter\n\nThe problem set is {{problem-set}}`{ps}`. "
                                  "{problem-set}`ps99-later`. {problem-set-archive}`All of them`.\n")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-n", "-q", str(src), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text()
    assert "ps99-later</span></code> (not yet available)" in page
    downloads = sorted(p.name for p in (out / "_downloads").rglob("*.*"))
    assert downloads == [f"{ps}.ipynb", "seqmx-exercises.zip"]
    with zipfile.ZipFile(next((out / "_downloads").rglob("seqmx-exercises.zip"))) as zf:
        assert zf.namelist() == [f"seqmx-exercises/{ps}/{ps}.ipynb"]
    assert publish.leaks(out) == []


# --- the command --------------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


def test_publish_refuses_a_folder_that_is_not_an_edition(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.tex").write_text("precious")
    proc = _cli("publish", str(target), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "is not a student edition" in proc.stderr, proc.stderr
    assert (target / "thesis.tex").read_text() == "precious" and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    proc = _cli("publish", str(REPO / "seqmx" / "out"), cwd=tmp_path)
    assert proc.returncode == 2 and "inside the course's seqmx" in proc.stderr, proc.stderr


def test_publish_replaces_a_previous_edition_whole_and_keeps_it_when_it_fails(tmp_path, monkeypatch):
    release = tmp_path / "release"  # a stand-in for the released notebooks (releasing is what takes minutes)
    for source in sorted((COURSE / "source").glob("*/*.ipynb")):
        (release / source.parent.name).mkdir(parents=True)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# YOUR CODE HERE")])
        nbformat.write(nb, release / source.parent.name / source.name)
    dest = tmp_path / "edition"
    publish.publish(dest, release=release)
    (dest / "stale.txt").write_text("from an older edition")
    publish.publish(dest, release=release)
    assert not (dest / "stale.txt").exists() and (dest / publish.MARKER).is_file()

    line, _ = _a_secret_line()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(line)])  # a release that kept a solution
    nbformat.write(nb, release / "ps01-language-models" / "ps01-language-models.ipynb")
    (dest / "stale.txt").write_text("the previous edition")
    with pytest.raises(publish.UsageError, match="would leak instructor material: exercises/ps01"):
        publish.publish(dest, release=release)
    assert (dest / "stale.txt").read_text() == "the previous edition"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edition", "release"]  # no temporary folder left


@pytest.mark.skipif(not SITE.is_dir(), reason="no built site (_build/html): the book is built elsewhere in the suite")
def test_the_built_site_leaks_nothing():
    assert publish.leaks(SITE) == []
