"""The course website as students use it: a local Sphinx extension of the book.

* Releases every problem set of ``exercises/source/`` at build time with the
  course's own CLI (``python -m autograder release``, in a scratch copy of the
  course so that no gradebook or release folder is left in ``exercises/``) and
  offers the student notebooks for download: the role ``{problem-set}`ps07-gru```
  links a chapter to its release notebook, or says "not yet available" while
  ``exercises/source/ps07-gru/`` does not exist; ``{problem-set-archive}`text```
  links one zip of all of them. A page is read again as soon as a problem set
  it names appears or disappears, so new problem sets show up without edits.
* Serves MathJax from the site itself: MathJax 2.7 as shipped by the PyPI
  package ``jupyter-server-mathjax`` is copied to ``_static/mathjax`` (the
  book's ``mathjax_path`` points there), so math typesets with no network;
  ``static/course-mathjax2.css`` keeps the theme's rules for Sphinx's math
  boxes off MathJax 2's own.
* Numbers the parts of the table of contents ("Part I: Language models").
* Offers every executed chapter for download as a notebook (``.ipynb``) with
  its outputs, with or without a launch button configured, and leaves out sphinx-thebe's scripts
  (which name a CDN) when no live-code button is configured.

Only release notebooks (nbgrader's student versions: no solution, no hidden
test) reach the site; ``tests/test_site.py`` scans the built site to prove it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.fileutil import copy_asset

logger = logging.getLogger(__name__)

ARCHIVE = "seqmx-exercises.zip"
RELEASE_FOLDER = "exercises"  # beside the html output folder: _build/exercises/<ps>/<ps>.ipynb
ANY = "*"  # key under which a page records that it links the archive


# --- releasing the problem sets -------------------------------------------------------------


def _course(app: Sphinx) -> Path:
    return Path(app.srcdir) / "exercises"


def _release_root(app: Sphinx) -> Path:
    return Path(app.outdir).parent / RELEASE_FOLDER


def _fingerprint(course: Path, name: str) -> str:
    """What a problem set's release depends on: its sources, the nbgrader configuration, nbgrader's version."""
    from importlib.metadata import version

    digest = hashlib.sha256(f"nbgrader {version('nbgrader')}\n".encode())
    files = [course / "nbgrader_config.py"] + sorted(
        p for p in (course / "source" / name).rglob("*")
        if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts)
    for f in files:
        digest.update(f.relative_to(course).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def _write_archive(root: Path, names: list[str]) -> None:
    """One zip of every release folder, with fixed dates so that an unchanged release gives the same bytes."""
    tmp = root / (ARCHIVE + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            for f in sorted(p for p in (root / name).rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(f"seqmx-exercises/{f.relative_to(root).as_posix()}", (2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, f.read_bytes())
    os.replace(tmp, root / ARCHIVE)


def _run_release(course: Path, names: list[str], dest: Path) -> None:
    """``python -m autograder release NAMES`` in a scratch copy of the course; the release folders into ``dest``."""
    with tempfile.TemporaryDirectory(prefix="seqmx-release-") as tmp:
        # (the grader's own helper, imported here only: the student edition's site has no grader)
        from autograder import workspace

        # the scratch gradebook beside the scratch course, never a real one
        work = workspace.scratch_course(Path(tmp), course, names)
        env = workspace.nbgrader_env(own_gradebook=True, SEQMX_COURSE=str(work))
        proc = subprocess.run([sys.executable, "-m", "autograder", "release", *names], cwd=work, env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            raise ExtensionError(f"releasing the problem sets failed: {(proc.stderr or proc.stdout).strip()}")
        for name in names:
            if (dest / name).exists():
                shutil.rmtree(dest / name)
            shutil.copytree(work / "release" / name, dest / name)


def release_problem_sets(app: Sphinx) -> None:
    """Release every problem set of ``exercises/source/`` (again only those whose sources changed)."""
    from autograder.course import assignments, notebooks

    course = _course(app)
    # a problem set whose folder has no notebook yet is being written: not yet available
    names = [n for n in assignments(course) if notebooks(n, course)] if (course / "source").is_dir() else []
    dest = _release_root(app)
    dest.mkdir(parents=True, exist_ok=True)
    prints = {name: _fingerprint(course, name) for name in names}

    def up_to_date(name: str) -> bool:
        stamp = dest / f"{name}.fingerprint"
        return (dest / name).is_dir() and stamp.is_file() and stamp.read_text() == prints[name]

    stale = [name for name in names if not up_to_date(name)]
    gone = [p for p in dest.iterdir() if p.is_dir() and p.name not in names]
    if stale:
        logger.info(f"releasing {len(stale)} problem sets: {', '.join(stale)}")
        _run_release(course, stale, dest)
        for name in stale:
            (dest / f"{name}.fingerprint").write_text(prints[name])
    for folder in gone:
        shutil.rmtree(folder)
        (dest / f"{folder.name}.fingerprint").unlink(missing_ok=True)
    if names and (stale or gone or not (dest / ARCHIVE).is_file()):
        _write_archive(dest, names)
    elif not names:
        (dest / ARCHIVE).unlink(missing_ok=True)
    released = {}
    for name in names:
        files = [dest / name / nb for nb in notebooks(name, course)]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise ExtensionError(f"{name}: release notebook missing: {', '.join(missing)}")
        released[name] = files
    app.seqmx_released = released  # type: ignore[attr-defined]
    app.seqmx_archive = dest / ARCHIVE if names else None  # type: ignore[attr-defined]


# --- roles that link them ----------------------------------------------------------------------


def _download(app: Sphinx, rawtext: str, file: Path, label: str, docname: str) -> addnodes.download_reference:
    # a srcdir-absolute target ("/..."), so Sphinx copies the file into _downloads/ like :download:
    target = "/" + os.path.relpath(file, app.srcdir).replace(os.sep, "/")
    return addnodes.download_reference(rawtext, "", nodes.literal(label, label), reftarget=target,
                                       refdoc=docname, refexplicit=True, refwarn=False,
                                       classes=["problem-set-download"])


def _note(env, ps: str, available: bool) -> None:
    env.seqmx_problem_sets.setdefault(env.docname, {})[ps] = available


def problem_set_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{problem-set}`ps07-gru```: its release notebook to download, or "not yet available"."""
    env = inliner.document.settings.env
    ps = text.strip()
    released = env.app.seqmx_released
    _note(env, ps, ps in released)
    if ps not in released:
        return [nodes.inline(rawtext, "", nodes.literal(ps, ps), nodes.Text(" (not yet available)"),
                             classes=["problem-set", "problem-set-pending"])], []
    links = []
    for i, nb in enumerate(released[ps]):
        if i:
            links.append(nodes.Text(", "))
        links.append(_download(env.app, rawtext, nb, nb.name, env.docname))
    return [nodes.inline(rawtext, "", nodes.literal(ps, ps), nodes.Text(" (download "), *links, nodes.Text(")"),
                         classes=["problem-set"])], []


def problem_set_archive_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{problem-set-archive}`all problem sets```: one zip of every release notebook."""
    env = inliner.document.settings.env
    archive = env.app.seqmx_archive
    _note(env, ANY, archive is not None)
    if archive is None:
        return [nodes.inline(rawtext, f"{text} (not yet available)", classes=["problem-set-pending"])], []
    ref = _download(env.app, rawtext, archive, ARCHIVE, env.docname)
    return [nodes.inline(rawtext, "", nodes.Text(f"{text} ("), ref, nodes.Text(")"))], []


def init_env(app: Sphinx, env, docnames) -> None:
    if not hasattr(env, "seqmx_problem_sets"):
        env.seqmx_problem_sets = {}


def pages_whose_problem_sets_changed(app: Sphinx, env, added, changed, removed) -> list[str]:
    """Read again every page that names a problem set which appeared or disappeared since it was read."""
    now = set(app.seqmx_released)
    stale = []
    for doc, seen in getattr(env, "seqmx_problem_sets", {}).items():
        if any((bool(now) if ps == ANY else ps in now) != was for ps, was in seen.items()):
            stale.append(doc)
    return stale


def purge_doc(app: Sphinx, env, docname: str) -> None:
    getattr(env, "seqmx_problem_sets", {}).pop(docname, None)


def merge_info(app: Sphinx, env, docnames, other) -> None:
    env.seqmx_problem_sets.update({d: other.seqmx_problem_sets[d] for d in docnames
                                   if d in getattr(other, "seqmx_problem_sets", {})})


# --- MathJax from the site, chapters as notebooks -------------------------------------------------


def check_config(app: Sphinx, config) -> None:
    if "://" in config.mathjax_path or config.mathjax_path.startswith("//"):
        raise ExtensionError(f"mathjax_path {config.mathjax_path!r} is not on the site: the book must read offline")
    # Without it the theme's script logs "Got invalid theme mode" as an error on a reader's first visit.
    config.html_context.setdefault("default_mode", "auto")
    config.html_static_path.append(str(Path(__file__).parent / "static"))  # course-mathjax2.css


def copy_mathjax(app: Sphinx, exception) -> None:
    """MathJax (with its fonts) from the jupyter-server-mathjax package into ``_static/mathjax``."""
    if exception is not None or app.builder.format != "html":
        return
    import jupyter_server_mathjax

    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    copy_asset(str(static), str(Path(app.outdir) / "_static" / "mathjax"))


def _roman(n: int) -> str:
    out = ""
    for value, letters in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + letters, n - value
    return out


def number_parts(app: Sphinx, doctree) -> None:
    """Caption each numbered part of the table of contents "Part I: ...", in the order of _toc.yml."""
    if app.env.docname != app.config.root_doc:
        return
    numbered = [t for t in doctree.findall(addnodes.toctree) if t.get("numbered") and t.get("caption")]
    for i, toctree in enumerate(numbered, start=1):
        if not toctree["caption"].startswith("Part "):
            toctree["caption"] = f"Part {_roman(i)}: {toctree['caption']}"


def drop_unused_thebe(app: Sphinx, env, docnames) -> None:
    """Without a live-code (thebe) button, sphinx-thebe's scripts only name a CDN: leave them out."""
    if app.config.html_theme_options.get("launch_buttons", {}).get("thebe"):
        return

    def is_thebe(filename, body) -> bool:
        return filename == "sphinx-thebe.js" or "THEBE_JS_URL" in (body or "")

    app.registry.js_files = [(f, a) for f, a in app.registry.js_files if not is_thebe(f, a.get("body"))]
    if hasattr(app.builder, "_js_files"):
        app.builder._js_files = [js for js in app.builder._js_files
                                 if not is_thebe(js.filename, js.attributes.get("body"))]


def _executed_notebook(app: Sphinx, pagename: str):
    """The page as a notebook with the outputs of its cached execution (None if it has none).

    myst-nb writes _build/jupyter_execute/<page>.ipynb without outputs when they come from the
    execution cache, so the notebook is read as myst-nb reads it and merged with its cache record.
    """
    import nbformat
    from jupyter_cache import get_cache
    from myst_nb.core.read import create_nb_reader

    source = Path(app.env.doc2path(pagename))
    text = source.read_text(encoding="utf-8")
    reader = create_nb_reader(str(source), app.env.myst_config, app.env.mystnb_config, text)
    if reader is None or not app.env.mystnb_config.execution_cache_path:
        return None
    try:
        _, notebook = get_cache(app.env.mystnb_config.execution_cache_path).merge_match_into_notebook(
            reader.read(text))
    except KeyError:  # not executed (or not cached)
        return None
    return nbformat.writes(notebook)


def offer_notebook_download(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """The executed chapter as ``_sources/<page>.ipynb``, named for the theme's download button."""
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    executed = _executed_notebook(app, pagename)
    if executed is not None:
        context["ipynb_source"] = f"{pagename}.ipynb"
        context["seqmx_executed_notebook"] = executed


def write_notebook_download(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Written after sphinx-book-theme's launch buttons, which copy the output-less one there."""
    if "seqmx_executed_notebook" in context:
        dest = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(context["seqmx_executed_notebook"], encoding="utf-8")


def setup(app: Sphinx) -> dict:
    app.add_role("problem-set", problem_set_role)
    app.add_role("problem-set-archive", problem_set_archive_role)
    app.connect("config-inited", check_config)
    app.connect("builder-inited", release_problem_sets)
    app.add_css_file("course-mathjax2.css")  # MathJax 2's inline formulas on the text's baseline
    app.connect("env-before-read-docs", init_env)
    app.connect("env-before-read-docs", drop_unused_thebe, priority=900)  # after sphinx-thebe adds them
    app.connect("env-get-outdated", pages_whose_problem_sets_changed)
    app.connect("doctree-read", number_parts)
    app.connect("env-purge-doc", purge_doc)
    app.connect("env-merge-info", merge_info)
    # before sphinx-book-theme builds its header buttons (priority 501)
    app.connect("html-page-context", offer_notebook_download, priority=500)
    app.connect("html-page-context", write_notebook_download, priority=600)
    app.connect("build-finished", copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
