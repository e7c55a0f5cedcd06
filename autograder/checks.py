"""Hidden checks: probe a student's answer, compare with the calibrated reference.

A check has two halves, kept apart on purpose:

- ``probe(answer)`` runs the student's function on fixed and seeded random
  inputs and returns plain JSON values (numbers, lists, strings);
- ``compare(values, expected)`` decides, with a stated tolerance, whether
  those values match the ones the reference solution produced when
  ``python -m autograder calibrate`` ran it.

A hidden test cell calls :func:`check`, which does both in the kernel (that is
how stock ``nbgrader autograde`` runs it). The expected values live in
``autograder/expectations/<assignment>.json``; a failing check says which
behaviour is wrong and gives a hint, never the expected values.
"""
from __future__ import annotations

import importlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

EXPECTATIONS = Path(__file__).resolve().parent / "expectations"


@dataclass(frozen=True)
class Check:
    """One hidden check of one answer (a function or a value) of an assignment."""
    target: str                               # the name the student's notebook defines
    probe: Callable[[Any], Any]               # answer -> plain JSON values
    hint: str                                 # what to look at when it fails (no expected values)
    rtol: float = 0.0                         # relative tolerance on every number
    atol: float = 0.0                         # absolute tolerance on every number
    why: str = "exact: integers and deterministic float arithmetic"  # the tolerance's reason


def mx_np():
    """MXNet's NumPy interface, imported when a probe runs (not when the grader starts)."""
    from mxnet import np, npx
    npx.set_np()
    return np


def plain_array(a) -> dict:
    """An array as plain values: its shape, its dtype string and its values (floats)."""
    import numpy as onp
    values = a.asnumpy() if hasattr(a, "asnumpy") else onp.asarray(a)
    return {"shape": [int(s) for s in values.shape], "dtype": str(values.dtype),
            "values": values.astype("float64").tolist()}


def problem_module(assignment: str):
    """The module that defines an assignment's ``CHECKS`` (``ps01-x`` -> ``problems/ps01_x.py``)."""
    return importlib.import_module(f"autograder.problems.{assignment.replace('-', '_')}")


def checks_of(assignment: str) -> dict[str, Check]:
    return problem_module(assignment).CHECKS


def load_expectations(assignment: str) -> dict:
    path = EXPECTATIONS / f"{assignment}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no calibrated expectations; run `python -m autograder calibrate {assignment}`")
    return json.loads(path.read_text())


def mismatches(values: Any, expected: Any, rtol: float, atol: float) -> int:
    """How many leaves of two nested JSON values differ (numbers within tolerance)."""
    if isinstance(expected, list):
        if not isinstance(values, list) or len(values) != len(expected):
            return max(1, len(expected))
        return sum(mismatches(v, e, rtol, atol) for v, e in zip(values, expected))
    if isinstance(expected, dict):
        if not isinstance(values, dict) or values.keys() != expected.keys():
            return max(1, len(expected))
        return sum(mismatches(values[k], expected[k], rtol, atol) for k in expected)
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return int(type(values) is not type(expected) or values != expected)
    if isinstance(values, bool) or not isinstance(values, (int, float)):
        return 1
    if math.isinf(expected) or math.isnan(expected):
        return int(not (values == expected or (math.isnan(expected) and math.isnan(values))))
    return int(not (math.isfinite(values) and abs(values - expected) <= atol + rtol * abs(expected)))


def verdict(assignment: str, name: str, values: Any, expected: dict) -> str | None:
    """None when ``values`` match the calibrated ones, else a one-line reason for the student."""
    spec = checks_of(assignment)[name]
    if name not in expected["checks"]:
        return f"{name}: no calibrated value (instructor: run `python -m autograder calibrate {assignment}`)"
    bad = mismatches(values, expected["checks"][name]["value"], spec.rtol, spec.atol)
    if bad:
        return f"{name}: {bad} value(s) differ from the reference. Hint: {spec.hint}"
    return None


def run_probe(assignment: str, name: str, answer: Any) -> Any:
    """The plain values a check compares (run through JSON, so nothing else gets through)."""
    spec = checks_of(assignment)[name]
    values = spec.probe(answer)
    # round-trip through JSON: only plain values take part in the comparison; inf and nan become
    # strings, since Jupyter's JSON (and so the sandbox's recorded values) has no place for them
    return json.loads(json.dumps(_finite_or_text(values)))


def _finite_or_text(value):
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # 'inf', '-inf', 'nan'
    if isinstance(value, (list, tuple)):
        return [_finite_or_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite_or_text(v) for k, v in value.items()}
    return value


def check(assignment: str, name: str, answer: Any) -> None:
    """Hidden-test entry point: raise AssertionError with a teaching message on mismatch.

    In the grader's sandbox (``$SEQMX_SANDBOX``) it only records the probed values: the
    verdict is then given outside the sandbox (:class:`autograder.sandbox.TrustedVerdict`),
    where the expectations are.
    """
    import os
    sandboxed = os.environ.get("SEQMX_SANDBOX") == "1"
    try:
        values = run_probe(assignment, name, answer)
    except Exception as err:  # the student's code raised: say so, briefly
        last = str(err).strip().splitlines()[-1] if str(err).strip() else ""  # one line, even for MXNet's long errors
        if sandboxed:
            from autograder.sandbox import emit_probe
            emit_probe(assignment, name, error=f"{type(err).__name__}: {last[:157]}")
            return
        hint = checks_of(assignment)[name].hint
        last = last if len(last) <= 160 else last[:157] + "..."  # the hint must survive truncation
        raise AssertionError(f"{name}: your answer raised {type(err).__name__}: {last}. Hint: {hint}") from None
    if sandboxed:
        from autograder.sandbox import emit_probe
        emit_probe(assignment, name, values)
        return
    reason = verdict(assignment, name, values, load_expectations(assignment))
    if reason:
        raise AssertionError(reason)


def probe_all(assignment: str, namespace: dict) -> dict:
    """Run every check's probe on the answers in ``namespace`` (the reference's, at calibration)."""
    return {name: run_probe(assignment, name, namespace[spec.target])
            for name, spec in checks_of(assignment).items()}
