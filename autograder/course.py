"""Where things are in the nbgrader course directory ``exercises/``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ.get("SEQMX_COURSE", Path(__file__).resolve().parent.parent / "exercises"))


class UsageError(Exception):
    """Bad input from the instructor: printed as one line, exit code 2."""


def assignments(root: Path = ROOT) -> list[str]:
    """Every assignment of the course: the folders of ``source/``."""
    return sorted(p.name for p in (root / "source").iterdir() if p.is_dir() and not p.name.startswith("."))


def require_assignment(name: str, root: Path = ROOT) -> str:
    if name not in assignments(root):
        raise UsageError(f"unknown assignment {name!r} (known: {', '.join(assignments(root))})")
    return name


def notebooks(assignment: str, root: Path = ROOT) -> list[str]:
    """The notebook file names of an assignment, e.g. ``["ps01-language-models.ipynb"]``."""
    return sorted(p.name for p in (root / "source" / assignment).glob("*.ipynb"))


def nbgrader(*args: str, root: Path = ROOT, db_url: str | None = None) -> subprocess.CompletedProcess:
    """Run one of nbgrader's own apps in the course directory, capturing its log.

    ``db_url``: the gradebook to use instead of the one ``$SEQMX_DB_URL`` names (a scratch course's)."""
    from autograder.workspace import nbgrader_env
    cmd = [sys.executable, "-m", "nbgrader", *args]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=nbgrader_env(db_url))


def log_tail(proc: subprocess.CompletedProcess, lines: int = 3) -> str:
    """The last error lines of an nbgrader run (else its last lines), as one line."""
    text = (proc.stderr or "") + (proc.stdout or "")
    keep = [ln for ln in text.splitlines() if "[ERROR]" in ln or "Error" in ln] or text.splitlines()
    return " | ".join(ln.strip() for ln in keep[-lines:])
