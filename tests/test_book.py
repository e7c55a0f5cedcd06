"""The book builds with warnings as errors, and every chapter executes and shows its outputs."""
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"

pytest_plugins = ["book_build"]  # the fixture built_book: one build, shared with test_site.py
pytestmark = pytest.mark.xdist_group("book")


def toc_files() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [ch["file"] for part in toc["parts"] for ch in part["chapters"]]


@pytest.mark.slow
def test_book_builds_with_warnings_as_errors(built_book):
    assert built_book.returncode == 0, built_book.stdout[-4000:] + built_book.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.parametrize("chapter", [f for f in toc_files() if f.startswith("chapters/")])
def test_chapter_executes_and_shows_outputs_without_errors(built_book, chapter):
    page = HTML / f"{chapter}.html"
    assert page.is_file(), f"{page} was not built"
    html = page.read_text()
    assert 'class="cell_output' in html, f"{chapter}: no executed outputs on the page"
    for bad in ("Traceback (most recent call last)", "output stderr", "NameError", "Error in callback"):
        assert bad not in html, f"{chapter}: {bad!r} on the built page"
    for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
        if not src.startswith(("http", "data:")):
            assert (page.parent / src).resolve().is_file(), f"{chapter}: image {src} is missing"


@pytest.mark.slow
def test_plots_appear_as_images(built_book):
    html = (HTML / "chapters" / "language-models.html").read_text()
    assert re.search(r'<img[^>]+src="[^"]*\.png"', html), "the Zipf plot is not on the page"


@pytest.mark.slow
def test_build_report_lists_every_chapter(built_book):
    html = (HTML / "reports" / "execution.html").read_text()
    for chapter in toc_files():
        if chapter.startswith("chapters/"):
            assert Path(chapter).name in html, chapter
