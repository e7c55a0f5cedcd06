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

Each assignment's checks live in ``autograder/problems/<assignment>.py``, a
:class:`ProblemChecks` named ``CHECKS`` on which every check is declared once,
next to its probe::

    CHECKS = ProblemChecks(training_seed=0)

    @CHECKS.add("rnn_forward.random", seed=302, rtol=1e-5, atol=1e-6, why=VALUES_WHY,
                hint="H_t = act(X_t W_xh + H_{t-1} W_hh + b_h) ...")
    def probe_rnn_forward(fn, seed): ...

    CHECKS.value("best_k", float, hint="pick the k of K_GRID with the lowest validation perplexity")

The check's name is its key (``<target>.<what>``, or the target alone); the
target, the name the notebook defines, is the name up to its first ".".
"""
from __future__ import annotations

import functools
import importlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

EXPECTATIONS = Path(__file__).resolve().parent / "expectations"


EXACT = "exact: integers and deterministic float arithmetic"


@dataclass(frozen=True)
class Check:
    """One hidden check of one answer (a function or a value) of an assignment."""
    target: str                               # the name the student's notebook defines
    probe: Callable[[Any], Any]               # answer -> plain JSON values (its seed already bound)
    hint: str                                 # what to look at when it fails (no expected values)
    rtol: float = 0.0                         # relative tolerance on every number
    atol: float = 0.0                         # absolute tolerance on every number
    why: str = EXACT                          # the tolerance's reason
    seed: int | None = None                   # the seed of the probe's random inputs, if any


class ProblemChecks(Mapping[str, Check]):
    """An assignment's hidden checks by name, in the order they are declared (see the module docstring).

    ``seeds`` is what calibration records of them: each seeded probe's seed under its target's name (or
    ``seed_name``), and ``training_seed`` (the seed the notebook's own training uses) as ``training``.
    """

    def __init__(self, training_seed: int | None = None):
        self._checks: dict[str, Check] = {}
        self.seeds: dict[str, int] = {} if training_seed is None else {"training": training_seed}

    def add(self, name: str, *, hint: str, seed: int | None = None, seed_name: str | None = None,
            target: str | None = None, rtol: float = 0.0, atol: float = 0.0, why: str = EXACT):
        """Decorate ``probe(answer)``, or ``probe(answer, seed)`` when ``seed`` is given, as check ``name``."""
        def declare(probe):
            self._declare(name, probe, hint, seed, seed_name, target, rtol, atol, why)
            return probe
        return declare

    def value(self, name: str, convert: Callable[[Any], Any], *, hint: str, target: str | None = None,
              rtol: float = 0.0, atol: float = 0.0, why: str = EXACT) -> None:
        """Check ``name`` of a value the notebook computes, compared after ``convert`` (e.g. ``float``)."""
        self._declare(name, convert, hint, None, None, target, rtol, atol, why)

    def _declare(self, name, probe, hint, seed, seed_name, target, rtol, atol, why) -> None:
        if name in self._checks:
            raise ValueError(f"check {name!r} is declared twice")
        target = target or name.split(".", 1)[0]
        if seed is not None:
            seed_name = seed_name or target
            if self.seeds.setdefault(seed_name, seed) != seed:
                raise ValueError(f"check {name!r}: seed {seed_name!r} is already {self.seeds[seed_name]}")
            probe = functools.partial(probe, seed=seed)
        self._checks[name] = Check(target, probe, hint, rtol=rtol, atol=atol, why=why, seed=seed)

    def __getitem__(self, name: str) -> Check:
        return self._checks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._checks)

    def __len__(self) -> int:
        return len(self._checks)


def mx_npx():
    """MXNet's ``(np, npx)``, imported when a probe runs (not when the grader starts), NumPy semantics on."""
    from mxnet import np, npx
    npx.set_np()
    return np, npx


def mx_np():
    """MXNet's NumPy interface alone (see :func:`mx_npx`)."""
    return mx_npx()[0]


def plain_array(a) -> dict:
    """An array as plain values: its shape, its dtype string and its values (floats)."""
    import numpy as onp
    values = a.asnumpy() if hasattr(a, "asnumpy") else onp.asarray(a)
    return {"shape": [int(s) for s in values.shape], "dtype": str(values.dtype),
            "values": values.astype("float64").tolist()}


def problem_module(assignment: str):
    """The module that defines an assignment's ``CHECKS`` (``ps01-x`` -> ``problems/ps01_x.py``)."""
    return importlib.import_module(f"autograder.problems.{assignment.replace('-', '_')}")


def checks_of(assignment: str) -> Mapping[str, Check]:
    """An assignment's checks by name (its problem module's ``CHECKS``, a :class:`ProblemChecks`)."""
    return problem_module(assignment).CHECKS


def load_expectations(assignment: str) -> dict:
    path = EXPECTATIONS / f"{assignment}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no calibrated expectations; run `python -m autograder calibrate {assignment}`")
    return json.loads(path.read_text())


ELLIPSIS = "\u2026"
NON_FINITE = ("inf", "-inf", "nan")  # how run_probe records non-finite floats


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: cut at the last space that fits, with an ellipsis.

    Only a single word longer than the whole limit is cut inside itself (there is no space to cut at).
    """
    if len(text) <= limit:
        return text
    head = text[:limit - len(ELLIPSIS) + 1]  # one more: a cut right before a space keeps the last word
    space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    head = head[:space] if space > 0 else head[:-1]
    return head.rstrip() + ELLIPSIS


def _is_number(x) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool)) or x in NON_FINITE


def _shape_of(x) -> tuple | None:
    """The shape of a rectangular nested list of numbers (None for anything else)."""
    if not isinstance(x, list) or not x:
        return None
    if all(_is_number(v) for v in x):
        return (len(x),)
    inner = [_shape_of(v) for v in x]
    if inner[0] is None or any(s != inner[0] for s in inner):
        return None
    return (len(x),) + inner[0]


def _is_array(x) -> bool:
    """An array as :func:`plain_array` (or a probe) records it: a dict with its shape and values."""
    return isinstance(x, dict) and isinstance(x.get("shape"), list) and "values" in x


def _leaves(x) -> int:
    if isinstance(x, list):
        return sum(_leaves(v) for v in x)
    if isinstance(x, dict):
        return sum(_leaves(v) for v in x.values())
    return 1


def _same_leaf(value, expected, rtol: float, atol: float) -> bool:
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return type(value) is type(expected) and value == expected
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if math.isinf(expected) or math.isnan(expected):
        return value == expected or (math.isnan(expected) and math.isnan(value))
    return math.isfinite(value) and abs(value - expected) <= atol + rtol * abs(expected)


@dataclass
class Difference:
    """Where a probe's values first differ from the reference's, and how many differ.

    ``path`` leads from the probe's value to the output that differs (dict keys and list
    indices); inside an array, ``shape`` is its shape and ``index`` the first differing
    position. It never holds a value, expected or the student's.
    """
    total: int = 0                     # values (leaves) of the reference (at least ``bad``)
    bad: int = 0                       # of them, values that differ
    path: tuple = ()
    kind: str = ""                     # "value", "shape", "dtype" or "structure"; "" when all match
    shape: tuple | None = None
    index: tuple | None = None

    def note(self, n: int, path: tuple, kind: str, shape=None, index=None) -> None:
        self.bad += n
        if not self.kind:
            self.path, self.kind, self.shape, self.index = path, kind, shape, index

    def describe(self) -> str:
        """E.g. "output `grads['W_xh']` (shape (28, 32)) differs first at [3, 7]; 1,429 of 1,796 values differ"."""
        where = f"output `{_path_text(self.path)}`" if self.path else "the output"
        if self.kind == "value" and self.index:
            what = f"{where} (shape {_shape_text(self.shape)}) differs first at [{', '.join(map(str, self.index))}]"
        elif self.kind == "value":
            what = f"{where} differs"
        elif self.kind == "structure":
            what = f"{where} has another type, length or set of keys than the reference's"
        else:
            what = f"{where} has another {self.kind} than the reference's"
        if self.total == 1:  # a single value: nothing to count
            return what
        verb = "differs" if self.bad == 1 else "differ"
        return f"{what}; {self.bad:,} of {self.total:,} values {verb}"


def _path_text(path: tuple) -> str:
    out = []
    for i, key in enumerate(path):
        if isinstance(key, str) and i == 0 and key.isidentifier():
            out.append(key)
        else:
            out.append(f"[{key!r}]")
    return "".join(out)


def _shape_text(shape: tuple) -> str:
    return str(tuple(shape))


def difference(values: Any, expected: Any, rtol: float, atol: float) -> Difference:
    """Compare two nested JSON values (numbers within tolerance): the first difference and the count."""
    diff = Difference()
    _walk(values, expected, (), rtol, atol, diff)
    diff.total = max(_leaves(expected), diff.bad)
    return diff


def _walk(values, expected, path, rtol, atol, diff, shape=None, index=None) -> None:
    """Walk ``expected`` (the reference) and ``values`` together; inside an array, extend ``index``."""
    if shape is None and _is_array(expected):
        if not (_is_array(values) and values.keys() == expected.keys()):
            diff.note(_leaves(expected), path, "structure")
            return
        if values["shape"] != expected["shape"]:
            diff.note(_leaves(expected["values"]) + _leaves(expected["shape"]), path, "shape")
        else:
            if "dtype" in expected and values["dtype"] != expected["dtype"]:
                diff.note(1, path, "dtype")
            _walk(values["values"], expected["values"], path, rtol, atol, diff,
                  shape=tuple(expected["shape"]), index=())
        for key in expected:
            if key not in ("shape", "dtype", "values"):
                _walk(values[key], expected[key], path + (key,), rtol, atol, diff)
        return
    if shape is None and _shape_of(expected) is not None:  # a nested list of numbers: an array too
        if _shape_of(values) != _shape_of(expected):
            diff.note(_leaves(expected), path, "shape" if isinstance(values, list) else "structure")
            return
        shape, index = _shape_of(expected), ()
    if isinstance(expected, (list, dict)):
        if (type(values) is not type(expected) or len(values) != len(expected)
                or (isinstance(expected, dict) and values.keys() != expected.keys())):
            diff.note(max(1, _leaves(expected)), path, "structure", shape, index)
            return
        for key in (range(len(expected)) if isinstance(expected, list) else expected):
            if index is not None:
                _walk(values[key], expected[key], path, rtol, atol, diff, shape, index + (key,))
            else:
                _walk(values[key], expected[key], path + (key,), rtol, atol, diff)
        return
    if not _same_leaf(values, expected, rtol, atol):
        diff.note(1, path, "value", shape, index)


def mismatches(values: Any, expected: Any, rtol: float, atol: float) -> int:
    """How many leaves of two nested JSON values differ (numbers within tolerance)."""
    return difference(values, expected, rtol, atol).bad


def verdict(assignment: str, name: str, values: Any, expected: dict) -> str | None:
    """None when ``values`` match the calibrated ones, else a one-line reason for the student.

    The reason names the output that differs (its path in the probe's values, its shape and the
    first differing position) and how many values differ, never a value.
    """
    spec = checks_of(assignment)[name]
    if name not in expected["checks"]:
        return f"{name}: no calibrated value (instructor: run `python -m autograder calibrate {assignment}`)"
    diff = difference(values, expected["checks"][name]["value"], spec.rtol, spec.atol)
    if diff.bad:
        return f"{name}: {diff.describe()}. Hint: {spec.hint}"
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


_LOOK_UP = object()


def _answer(assignment: str, name: str, namespace: dict | None):
    """The student's answer to check ``name``: the value of its target name in the notebook's namespace
    (IPython's, else the caller's globals), or :data:`_LOOK_UP` when the notebook never defined it."""
    target = checks_of(assignment)[name].target
    if namespace is None:
        try:
            from IPython import get_ipython
            shell = get_ipython()
        except ImportError:
            shell = None
        import sys
        namespace = shell.user_ns if shell is not None else sys._getframe(2).f_globals
    return namespace.get(target, _LOOK_UP), target


def check(assignment: str, name: str, answer: Any = _LOOK_UP) -> None:
    """Hidden-test entry point: raise AssertionError with a teaching message on mismatch.

    Without ``answer``, the answer is looked up by its name (the check's ``target``) when the
    check runs: a name the notebook never defined fails this check alone, as "not graded", and
    the next check of the same cell still runs (one answer's error never fails another's check).

    In the grader's sandbox (``$SEQMX_SANDBOX``) it only records the probed values: the
    verdict is then given outside the sandbox (:class:`autograder.verdict.TrustedVerdict`),
    where the expectations are.
    """
    import os
    sandboxed = os.environ.get("SEQMX_SANDBOX") == "1"
    if answer is _LOOK_UP:
        answer, target = _answer(assignment, name, None)
        if answer is _LOOK_UP:
            if sandboxed:
                from autograder.probes import emit
                emit(assignment, name, undefined=target)
                return
            raise AssertionError(f"{name}: {not_graded(target)}")
    try:
        values = run_probe(assignment, name, answer)
    except Exception as err:  # the student's code raised: say so, briefly
        last = str(err).strip().splitlines()[-1] if str(err).strip() else ""  # one line, even for MXNet's long errors
        # cut at a word (the grader keeps 160 characters of it): the hint must survive truncation
        raised = shorten(f"{type(err).__name__}: {last}", 160)
        if sandboxed:
            from autograder.probes import emit
            emit(assignment, name, error=raised)
            return
        hint = checks_of(assignment)[name].hint
        raise AssertionError(f"{name}: your answer raised {raised}. Hint: {hint}") from None
    if sandboxed:
        from autograder.probes import emit
        emit(assignment, name, values)
        return
    reason = verdict(assignment, name, values, load_expectations(assignment))
    if reason:
        raise AssertionError(reason)


def not_graded(target: str) -> str:
    """Why a check could not run: its answer's name is not defined (distinct from a wrong answer)."""
    return (f"not graded: `{target}` is not defined (run the cell that defines it, "
            "and keep the name the notebook asks for)")


def probe_all(assignment: str, namespace: dict, seconds: dict | None = None) -> dict:
    """Run every check's probe on the answers in ``namespace`` (the reference's, at calibration);
    ``seconds`` gets each probe's time (the hidden test cells' time limits come from it)."""
    import time
    out = {}
    for name, spec in checks_of(assignment).items():
        started = time.perf_counter()
        out[name] = run_probe(assignment, name, namespace[spec.target])
        if seconds is not None:
            seconds[name] = time.perf_counter() - started
    return out
