"""The book's site extension in the student edition: ``course_site`` with the problem sets shipped.

The instructors' book releases every problem set at build time from ``exercises/source/``, the
notebooks with their solutions, which the student edition does not have. The edition ships the
released notebooks instead, in ``exercises/<ps>/<ps>.ipynb``; this extension is ``course_site`` (same
roles, offline MathJax, chapter downloads) whose release step only offers those notebooks and one
zip of them. ``python -m autograder publish`` points the edition's ``_config.yml`` here.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import course_site


def shipped_problem_sets(app) -> None:
    """The release notebooks of ``exercises/<ps>/``, offered as ``course_site`` offers its releases."""
    shipped = Path(app.srcdir) / "exercises"
    names = sorted(p.name for p in shipped.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) \
        if shipped.is_dir() else []
    dest = course_site._release_root(app)  # _build/exercises: the zip is made there, not in the sources
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (dest / name).exists():
            shutil.rmtree(dest / name)
        shutil.copytree(shipped / name, dest / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    archive = dest / course_site.ARCHIVE
    if names:
        course_site._write_archive(dest, names)
    else:
        archive.unlink(missing_ok=True)
    app.seqmx_released = {name: sorted((shipped / name).glob("*.ipynb")) for name in names}
    app.seqmx_archive = archive if names else None


def setup(app):
    course_site.release_problem_sets = shipped_problem_sets  # what course_site.setup connects at builder-inited
    return course_site.setup(app)
