"""The website as students use it: self-contained, with release notebooks to download, nothing secret.

The static tests read every file of ``_build/html``; the browser tests open every page in Debian's
chromium (``apt-get install chromium``, driven by Playwright) from a local HTTP server, with every
request to anywhere else blocked, as a student reads the site with the network cut off.
"""
import functools
import html
import http.server
import io
import json
import os
import re
import threading
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"

pytest_plugins = ["book_build"]  # the fixture built_book: one build, shared with test_book.py
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]

SOURCE = REPO / "exercises" / "source"
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium as root on a machine with no network (see the machine notes): no sandbox,
# no GPU, and none of the background connections that would otherwise be refused at every start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = REPO / "_build" / "screenshots" / "language-models.png"
SCREENSHOT_PAGE = "chapters/language-models.html"
NOT_PAGES = ("_static", "_sources", "_downloads", "_images")
BINARY = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".inv"}
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME",
           "autograder.checks")
SECRET = r"### BEGIN (?:SOLUTION|HIDDEN TESTS).*?### END (?:SOLUTION|HIDDEN TESTS)"  # nbgrader's blocks
RESOURCE_ATTRS = {"script": "src", "link": "href", "img": "src", "source": "src", "iframe": "src",
                  "video": "src", "audio": "src", "embed": "src", "object": "data", "track": "src"}


# --- what the site is made of --------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(built_book) -> Path:
    if built_book.returncode != 0:
        pytest.fail("the book did not build (see test_book_builds_with_warnings_as_errors)")
    return HTML


def pages() -> list[Path]:
    return sorted(p for p in HTML.rglob("*.html") if p.relative_to(HTML).parts[0] not in NOT_PAGES)


def toc_chapters() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [ch["file"] for part in toc["parts"] for ch in part["chapters"] if ch["file"].startswith("chapters/")]


def chapter_problem_sets(chapter: str) -> list[str]:
    """The problem sets that the chapter names with the {problem-set} role (in its last paragraph)."""
    return re.findall(r"\{problem-set\}`([^`]+)`", (REPO / f"{chapter}.md").read_text())


def released() -> list[str]:
    return sorted(p.name for p in SOURCE.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))


def soup(page: Path) -> BeautifulSoup:
    return BeautifulSoup(page.read_text(), "html.parser")


def notebook_text(raw: str) -> str:
    """Every cell source and every text output of a notebook, as one string."""
    nb = json.loads(raw)
    parts = []
    for cell in nb.get("cells", []):
        parts.append("".join(cell.get("source", "")))
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for value in out.get("data", {}).values():
                parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


def texts_of(name: str, data: bytes):
    """(name, text) of a file as a reader sees it: HTML as text, notebooks as cells, zips member by member."""
    suffix = Path(name).suffix.lower()
    if suffix in BINARY:
        return
    if suffix == ".zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                yield from texts_of(f"{name}!{member}", zf.read(member))
        return
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if suffix in (".html", ".htm"):
        yield name, html.unescape(re.sub(r"<[^>]+>", "", raw))
    elif suffix == ".ipynb":
        yield name, notebook_text(raw)
    else:
        yield name, raw


@functools.cache
def site_texts() -> dict[str, str]:
    """Every file of the site (MathJax's own files aside) as text."""
    out = {}
    for f in sorted(HTML.rglob("*")):
        rel = f.relative_to(HTML).as_posix()
        if f.is_file() and not rel.startswith("_static/mathjax/"):
            out.update(texts_of(rel, f.read_bytes()))
    return out


def secret_blocks() -> list[tuple[str, list[str]]]:
    """Each solution and hidden-test block of the source notebooks: (where, its lines of more than 12 characters)."""
    blocks = []
    for path in sorted(SOURCE.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            where = f"{path.name}:{meta.get('grade_id', '?')}"
            chunks = re.findall(SECRET, cell.source, re.S)
            if cell.cell_type == "markdown" and meta.get("solution"):
                chunks.append(cell.source)  # a written answer: the whole cell is the solution
            for chunk in chunks:
                lines = [ln.strip() for ln in chunk.splitlines() if len(ln.strip()) > 12]
                if lines:
                    blocks.append((where, lines))
    return blocks


def public_sources() -> str:
    """What is shown on purpose: the book's pages, the library they include, and the problem sets
    without their solutions and hidden tests (the code a student is given)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages_ = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    files = [REPO / f"{p}.md" for p in pages_ if (REPO / f"{p}.md").is_file()] + list(REPO.glob("seqmx/**/*.py"))
    given = [re.sub(SECRET, "", c.source, flags=re.S)
             for path in sorted(SOURCE.glob("*/*.ipynb")) for c in nbformat.read(path, as_version=4).cells
             if not (c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution"))]
    return "\n".join([f.read_text() for f in files] + given)


def calibrated_numbers() -> set[str]:
    """Every calibrated float of autograder/expectations/, written as Python writes it (repr)."""
    found = set()

    def walk(v):
        if isinstance(v, float):
            found.add(repr(abs(v)))  # the sign stands apart from the digits looked for
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for f in (REPO / "autograder" / "expectations").glob("*.json"):
        for check in json.loads(f.read_text())["checks"].values():
            walk(check["value"])
    return {r for r in found if len(re.sub(r"\D", "", r)) >= 8}  # 8+ digits: no chance agreement


# --- static checks -----------------------------------------------------------------------------


def test_no_page_loads_a_script_style_font_or_image_from_outside(site):
    outside = []
    for page in pages():
        doc = soup(page)
        for tag, attr in RESOURCE_ATTRS.items():
            for el in doc.find_all(tag):
                url = el.get(attr) or ""
                if tag == "link" and "stylesheet" not in (el.get("rel") or []) and "preload" not in (
                        el.get("rel") or []) and "icon" not in " ".join(el.get("rel") or []):
                    continue  # a plain <link rel="next"> is navigation, not a resource
                if re.match(r"(?i)^(https?:)?//", url):
                    outside.append(f"{page.relative_to(HTML)}: <{tag} {attr}={url}>")
        for script in doc.find_all("script"):
            named = re.search(r"https?://[^\s'\"]+", script.string or "") if not script.get("src") else None
            if named:  # not loaded yet, but a script that names a CDN would load from it
                outside.append(f"{page.relative_to(HTML)}: inline script names {named[0]}")
    for css in HTML.rglob("*.css"):
        for url in re.findall(r"""(?:url\(|@import\s+)\s*['"]?((?:https?:)?//[^'")\s]+)""", css.read_text(errors="replace")):
            outside.append(f"{css.relative_to(HTML)}: {url}")
    assert not outside, "\n".join(outside)


def test_math_is_typeset_by_mathjax_served_from_the_site(site):
    path = CONFIG["sphinx"]["config"]["mathjax_path"]
    assert "//" not in path
    script = HTML / "_static" / path.split("?")[0]
    assert script.is_file(), f"{script} missing: MathJax is not on the site"
    page = soup(HTML / "chapters" / "rnn.html")
    assert page.find(class_="math"), "the RNN chapter has no math to typeset"
    assert page.find("script", src=re.compile(r"_static/mathjax/MathJax\.js"))


def test_internal_links_and_anchors_resolve(site):
    ids: dict[Path, set[str]] = {}

    def ids_of(p: Path) -> set[str]:
        if p not in ids:
            ids[p] = set(re.findall(r'\bid="([^"]+)"', p.read_text()))
        return ids[p]

    broken, checked = [], 0
    for page in pages():
        doc = soup(page)
        for tag, attr in [("a", "href"), *RESOURCE_ATTRS.items()]:
            for el in doc.find_all(tag):
                url = el.get(attr)
                if not url or re.match(r"(?i)^([a-z][a-z0-9+.-]*:|//)", url):
                    continue  # outside links (a student follows them online) and data:, mailto:, javascript:
                parts = urlsplit(url)
                target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
                if target.is_dir():
                    target = target / "index.html"
                checked += 1
                if HTML.resolve() not in target.parents and target != HTML.resolve() or not target.is_file():
                    broken.append(f"{page.relative_to(HTML)}: {url} (no such file)")
                elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in ids_of(target):
                    broken.append(f"{page.relative_to(HTML)}: {url} (no such anchor)")
    assert checked > 100, f"only {checked} internal links found: is the site there?"
    assert not broken, "\n".join(broken)


def test_site_has_no_solution_hidden_test_or_calibrated_expectation(site):
    texts = site_texts()
    public = public_sources()
    leaks = []
    for name, text in texts.items():
        for marker in MARKERS:
            if marker in text:
                leaks.append(f"{name}: {marker!r}")
    for where, lines in secret_blocks():
        for name, text in texts.items():
            shown = [ln for ln in lines if ln in text]
            private = [ln for ln in shown if ln not in public]  # a line shown on purpose elsewhere is no leak...
            if private:
                leaks.append(f"{name}: {where}: {private[0]!r}")
            elif len(lines) > 1 and len(shown) == len(lines):  # ...but a whole solution on one page is
                leaks.append(f"{name}: {where}: the whole block")
    numbers = calibrated_numbers()
    assert len(numbers) > 100, "no calibrated values found to look for"
    for name, text in texts.items():
        hits = numbers & set(re.findall(r"\d+\.\d+(?:e[-+]?\d+)?", text))
        if hits:
            leaks.append(f"{name}: calibrated value {sorted(hits)[0]}")
    for f in HTML.rglob("*.json"):
        data = json.loads(f.read_text())
        if isinstance(data, dict) and "checks" in data and "calibrated" in data:
            leaks.append(f"{f.relative_to(HTML)}: an expectations file")
    assert not leaks, "\n".join(leaks[:30])


def test_each_chapter_links_its_release_notebook_or_says_not_yet_available(site):
    available = released()
    assert available, "no problem set in exercises/source/"
    named = {ch: chapter_problem_sets(ch) for ch in toc_chapters()}
    assert set(available) <= {ps for names in named.values() for ps in names}, "a problem set no chapter links"
    for chapter, names in named.items():
        page = HTML / f"{chapter}.html"
        doc = soup(page)
        links = {a.get_text(): a for a in doc.select("a.problem-set-download")}
        assert set(links) == {f"{ps}.ipynb" for ps in names if ps in available}, f"{chapter}: {sorted(links)}"
        text = doc.get_text(" ", strip=True)
        for ps in names:
            if ps in available:
                link = links[f"{ps}.ipynb"]
                assert "download" in link.attrs
                nb = nbformat.read(page.parent / link["href"], as_version=4)
                nbformat.validate(nb)
                assert_release_notebook(nb, ps)
            else:
                assert f"{ps} (not yet available)" in text, f"{chapter}: {ps} neither linked nor 'not yet available'"


def assert_release_notebook(nb, ps: str) -> None:
    """A student version made by nbgrader from exercises/source/<ps>: same cells, solutions replaced by stubs."""
    source = nbformat.read(SOURCE / ps / f"{ps}.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids == [c.metadata.get("nbgrader", {}).get("grade_id") for c in source.cells], f"{ps}: cells differ"
    stubs = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert stubs and all("YOUR CODE HERE" in c.source or "YOUR ANSWER HERE" in c.source for c in stubs), ps
    text = "".join(c.source for c in nb.cells)
    assert not any(m in text for m in MARKERS), f"{ps}: a solution or hidden test in the download"


def test_archive_holds_every_release_notebook(site):
    links = soup(HTML / "intro.html").select("a.problem-set-download")
    assert [a.get_text() for a in links] == ["seqmx-exercises.zip"]
    with zipfile.ZipFile(HTML / links[0]["href"]) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".ipynb"))
        assert names == [f"seqmx-exercises/{ps}/{ps}.ipynb" for ps in released()]
        for ps, name in zip(released(), names):
            nb = nbformat.reads(zf.read(name).decode(), as_version=4)
            nbformat.validate(nb)
            assert_release_notebook(nb, ps)


@pytest.mark.parametrize("chapter", toc_chapters())
def test_chapter_page_offers_notebook_and_source_downloads_navigation_and_launch(site, chapter):
    page = HTML / f"{chapter}.html"
    doc = soup(page)
    name = Path(chapter).name
    for suffix in (".ipynb", ".md"):
        link = doc.find("a", href=re.compile(rf"_sources/chapters/{re.escape(name)}\{suffix}$"))
        assert link, f"{chapter}: no download as {suffix}"
        assert (page.parent / link["href"]).is_file()
    executed = nbformat.read(page.parent / f"../_sources/chapters/{name}.ipynb", as_version=4)
    nbformat.validate(executed)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code"), "the notebook has no outputs"
    assert doc.select_one("a.left-prev") and doc.select_one("a.right-next"), f"{chapter}: no previous/next"
    assert doc.select_one("h1 span.section-number"), f"{chapter}: unnumbered title"
    hub = CONFIG.get("launch_buttons", {}).get("jupyterhub_url", "").rstrip("/")
    launch = doc.find("a", href=re.compile(r"/hub/user-redirect/git-pull\?"))
    if hub:
        assert launch and launch["href"].startswith(hub + "/hub/") and f"chapters/{name}.md" in launch["href"]
    else:
        assert launch is None
    for solution in doc.select("div.solution"):  # the in-page exercises' solutions start folded
        assert "dropdown" in solution["class"], f"{chapter}: a solution shown unfolded"


def test_parts_and_chapters_are_numbered_through_the_book(site):
    numbers = [soup(HTML / f"{ch}.html").select_one("h1 span.section-number").get_text(strip=True)
               for ch in toc_chapters()]
    assert numbers == [f"{i}." for i in range(1, len(numbers) + 1)], numbers
    parts = yaml.safe_load((REPO / "_toc.yml").read_text())["parts"]
    roman = iter(["I", "II", "III", "IV", "V", "VI", "VII", "VIII"])
    expected = [f"Part {next(roman)}: {p['caption']}" if p.get("numbered") else p["caption"] for p in parts]
    nav = soup(HTML / "intro.html").select("nav.bd-docs-nav p.caption span.caption-text")  # the sidebar
    captions = [c.get_text(strip=True) for c in nav]
    assert captions == expected


def test_bibliography_lists_every_cited_paper(site):
    keys = re.findall(r"^@\w+\{([^,]+),", (REPO / "references.bib").read_text(), re.M)
    assert keys
    doc = soup(HTML / "references.html")
    entries = doc.select(".citation")
    assert len(entries) == len(keys), (len(entries), keys)
    text = doc.get_text(" ", strip=True).lower()
    for title in ("On the difficulty of training recurrent neural networks", "Long short-term memory"):
        assert title.lower() in text, title


def test_search_index_covers_the_chapters(site):
    index = (HTML / "searchindex.js").read_text()
    assert "perplex" in index and "chapters/language-models" in index


def test_each_diagram_is_on_its_chapter_page_numbered_with_its_alt_text(site):
    from test_figures import figures  # the {figure} directives of the chapters' sources

    figs, problems = figures(), []
    assert figs, "no {figure} in the chapters"
    for fig in figs:
        page = HTML / "chapters" / f"{fig.chapter}.html"
        doc = soup(page)
        figure = doc.find("figure", id=fig.name)
        img = figure.find("img") if figure else None
        if img is None:
            problems.append(f"{page.name}: no <figure id={fig.name}> with an image")
            continue
        src = (page.parent / unquote(img.get("src", ""))).resolve()
        if not src.is_file() or src.read_bytes() != fig.file.read_bytes():
            problems.append(f"{page.name}: {fig.name} shows {img.get('src')}, not a copy of {fig.path}")
        if img.get("alt") != fig.alt:
            problems.append(f"{page.name}: {fig.name} has alt {img.get('alt')!r}")
        number = figure.select_one("figcaption .caption-number")
        if not number or not re.fullmatch(r"Fig\. \d+\.\d+", number.get_text(strip=True)):
            problems.append(f"{page.name}: {fig.name} has no numbered caption")
        if not doc.select(f'a.reference[href="#{fig.name}"]'):
            problems.append(f"{page.name}: the text never links to {fig.name}")
    assert not problems, "\n".join(problems)


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """A browser tab on the local server in which every request elsewhere is blocked and every problem logged."""

    def __init__(self, browser, origin: str):
        self.origin = origin
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True,
                                           service_workers="block")
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)  # a loaded 2-core machine: MathJax may take seconds a page
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))

    def _route(self, route):
        if route.request.url.startswith(self.origin + "/"):
            route.continue_()
        else:
            self.problems.append(f"outside request blocked: {route.request.url}")
            route.abort("blockedbyclient")

    def open(self, rel: str):
        self.problems.clear()
        self.page.goto(f"{self.origin}/{rel}", wait_until="load")
        self.page.wait_for_load_state("networkidle")
        return self.page

    def typeset(self) -> None:
        """Wait until MathJax has typeset the page and loaded every font it needs (its startup's "End")."""
        self.page.evaluate(TYPESET_HOOK)
        self.page.wait_for_function("() => window.__typeset !== false", timeout=120_000)
        state = self.page.evaluate("() => window.__typeset")
        assert state is True, state
        self.page.wait_for_load_state("networkidle")

    def close(self):
        self.context.close()


TYPESET_HOOK = """() => {
    window.__typeset = false;
    const done = () => { window.__typeset = true; };
    if (window.MathJax && MathJax.Hub) MathJax.Hub.Register.StartupHook("End", done);        // MathJax 2
    else if (window.MathJax && MathJax.startup) MathJax.startup.promise.then(done);       // MathJax 3
    else window.__typeset = "MathJax did not load";
}"""
PAGE_REPORT = r"""async () => {
    const imgs = [...document.images];
    imgs.forEach(i => { i.loading = 'eager'; });
    await Promise.all(imgs.map(i => i.decode().catch(() => null)));
    const math = [...document.querySelectorAll('span.math.notranslate, div.math.notranslate')];
    const rendered = '.MathJax, .MathJax_Display, .MathJax_SVG, .MathJax_CHTML, mjx-container';
    const texLeft = math.filter(e => !e.querySelector(rendered)).map(e => e.textContent.trim().slice(0, 80));
    const undefinedMacros = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode, el = node.parentElement, text = node.textContent;
        if (!el || el.closest('pre, code, script, style, textarea, .highlight')) continue;
        if (el.closest('.MathJax, .MathJax_Display, mjx-container')) {
            if (text.includes('\\')) undefinedMacros.push(text.trim().slice(0, 60));
        } else if (/\\\(|\\\)|\\\[|\\\]|\\begin\{|\$\$|\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$/.test(text)) {
            texLeft.push(text.trim().slice(0, 80));
        }
    }
    return {
        math: math.length,
        mathErrors: [...document.querySelectorAll('.noError, .merror, .MathJax_Error, mjx-merror')]
            .map(e => e.textContent.slice(0, 60)),
        texLeft, undefinedMacros,
        images: imgs.length,
        broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    };
}"""


def test_every_page_typesets_math_loads_images_and_logs_no_error_offline(site, server, browser):
    tab = Tab(browser, server)
    failures, math_pages, images = [], 0, 0
    try:
        for page_file in pages():
            rel = page_file.relative_to(site).as_posix()
            page = tab.open(rel)
            if rel == "index.html":  # the site's front door sends the reader to the first page
                page.wait_for_url("**/intro.html")
                page.wait_for_load_state("networkidle")
                rel = "intro.html (from index.html)"
            if page.locator("span.math.notranslate, div.math.notranslate").count():
                try:
                    tab.typeset()
                except Exception as err:  # noqa: BLE001 (a page that never typesets is reported, not fatal)
                    failures.append(f"{rel}: math not typeset: {str(err).splitlines()[0]}")
            report = page.evaluate(PAGE_REPORT)
            math_pages += bool(report["math"])
            images += report["images"]
            for key in ("mathErrors", "texLeft", "undefinedMacros", "broken"):
                if report[key]:
                    failures.append(f"{rel}: {key}: {report[key][:3]}")
            failures += [f"{rel}: {p}" for p in tab.problems]
            if rel == SCREENSHOT_PAGE:
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT))
    finally:
        tab.close()
    assert math_pages >= len(toc_chapters()) and images > 0, (math_pages, images)
    assert not failures, "\n".join(failures)
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_search_page_finds_perplexity(site, server, browser):
    tab = Tab(browser, server)
    try:
        page = tab.open("search.html?q=perplexity")
        page.wait_for_selector("ul.search li", timeout=60_000)
        page.wait_for_function("() => !document.querySelector('#search-progress')?.textContent.includes('Searching')")
        hits = page.locator("ul.search li a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        problems = list(tab.problems)
    finally:
        tab.close()
    assert any("language-models.html" in h for h in hits), hits
    assert not problems, problems


def test_exercise_downloads_are_valid_release_notebooks_in_the_browser(site, server, browser, tmp_path):
    tab = Tab(browser, server)
    got = {}
    try:
        for chapter in toc_chapters():
            names = [ps for ps in chapter_problem_sets(chapter) if ps in released()]
            if not names:
                continue
            page = tab.open(f"{chapter}.html")
            for ps in names:
                with page.expect_download() as info:
                    page.locator("a.problem-set-download", has_text=f"{ps}.ipynb").click()
                download = info.value
                assert download.suggested_filename == f"{ps}.ipynb"
                got[ps] = nbformat.read(download.path(), as_version=4)
        page = tab.open("intro.html")
        with page.expect_download() as info:
            page.locator("a.problem-set-download").click()
        archive = tmp_path / info.value.suggested_filename
        info.value.save_as(archive)
        problems = list(tab.problems)
    finally:
        tab.close()
    assert sorted(got) == released(), "a problem set in exercises/source/ has no download on its chapter"
    for ps, nb in got.items():
        nbformat.validate(nb)
        assert_release_notebook(nb, ps)
    with zipfile.ZipFile(archive) as zf:
        assert sorted(n for n in zf.namelist() if n.endswith(".ipynb")) == [
            f"seqmx-exercises/{ps}/{ps}.ipynb" for ps in released()]
    assert not problems, problems


def test_exercise_solution_opens_only_when_clicked(site, server, browser):
    tab = Tab(browser, server)
    try:
        page = tab.open("chapters/bptt.html")
        solution = page.locator("div.solution.dropdown").first
        body = solution.locator("section, p").last
        hidden_before = not body.is_visible()
        solution.locator(".admonition-title, button").first.click()
        page.wait_for_timeout(500)
        shown_after = body.is_visible()
        problems = list(tab.problems)
    finally:
        tab.close()
    assert hidden_before and shown_after, (hidden_before, shown_after)
    assert not problems, problems
