"""The probe protocol: how a hidden check's values travel from a kernel to the grader.

A hidden test cell calls ``autograder.checks.check(ASSIGNMENT, NAME)``. In the grader's sandbox
the check does not judge: it runs the check's probe on the student's answer and :func:`emit`\\ s
the plain values as one display output of MIME type :data:`PROBE_MIME`. Outside the kernel,
:func:`recorded` reads them back from the executed cell's outputs: grading
(``autograder.verdict.TrustedVerdict``) compares them with the calibrated values, and calibration
(``python -m autograder calibrate``) records the reference's, from the same kind of output.

No nbgrader import: this module is loaded inside every student's kernel.
"""
from __future__ import annotations

import re

PROBE_MIME = "application/vnd.seqmx.probe+json"
#: a hidden test cell's call: check("ASSIGNMENT", "NAME")
CHECK_CALL = re.compile(r'check\(\s*"([^"]+)"\s*,\s*"([^"]+)"')


def emit(assignment: str, name: str, values=None, error: str | None = None, undefined: str | None = None,
         seconds: float | None = None) -> None:
    """In a kernel: send check ``name``'s plain values (or the error the answer raised, or the name
    of an answer the notebook never defined; at calibration also the probe's time)."""
    from IPython.display import display
    payload: dict = {"assignment": assignment, "check": name}
    if undefined is not None:
        payload["undefined"] = undefined
    else:
        payload.update({"error": error} if error is not None else {"values": values})
    if seconds is not None:
        payload["seconds"] = seconds
    display({PROBE_MIME: payload, "text/plain": f"{name}: answer recorded for grading"}, raw=True)


def hidden_checks(source: str) -> list[tuple[str, str]]:
    """The (assignment, check name) pairs a hidden test cell's source calls."""
    return CHECK_CALL.findall(source)


def is_probe(output: dict) -> bool:
    return PROBE_MIME in output.get("data", {})


def recorded(outputs: list) -> dict[str, dict]:
    """{check name: payload} of the probes among a cell's outputs (the last of each name counts)."""
    probes = {}
    for out in outputs:
        payload = out.get("data", {}).get(PROBE_MIME) if out.get("output_type") == "display_data" else None
        if isinstance(payload, dict) and isinstance(payload.get("check"), str):
            probes[payload["check"]] = payload
    return probes
