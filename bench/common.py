"""What the grading benchmarks share: a scratch copy of the course, stock nbgrader's configuration,
the course's CLI (or nbgrader) run against a scratch course, and the report file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from autograder import workspace  # noqa: E402 (scratch courses and nbgrader's environment, made in one place)
COURSE = REPO / "exercises"

# stock nbgrader's autograde preprocessors: the kernel runs with the grader's permissions, no sandbox
STOCK = '''
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata"]
'''


def scratch_course(dest: Path, assignments: list[str] | None = None, stock: bool = False) -> Path:
    """A copy of the course's configuration and sources (all assignments, or the named ones)."""
    return workspace.scratch_course(dest, COURSE, assignments, STOCK if stock else "")


def run(course: Path, *cmd: str) -> subprocess.CompletedProcess:
    """``python -m CMD`` (autograder or nbgrader) in a scratch course, with its own SQLite gradebook."""
    env = workspace.nbgrader_env(own_gradebook=True, SEQMX_COURSE=str(course))
    return subprocess.run([sys.executable, "-m", *cmd], cwd=course, env=env, capture_output=True, text=True)


def write_report(path: str | Path, lines: list[str]) -> Path:
    report = Path(path)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines) + "\n")
    return report
