"""The book's diagrams: every figure of a chapter is there, described, captioned and legible.

The diagrams are hand-written SVG files in ``chapters/figures/`` (text that diffs), shown by MyST
``{figure}`` directives, which Jupyter Book copies into the site's ``_images/``. This test reads
only the sources (no build): each directive points to an existing file and has a label, alt text
and a caption; the chapter refers to the figure; each SVG parses, has a title and a description,
and paints a full-size light background first, so that its dark strokes and text stay legible
on the site's dark theme (an ``<img>`` does not see the page's theme). ``tests/test_site.py``
checks the built pages. Cheap: it runs in the fast suite.
"""
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = REPO / "chapters"
FIGURES = CHAPTERS / "figures"
SVG = "{http://www.w3.org/2000/svg}"

# The diagrams each chapter shows (issue 13), in the order of the chapter.
EXPECTED = {
    "rnn": ["fig-rnn-unrolled"],
    "gru": ["fig-gru-cell"],
    "lstm": ["fig-lstm-cell", "fig-lstm-peephole"],
    "deep-rnn": ["fig-deep-rnn"],
    "bidirectional-rnn": ["fig-bidirectional-rnn"],
    "seq2seq": ["fig-seq2seq"],
}

DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{figure\}[ \t]*(?P<path>[^\n]*?)[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                       re.M | re.S)


class Figure(NamedTuple):
    chapter: str    # the chapter's stem
    path: str       # as written in the directive, relative to the chapter
    options: dict   # :name:, :alt:, ...
    caption: str
    line: int

    @property
    def name(self) -> str:
        return self.options.get("name", "")

    @property
    def alt(self) -> str:
        return self.options.get("alt", "")

    @property
    def file(self) -> Path:
        return (CHAPTERS / self.path).resolve()

    def __str__(self):
        return f"{self.chapter}.md:{self.line} {{figure}} {self.path}"


def figures_of(chapter: str, text: str) -> list[Figure]:
    """The {figure} directives of a chapter's MyST source."""
    found = []
    for m in DIRECTIVE.finditer(text):
        options, lines = {}, m.group("body").split("\n")
        while lines and (opt := re.fullmatch(r":([\w-]+):[ \t]*(.*)", lines[0].strip())):
            options[opt.group(1)] = opt.group(2).strip()
            lines.pop(0)
        found.append(Figure(chapter, m.group("path"), options, "\n".join(lines).strip(),
                            text.count("\n", 0, m.start()) + 1))
    return found


def figures() -> list[Figure]:
    """Every {figure} of every chapter."""
    return [f for path in sorted(CHAPTERS.glob("*.md")) for f in figures_of(path.stem, path.read_text())]


def svgs() -> list[Path]:
    return sorted(FIGURES.glob("*.svg"))


def luminance(color: str) -> float:
    """Relative luminance (WCAG) of #rgb, #rrggbb or white/black."""
    color = {"white": "#ffffff", "black": "#000000"}.get(color.strip().lower(), color.strip().lower())
    if not re.fullmatch(r"#[0-9a-f]{3}|#[0-9a-f]{6}", color):
        raise ValueError(f"not a colour this test reads: {color!r}")
    digits = color[1:] if len(color) == 7 else "".join(c * 2 for c in color[1:])
    channels = [int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# --- the directives ------------------------------------------------------------------------------


def test_the_parser_reads_a_figure_directive():
    text = "Intro.\n\n```{figure} figures/x.svg\n:name: fig-x\n:alt: An x.\n\nThe caption,\non two lines.\n```\n"
    [fig] = figures_of("demo", text)
    assert (fig.path, fig.name, fig.alt, fig.caption, fig.line) == (
        "figures/x.svg", "fig-x", "An x.", "The caption,\non two lines.", 3)
    assert figures_of("demo", "```{code-cell} ipython3\nprint(1)\n```\n") == []


@pytest.mark.parametrize("chapter", sorted(EXPECTED))
def test_each_chapter_shows_its_diagrams(chapter):
    names = [f.name for f in figures_of(chapter, (CHAPTERS / f"{chapter}.md").read_text())]
    assert names == EXPECTED[chapter]


@pytest.mark.parametrize("fig", figures(), ids=str)
def test_figure_points_to_a_file_and_has_a_label_alt_text_and_a_caption(fig):
    assert fig.file.is_file(), f"{fig}: no such file {fig.file}"
    assert FIGURES.resolve() in fig.file.parents, f"{fig}: figures live in chapters/figures/"
    assert re.fullmatch(r"fig-[a-z0-9-]+", fig.name), f"{fig}: no :name: fig-... label"
    assert len(fig.alt) >= 40, f"{fig}: the :alt: text must describe the diagram for a reader who cannot see it"
    assert fig.caption, f"{fig}: no caption"
    assert not set(fig.options) - {"name", "alt", "width", "align", "class"}, f"{fig}: options {fig.options}"


@pytest.mark.parametrize("fig", figures(), ids=str)
def test_the_chapter_text_refers_to_the_figure(fig):
    text = (CHAPTERS / f"{fig.chapter}.md").read_text()
    outside = DIRECTIVE.sub("", text)
    assert re.search(rf"\{{(?:numref|ref)\}}`(?:[^`<]*<)?{re.escape(fig.name)}>?`", outside), (
        f"{fig}: the chapter never refers to {fig.name} ({{numref}}`{fig.name}`)")


def test_labels_are_unique_and_every_svg_is_shown():
    figs = figures()
    names = [f.name for f in figs]
    assert len(names) == len(set(names)), names
    shown = {f.file for f in figs}
    assert {p.resolve() for p in svgs()} <= shown, "an SVG in chapters/figures/ that no chapter shows"


# --- the SVG files -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", svgs(), ids=lambda p: p.name)
def test_svg_parses_and_has_a_title_and_a_description(path):
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text and title.text.strip(), f"{path.name}: no <title>"
    assert desc is not None and desc.text and len(desc.text.strip()) >= 80, f"{path.name}: no <desc>"
    viewbox = [float(v) for v in root.get("viewBox", "").replace(",", " ").split()]
    assert len(viewbox) == 4, f"{path.name}: no viewBox"
    assert (float(root.get("width", 0)), float(root.get("height", 0))) == tuple(viewbox[2:]), (
        f"{path.name}: width and height must be the viewBox's size (the page scales the image down)")


@pytest.mark.parametrize("path", svgs(), ids=lambda p: p.name)
def test_svg_paints_a_full_size_light_background_first_and_dark_text_on_it(path):
    root = ET.parse(path).getroot()
    x0, y0, width, height = [float(v) for v in root.get("viewBox").replace(",", " ").split()]
    drawn = [el for el in root if el.tag not in {f"{SVG}{t}" for t in ("title", "desc", "style", "defs", "metadata")}]
    background = drawn[0]
    assert background.tag == f"{SVG}rect", f"{path.name}: the first thing drawn must be the background <rect>"
    box = [float(background.get(k, 0)) for k in ("x", "y", "width", "height")]
    assert box[0] <= x0 and box[1] <= y0 and box[0] + box[2] >= x0 + width and box[1] + box[3] >= y0 + height, (
        f"{path.name}: the background {box} does not cover the viewBox")
    fill = background.get("fill", "")
    assert luminance(fill) >= 0.9, f"{path.name}: the background {fill} is not light"
    for attr in ("opacity", "fill-opacity", "class", "style"):
        assert background.get(attr) is None, f"{path.name}: the background has {attr}= (keep it opaque and plain)"
    style = "".join(el.text or "" for el in root.iter(f"{SVG}style"))
    text_rule = re.search(r"(?:^|[\s}])text\s*\{([^}]*)\}", style)
    assert text_rule and (text_fill := re.search(r"fill:\s*(#[0-9a-fA-F]{3,6})", text_rule.group(1))), (
        f"{path.name}: the <style> must give text an explicit fill")
    assert contrast(text_fill.group(1), fill) >= 7, f"{path.name}: text {text_fill.group(1)} on {fill}"


@pytest.mark.parametrize("path", svgs(), ids=lambda p: p.name)
def test_svg_is_self_contained_and_never_takes_the_page_colour(path):
    raw = path.read_text()
    assert "currentcolor" not in raw.lower(), f"{path.name}: currentColor follows the page, unseen in an <img>"
    assert not re.search(r"""(?:href\s*=\s*["']|url\(\s*['"]?|@import\s+['"]?)(?:https?:)?//""", raw), (
        f"{path.name}: loads something from outside (the site works offline)")
    ids = re.findall(r"""\bid\s*=\s*["']([^"']+)""", raw)
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate ids"
    for ref in re.findall(r"url\(#([^)]+)\)", raw):
        assert ref in ids, f"{path.name}: url(#{ref}) names no element"
