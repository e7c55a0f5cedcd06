"""What every problem set's first cell calls.

nbgrader scores a test cell 0 as soon as anything is written to its stderr,
and a library warning (a NumPy ``RuntimeWarning``, an MXNet log line) is
written to stderr. An honest answer must not lose points for that, so the
first, read-only cell of every problem set calls :func:`quiet_warnings`.
"""
from __future__ import annotations

import logging
import os
import warnings


def quiet_warnings() -> None:
    """Silence Python warnings, library logging below ERROR, and C-level writes to stderr.

    Errors are not affected: exceptions reach the notebook as error outputs,
    not through stderr.
    """
    warnings.simplefilter("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    # MXNet's C++ core writes its warnings straight to file descriptor 2,
    # which Jupyter forwards to the cell's stderr: point it at /dev/null.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
