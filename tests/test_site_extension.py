"""The book's extension _ext/course_site.py on a one-page Sphinx project: a problem set's download
appears on the next build once its folder exists in exercises/source/, with no edit of the page."""
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
PS = "ps03-rnn"

CONF = f"""
import sys
sys.path.insert(0, {str(REPO / "_ext")!r})
extensions = ["myst_parser", "course_site"]
exclude_patterns = ["_build", "exercises"]
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
"""
PAGE = f"""# A chapter

Some text that never changes.

The graded problem set for this chapter is {{problem-set}}`{PS}`. {{problem-set-archive}}`All of them`.
"""


def build(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-n", "-q", str(src), str(out)],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_problem_set_download_appears_and_disappears_with_its_folder(tmp_path):
    src, out = tmp_path / "src", tmp_path / "build" / "html"
    (src / "exercises" / "source").mkdir(parents=True)
    shutil.copy(REPO / "exercises" / "nbgrader_config.py", src / "exercises")
    (src / "conf.py").write_text(CONF)
    (src / "index.md").write_text(PAGE)

    first = build(src, out)
    assert first.returncode == 0, first.stderr
    page = (out / "index.html").read_text()
    assert f"{PS}</span></code> (not yet available)" in page and "_downloads" not in page

    shutil.copytree(REPO / "exercises" / "source" / PS, src / "exercises" / "source" / PS)
    second = build(src, out)  # the page itself did not change
    assert second.returncode == 0, second.stderr
    page = (out / "index.html").read_text()
    assert "not yet available" not in page
    downloads = sorted(p.relative_to(out).as_posix() for p in (out / "_downloads").rglob("*.*"))
    assert sorted(Path(d).name for d in downloads) == [f"{PS}.ipynb", "seqmx-exercises.zip"]
    for d in downloads:
        assert f'href="{d}"' in page
    released = nbformat.read(next((out / "_downloads").rglob(f"{PS}.ipynb")), as_version=4)
    nbformat.validate(released)
    assert "BEGIN SOLUTION" not in "".join(c.source for c in released.cells)
    assert not (src / "exercises" / "release").exists() and not (src / "exercises" / "gradebook.db").exists(), \
        "the release must not touch the course folder"

    shutil.rmtree(src / "exercises" / "source" / PS)
    third = build(src, out)
    assert third.returncode == 0, third.stderr
    assert f"{PS}</span></code> (not yet available)" in (out / "index.html").read_text()
