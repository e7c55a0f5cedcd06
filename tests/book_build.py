"""The one book build of the test suite, shared by tests/test_book.py and tests/test_site.py.

Both modules load this file with ``pytest_plugins = ["book_build"]``, so the session-scoped
fixture below is defined once and the book is built once per test process; their tests carry
``xdist_group("book")`` so that ``pytest -n 2 --dist loadgroup`` runs them all in one worker
(two workers building into the same _build/ at once would race).
"""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book():
    """``jupyter-book build . -W -n --keep-going`` (warnings as errors, nitpicky references), run once."""
    import fcntl

    jb = Path(sys.executable).parent / "jupyter-book"
    (REPO / "_build").mkdir(exist_ok=True)
    # should two test processes build anyway (with pytest 9, xdist 3.8's loadgroup split the group:
    # hence pytest 8.4.2 in requirements.txt), the second waits for the first, then rebuilds from
    # its execution cache in seconds
    with open(REPO / "_build" / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run([str(jb), "build", str(REPO), "-W", "-n", "--keep-going"],
                              capture_output=True, text=True, timeout=3600)
    return proc
