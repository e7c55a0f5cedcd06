"""The instructor's side of the course: release, grade, export and calibrate.

``python -m autograder --help`` lists the commands. nbgrader does the work
(generate_assignment, autograde, export, feedback); this package adds
collecting a class's submissions from a folder or an LMS zip, the hidden
checks and their calibrated expectations, and one-line errors for bad input.
"""

import seqmx  # noqa: F401  (sets OPENBLAS_CORETYPE for this CPU: the sandboxed kernels inherit it, see seqmx.blas)
