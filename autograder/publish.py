"""The student edition: everything students get, and nothing of the instructors'.

``python -m autograder publish DIR`` (``make publish``: ``_publish/``) writes it. The course
repository (solutions, hidden tests, calibrated values, the grader) stays private with the
instructors; the student edition and the website built from the same book are public.

The edition holds the book's sources (``_config.yml``, ``_toc.yml``, ``intro.md``, ``glossary.md``,
the bibliography, ``chapters/``, ``reports/``, ``_ext/``), the course library ``seqmx/``, the corpora
of ``data/`` with their checksums and provenance, and every problem set's release notebook (nbgrader's
student version, generated afresh from a scratch copy of the course) in ``exercises/<ps>/``. From
``student/`` it takes the students' README, a light ``requirements.txt``, a ``pyproject.toml`` that
installs ``seqmx`` alone, a ``Dockerfile`` and ``.devcontainer/``; it writes ``requirements-book.txt``
(what building the website needs) and ``constraints.txt`` (the course's pins of everything those
install: optional for students, used by the Dockerfile).

The book's site extension releases the problem sets from ``exercises/source/`` at build time, which
the edition does not have: there ``_config.yml`` loads ``_ext/student_site.py`` instead, which is
``course_site`` reading the shipped release notebooks.

Nothing is written when :func:`leaks` finds instructor material in the edition: a line of a
solution or of a hidden test, a calibrated value, or a forbidden path. The edition is built in a
sibling folder and renamed into place, so ``DIR`` is either the previous edition or the new one.
"""
from __future__ import annotations

import html
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
from nbgrader.utils import is_solution

from autograder import course
from autograder.course import UsageError

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "student"
EXPECTATIONS = Path(__file__).resolve().parent / "expectations"
#: The file that marks a folder as a student edition (so that publishing again may replace it).
MARKER = ".seqmx-student-edition"

#: Copied from the course repository as they are.
COPIED = ["_config.yml", "_toc.yml", "intro.md", "glossary.md", "references.bib", "references.md",
          "reports", "chapters", "_ext", "seqmx", "data"]
#: Copied from ``student/`` (the templates of the edition).
FROM_TEMPLATES = ["README.md", "requirements.txt", "pyproject.toml", "Dockerfile", ".dockerignore",
                  ".gitignore", ".devcontainer", "_ext/student_site.py"]
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", ".DS_Store")
_SKIPPED = {"data/ptb"}  # a corpus unpacked by a benchmark (ignored by git)

#: Paths an edition (or the website) must never contain: the grader, the sources, the tests.
FORBIDDEN = ["autograder", "exercises/source", "exercises/release", "exercises/nbgrader_config.py",
             "exercises/gradebook.db", "exercises/submitted", "exercises/autograded", "exercises/feedback",
             "tests", "bench", ".ci", ".git", "student"]
_FORBIDDEN_NAMES = {"gradebook.db", "nbgrader_config.py", "expectations", "fixtures", "hostile"}

# nbgrader's own delimiters, after the "### " the course writes before them
SOLUTION = tuple(f"### {t.default_value}" for t in (ClearSolutions.begin_solution_delimeter,
                                                    ClearSolutions.end_solution_delimeter))
HIDDEN = tuple(f"### {t.default_value}" for t in (ClearHiddenTests.begin_test_delimeter,
                                                  ClearHiddenTests.end_test_delimeter))
MIN_LINE = 20  # a shorter line ("return prob", "V = len(vocab)") says nothing on its own


# --- writing the edition -------------------------------------------------------------------------


def publish(dest: Path, release: Path | None = None) -> Path:
    """Write the student edition into ``dest`` (which must not exist, be empty, or be an edition).

    ``release``: a folder of ``<ps>/<notebook>.ipynb`` already released from the current sources;
    by default every problem set is released afresh. Returns the edition's folder."""
    dest = Path(dest).absolute()
    _check_destination(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"))
    try:
        _write(tmp, release)
        found = leaks(tmp)
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise UsageError(f"the student edition would leak instructor material: {found[0]}{more}; "
                             f"nothing written to {dest}")
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".old"))
            os.replace(dest, old / dest.name)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest}: exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MARKER).is_file():
        raise UsageError(f"{dest}: exists, is not empty and is not a student edition; "
                         "choose a new folder (or empty this one)")
    real = dest.resolve()
    for name in COPIED + ["exercises", "student", "autograder"]:
        inside = (REPO / name).resolve()
        if real == inside or inside in real.parents:
            raise UsageError(f"{dest}: inside the course's {name}; choose a folder outside it")
    if real == REPO.resolve() or real in REPO.resolve().parents:
        raise UsageError(f"{dest}: the course repository or a folder above it; choose a new folder")


def _write(out: Path, release: Path | None) -> None:
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, out / name, ignore=_ignore_under(name))
        else:
            shutil.copy2(src, out / name)
    for name in FROM_TEMPLATES:
        src, dst = TEMPLATES / name, out / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=_IGNORED)
        else:
            shutil.copy2(src, dst)
    _use_student_extension(out / "_config.yml")
    (out / "requirements-book.txt").write_text(book_requirements())
    (out / "constraints.txt").write_text(student_constraints())
    with tempfile.TemporaryDirectory(prefix="seqmx-publish-") as work:
        released = release if release is not None else _release(Path(work))
        for name in _released_names():
            if not (released / name).is_dir():
                raise UsageError(f"{name}: no release folder in {released}")
            shutil.copytree(released / name, out / "exercises" / name, ignore=_IGNORED)
    (out / MARKER).write_text(
        "The student edition of Sequence Models with MXNet, written by `python -m autograder publish`"
        f"{_commit()}.\nEverything in this folder is public; publishing again replaces it whole.\n")


def _ignore_under(root: str):
    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(REPO).as_posix()
        return set(_IGNORED(folder, names)) | {n for n in names if f"{rel}/{n}" in _SKIPPED}
    return ignore


def _use_student_extension(config: Path) -> None:
    """The edition's book loads ``student_site`` (release notebooks shipped) instead of ``course_site``."""
    text = config.read_text(encoding="utf-8")
    line = re.compile(r"^(\s*)course_site:\s*_ext\b.*$", re.M)
    if len(line.findall(text)) != 1:
        raise UsageError(f"{config.name}: expected one line 'course_site: _ext' under local_extensions "
                         "(autograder/publish.py replaces it with the student edition's extension)")
    text = line.sub(r"\1student_site: _ext  # course_site with the problem sets shipped in exercises/<ps>/", text)
    config.write_text(text, encoding="utf-8")


def _released_names() -> list[str]:
    return [n for n in course.assignments() if course.notebooks(n)]


def _release(work: Path) -> Path:
    """``python -m autograder release`` in a scratch copy of the course: its ``release/`` folder."""
    names = _released_names()
    shutil.copy(course.ROOT / "nbgrader_config.py", work)
    for name in names:
        shutil.copytree(course.ROOT / "source" / name, work / "source" / name, ignore=_IGNORED)
    env = dict(os.environ, SEQMX_COURSE=str(work),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    env.pop("SEQMX_DB_URL", None)  # the scratch gradebook beside the scratch course, never a real one
    proc = subprocess.run([sys.executable, "-m", "autograder", "release", *names], cwd=work, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise UsageError(f"releasing the problem sets failed: {course.log_tail(proc)}")
    return work / "release"


def _commit() -> str:
    proc = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f" from commit {proc.stdout.strip()}" if proc.returncode == 0 and proc.stdout.strip() else ""


def student_requirements() -> list[str]:
    """The requirement lines of ``student/requirements.txt`` (comments and options left out)."""
    lines = (TEMPLATES / "requirements.txt").read_text().splitlines()
    return [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip() and not ln.lstrip().startswith("-")]


#: What building the website needs beyond the student requirements (pins from the course's requirements.txt).
BOOK_PACKAGES = ["jupyter-book", "sphinx-exercise", "sphinxcontrib-bibtex", "jupyter-server-mathjax", "jupytext"]


def book_requirements() -> str:
    """``requirements-book.txt``: the student requirements and what the book's build needs."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    wanted = {canonicalize_name(n) for n in BOOK_PACKAGES}
    pins = {}
    for ln in (REPO / "requirements.txt").read_text().splitlines():
        req = ln.split("#")[0].strip()
        if req and not req.startswith("-") and canonicalize_name(Requirement(req).name) in wanted:
            pins[canonicalize_name(Requirement(req).name)] = req
    missing = wanted - set(pins)
    if missing:
        raise UsageError(f"requirements.txt pins none of {', '.join(sorted(missing))} (needed to build the book)")
    return ("# To build the website yourself (`jupyter-book build .`): the student requirements and the book's tools.\n"
            "-r requirements.txt\n" + "\n".join(pins[canonicalize_name(n)] for n in BOOK_PACKAGES) + "\n")


def student_constraints() -> str:
    """The course's pins (``constraints.txt``) of every package the student and book requirements install."""
    from importlib import metadata as md

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for ln in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in ln and not ln.startswith("#"):
            pins[canonicalize_name(ln.split("==")[0].strip())] = ln.strip()
    todo = [Requirement(r).name for r in student_requirements()] + list(BOOK_PACKAGES)
    seen: set[str] = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for req in map(Requirement, requires):
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    lines = [pins[n] for n in sorted(seen) if n in pins]
    return ("# The exact versions the course was tested with (Linux x86_64, Python 3.11.5 or later) of every\n"
            "# package that requirements.txt and requirements-book.txt install; optional, the Dockerfile uses it:\n"
            "#   pip install -r requirements.txt -c constraints.txt -e .\n"
            "# Written by `python -m autograder publish` from the course's own pins.\n"
            + "\n".join(lines) + "\n")


# --- what must never be published ----------------------------------------------------------------

#: Lines a solution shares verbatim with what the course's library (seqmx/) or chapters teach: idioms
#: ("for epoch in range(num_epochs):") and steps the library shows. Reviewed one by one; not secrets.
#: When a new one is reported as a leak of a library or chapter file, check it and add it here.
TAUGHT = frozenset({
    # seqmx.seq2seq.papineni_bleu (the seq2seq chapter's sentence BLEU) shares these lines with ps11's
    # corpus_bleu: the chapter shows one sentence; the exercise asks for the counts pooled over a corpus
    'for n in range(1, max_n + 1):',
    'brevity = 1.0 if c > r else math.exp(1 - r / c)',
    'return brevity * math.exp(log_precision)',
    'C = F * C + I * C_tilde',
    'C = F * C + I * C_tilde                                                 # now C is C_t',
    'C_tilde = np.tanh(np.dot(X, W_xc) + np.dot(H, W_hc) + b_c)',
    'W_hq, b_q = params[-2:]',
    'W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c = params',
    'current, longest = [], 0',
    'for X, Y in train_iter:',
    # how seqmx.rnn.grad_clipping (chapter rnn-scratch) collects the gradients; ps04's clip_grad_value
    # collects them the same way and is graded on what it does with them
    'grads = [p.grad() for p in net.collect_params().values() if p.grad_req != "null"]',
    'grads = [p.grad for p in net.params]',
    'for X, Y, Y_valid_len in train_iter:',  # seqmx.seq2seq.train_seq2seq's loop, as ps11's train_scheduled
    'for _ in range(num_preds):',
    'for epoch in range(num_epochs):',
    'for layer in range(num_layers):',
    'for name, param in layer.collect_params().items():',
    'for padded, mask in batches:',
    'forward_fn=forward_fn)',
    'grad[idx] = (f_plus - f_minus) / (2 * eps)',
    'if isinstance(net, gluon.Block):',
    'l = loss(y_hat, y).mean()',
    'loss = gluon.loss.SoftmaxCrossEntropyLoss()',
    'loss = s2s.MaskedSoftmaxCELoss()',
    'return H, C, (I, F, O, C_tilde)',
    'return np.concatenate(outputs, axis=1), np.concatenate(fed, axis=1)',
    'rng = random.Random(seed)',
    'state = net.begin_state(batch_size=1)',
    'state = net.begin_state(batch_size=X.shape[0])',
    'state = net.encode(X)',
    'stream_len = (len(corpus) - offset) // batch_size',
    'streams = [corpus[offset + r * stream_len: offset + (r + 1) * stream_len] for r in range(batch_size)]',
    'super().__init__(**kwargs)',
    'y_hat, state = net(X, state)',
})


def _regions(source: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """The lines between ``begin`` and ``end`` markers, and the other lines."""
    inside, outside, on = [], [], False
    for line in source.splitlines():
        if line.strip() == begin:
            on = True
        elif line.strip() == end:
            on = False
        else:
            (inside if on else outside).append(line)
    return inside, outside


@lru_cache(maxsize=4)
def secret_lines(course_root: Path = course.ROOT) -> dict[str, str]:
    """Every distinctive line of a solution or a hidden test: line -> where it comes from.

    A solution is the region between the solution markers of a solution cell (the whole cell when it
    has none); a hidden test, the region between the hidden-test markers. Lines shorter than
    ``MIN_LINE``, lines that the release also shows (anywhere in any problem set) and the lines of
    ``TAUGHT`` are left out."""
    import nbformat

    secret: dict[str, str] = {}
    public: set[str] = set()
    for nb_path in sorted((course_root / "source").glob("*/*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            where = f"{nb_path.stem} cell {meta.get('grade_id', '?')}"
            if is_solution(cell):
                inside, outside = _regions(cell.source, *SOLUTION)
                if SOLUTION[0] not in cell.source:
                    inside, outside = outside, []
                for line in inside:
                    secret.setdefault(line.strip(), f"solution line of {where}")
            else:
                inside, outside = _regions(cell.source, *HIDDEN)
                for line in inside:
                    secret.setdefault(line.strip(), f"hidden test line of {where}")
            public.update(line.strip() for line in outside)
    return {line: where for line, where in secret.items()
            if len(line) >= MIN_LINE and line not in public and line not in TAUGHT}


def _digits(text: str) -> int:
    """Significant digits of a number as written ("186.75": 5, "0.0019": 2)."""
    mantissa = re.split(r"[eE]", text)[0]
    return len(re.sub(r"\D", "", mantissa).lstrip("0"))


def _simple(v: float) -> bool:
    """A fraction with a small denominator (1/6, 3/14, 28.0): printed everywhere, not distinctive.

    Such a fraction is a convergent of ``v``'s continued fraction (Legendre), so floats suffice."""
    x, (h0, h1), (k0, k1) = v, (0, 1), (1, 0)
    for _ in range(40):
        a = math.floor(x)
        h0, h1, k0, k1 = h1, a * h1 + h0, k1, a * k1 + k0
        if k1 > 1000:
            return False
        if abs(h1 / k1 - v) <= 1e-12 * v:
            return True
        if x - a < 1e-15:
            return False
        x = 1 / (x - a)
    return False


def _renderings(v, answer: bool) -> set[str]:
    """How a calibrated number may be written down. Every number nested in a list (a probe's output):
    its full-precision forms (10 or more digits); a single answer (a perplexity, a count) also the
    shorter forms a notebook or a README prints ("186.75"), when they keep 5 or more digits."""
    if isinstance(v, bool):
        return set()
    if isinstance(v, int):
        return {str(abs(v)), f"{abs(v):,}", f"{abs(v):_}"} if answer and abs(v) >= 10_000 else set()
    v = abs(v)
    if v == 0 or v != v or v == float("inf") or _simple(v):
        return set()
    forms = {repr(v), *(format(v, f".{n}g") for n in (10, 12, 14))}
    if answer:
        forms |= {format(v, f".{n}g") for n in range(5, 10)} | {f"{v:.{d}f}" for d in range(2, 7)}
    return {f for f in forms if _digits(f) >= (5 if answer else 10)}


# Calibrated answers the book itself computes and prints on purpose: not secrets of the grader.
# ps01's storage_4gram (distinct k-grams of a 4-gram model on the first 100,000 PTB words) is the
# language-models chapter's worked answer to the notes' question; the exercise asks for the function
# that counts it, which the hidden check probes on other inputs too. (Found by this scanner on the
# built site: a problem-set part whose number the chapter shows, to revise in the exercise.)
SHOWN_BY_THE_BOOK = frozenset({("ps01-language-models", "storage_4gram")})


@lru_cache(maxsize=4)
def secret_numbers(expectations: Path = EXPECTATIONS) -> dict[str, str]:
    """Every distinctive way of writing a calibrated value: rendering -> where it comes from."""
    numbers: dict[str, str] = {}

    def walk(x, where: str, answer: bool) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, where, answer)
        elif isinstance(x, list):
            for v in x:
                walk(v, where, False)
        elif isinstance(x, (int, float)):
            for form in _renderings(x, answer):
                numbers.setdefault(form, f"{where} = {x!r}")

    for path in sorted(Path(expectations).glob("*.json")):
        record = json.loads(path.read_text())
        for check, rec in record.get("checks", {}).items():
            if (record.get("assignment", path.stem), check) in SHOWN_BY_THE_BOOK:
                continue
            where = f"calibrated value of {record.get('assignment', path.stem)} {check}"
            walk(rec.get("value"), where, True)
            walk(rec.get("band"), where, False)
    return numbers


_BINARY = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".pdf", ".pyc",
           ".so", ".whl", ".gz", ".bz2", ".xz", ".tar", ".db", ".pickle", ".npz", ".params"}
_NUMBER = re.compile(r"\d[\d,_]*(?:\.\d+)?(?:[eE][+-]?\d+)?")
_BIG = 1_000_000  # characters: above this (the corpora) a solution line is looked for as a whole line


def _texts(name: str, data: bytes, depth: int = 0) -> Iterator[tuple[str, str]]:
    """The texts a file holds: itself; the strings of a notebook or JSON file; an HTML page
    without its tags (syntax highlighting splits code into spans); every member of a zip."""
    if data[:4] == b"PK\x03\x04" and depth < 3:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist():
                    if not info.is_dir():
                        yield from _texts(f"{name}!{info.filename}", zf.read(info), depth + 1)
            return
        except zipfile.BadZipFile:
            pass
    suffix = Path(name).suffix.lower()
    if suffix in _BINARY or b"\0" in data[:8192]:
        return
    text = data.decode("utf-8", errors="replace")
    yield name, text
    if suffix in {".ipynb", ".json"}:
        try:
            yield name, "\n".join(_strings(json.loads(text)))
        except ValueError:
            pass
    if suffix in {".html", ".htm", ".xml", ".svg", ".js"}:
        yield name, html.unescape(re.sub(r"<[^>]*>", "", text))


def _strings(x) -> Iterator[str]:
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)


def forbidden_paths(folder: Path) -> list[str]:
    """The paths of ``folder`` an edition must never contain."""
    folder = Path(folder)
    found = [f"forbidden path {p}" for p in FORBIDDEN if (folder / p).exists()]
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.name in _FORBIDDEN_NAMES and rel.as_posix() not in FORBIDDEN:
            found.append(f"forbidden path {rel.as_posix()}")
    return found


def leaks(folder: Path, course_root: Path | None = None, expectations: Path | None = None) -> list[str]:
    """What of the instructors' material ``folder`` (an edition, or the built website) gives away.

    Every file is read (notebooks and JSON also as their strings, HTML also without its tags, zips
    member by member) and searched for every line of :func:`secret_lines` and every number of
    :func:`secret_numbers`; forbidden paths are reported too. One line per finding, naming the file."""
    folder = Path(folder)
    lines = secret_lines(Path(course_root or course.ROOT))
    numbers = secret_numbers(Path(expectations or EXPECTATIONS))
    found = forbidden_paths(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        seen: set[str] = set()
        for name, text in _texts(rel, path.read_bytes()):
            if len(text) > _BIG:
                whole = {ln.strip() for ln in text.splitlines()}
                hits = [ln for ln in lines if ln in whole]
            else:
                hits = [ln for ln in lines if ln in text]
            for ln in hits:
                if (name, ln) not in seen:
                    seen.add((name, ln))
                    found.append(f"{name}: {lines[ln]}: {ln!r}")
            for token in set(_NUMBER.findall(text)):
                token = token.rstrip(",_")
                for form in {token, *token.split(",")}:
                    if form in numbers and (name, form) not in seen:
                        seen.add((name, form))
                        found.append(f"{name}: {numbers[form]} written as {form}")
    return found
