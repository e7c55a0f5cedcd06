"""The README's instructor commands work in a fresh shell exactly as written.

A fresh shell has no activated environment: nbgrader runs ``alembic`` and the kernels from
``PATH``, so a block that forgets ``source .venv/bin/activate`` fails (seen: ``FileNotFoundError:
'alembic'``). The stock-nbgrader block runs here in a copy of the repository's layout (``exercises/``
and the ``.venv``) with one submission staged, in ``env -i`` with only /usr/bin:/bin on PATH.
"""
from __future__ import annotations

import csv
import re
import shutil
import subprocess

import pytest

from conftest import REPO, make_course

PS = "ps01-language-models"


def readme_block(after: str) -> str:
    """The first ```bash block of the README after the line that contains ``after``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(after)
    return re.search(r"```bash\n(.*?)```", text[start:], re.S).group(1)


def test_every_instructor_block_activates_the_environment_first():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## For instructors"):text.index("## For maintainers")]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert blocks
    for block in blocks:
        commands = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
        if any(re.match(r"(python|nbgrader)\b", c) for c in commands):
            assert commands[0] == "source .venv/bin/activate", block


@pytest.mark.slow
def test_the_stock_nbgrader_block_runs_as_written_in_a_fresh_shell(tmp_path):
    block = readme_block("Stock nbgrader works on the same folder")
    root = tmp_path / "repo"
    make_course(root / "exercises")
    (root / ".venv").symlink_to(REPO / ".venv")
    submitted = root / "exercises" / "submitted" / "alice" / PS
    submitted.mkdir(parents=True)
    shutil.copy(REPO / "exercises" / "source" / PS / f"{PS}.ipynb", submitted)
    proc = subprocess.run(["env", "-i", f"HOME={tmp_path}", "PATH=/usr/bin:/bin", "bash", "-euc", block],
                          cwd=root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(root / "exercises" / "grades.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["student_id"], float(row["score"]), row["duedate"].startswith("2026-12-01 23:59")) == \
        ("alice", 10.0, True)
