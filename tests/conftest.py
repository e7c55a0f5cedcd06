"""Shared helpers: a private copy of the nbgrader course, and the CLI run as a user runs it."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import workspace  # imports seqmx first: OPENBLAS_CORETYPE is set before MXNet loads

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "exercises"
FIXTURES = REPO / "tests" / "fixtures"


def make_course(dest: Path) -> Path:
    """A fresh course directory: the committed sources and config, no gradebook."""
    return workspace.scratch_course(dest, COURSE)


@pytest.fixture
def course(tmp_path) -> Path:
    return make_course(tmp_path / "course")


def env_for(course: Path) -> dict:
    # the grade command's preflight (the reference graded once per environment) is remembered in
    # XDG_CACHE_HOME: once per assignment and configuration in a test run, never in the user's own cache
    return workspace.nbgrader_env(own_gradebook=True, SEQMX_COURSE=str(course),
                                  XDG_CACHE_HOME=str(REPO / ".pytest_cache" / "xdg"))


def run_cli(course: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS`` against ``course``."""
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd or course,
                          env=env_for(course), capture_output=True, text=True, timeout=900)


def run_nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Stock ``nbgrader ARGS`` in ``course``, as a maintainer runs it; asserts that it succeeded."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env_for(course),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def class_folder(root: Path, notebooks: dict[str, Path]) -> Path:
    """A folder of <student>/<notebook>.ipynb, as an instructor collects them."""
    for student, nb in notebooks.items():
        (root / student).mkdir(parents=True)
        shutil.copy(nb, root / student / nb.name if nb.suffix == ".ipynb" else root / student / "answer.ipynb")
    return root


def grade_table(stdout: str) -> list[dict[str, str]]:
    """The rows of ``grade``'s score table as {column: text}: student, score, max (right-aligned),
    submitted (UTC), late (with the penalty), name, status (cut at the header's column starts)."""
    lines = stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("student "))
    end = next(i for i, ln in enumerate(lines) if re.fullmatch(r"\d+ of \d+ submissions graded", ln))
    head = lines[start]
    score_end, max_end = head.index("score") + len("score"), head.index("max") + len("max")
    left = ["submitted (UTC)", "late, penalty", "name", "status"]
    starts = [head.index(n) for n in left]
    rows = []
    for ln in lines[start + 1:end]:
        student, score = ln[:score_end].rsplit(None, 1)
        row = {"student": student.strip(), "score": score, "max": ln[score_end:max_end].strip()}
        for i, n in enumerate(left):
            row[n.split(" ")[0].rstrip(",")] = ln[starts[i]:starts[i + 1] if i + 1 < len(left) else None].strip()
        rows.append(row)
    return rows
