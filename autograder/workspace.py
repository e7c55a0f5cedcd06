"""Scratch courses, the environment nbgrader runs in, and atomic writes: made in one place.

Used by the grader (:func:`autograder.course.nbgrader`, ``autograder/parallel.py``), the CLI's
writers, the book's problem-set extension (``_ext/course_site.py``), the benchmarks
(``bench/common.py``) and the tests (``tests/conftest.py``).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path


def scratch_course(dest: Path, course: Path, assignments: list[str] | None = None, extra_config: str = "") -> Path:
    """A course directory at ``dest`` holding ``course``'s nbgrader configuration and the sources of
    ``assignments`` (default: all), without gradebook, release or submissions. ``extra_config`` is
    appended to the configuration (e.g. stock nbgrader's preprocessors, for a benchmark)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(course / "nbgrader_config.py", dest)
    names = assignments or sorted(p.name for p in (course / "source").iterdir() if p.is_dir())
    for name in names:
        shutil.copytree(course / "source" / name, dest / "source" / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    if extra_config:
        with open(dest / "nbgrader_config.py", "a") as f:
            f.write(extra_config)
    return dest


def nbgrader_env(db_url: str | None = None, *, own_gradebook: bool = False, base: dict | None = None,
                 **extra: str) -> dict:
    """The environment of an nbgrader (or ``python -m autograder``) process.

    The running Python's ``bin`` comes first on ``PATH``: nbgrader starts its helpers (alembic,
    kernels) by name. ``db_url`` names the gradebook (``$SEQMX_DB_URL``, read by the course's
    configuration); ``own_gradebook`` drops any inherited one, so that a scratch course uses the
    SQLite file beside it and never a real gradebook. ``extra`` sets further variables."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if own_gradebook:
        env.pop("SEQMX_DB_URL", None)
    if db_url:
        env["SEQMX_DB_URL"] = db_url
    env.update(extra)
    return env


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(dest: Path, mode: str = "w", encoding: str | None = "utf-8"):
    """Write ``dest`` through a temporary file in the same folder, renamed into place at the end:
    an error (or a kill) midway leaves the previous file, or none, never a half-written one."""
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        kwargs = {"encoding": encoding, "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
