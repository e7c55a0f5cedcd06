"""A failed value check says which output differs, its shape and where first, and never a value."""
import copy
import re

import numpy as np
import pytest

from autograder import checks
from autograder.checks import Check, difference, plain_array, shorten


def probe_values(seed=14):
    """Values as a probe records them: nested dicts and lists of plain arrays, from a seeded generator."""
    rng = np.random.default_rng(seed)
    return {"outputs": plain_array(rng.normal(size=(5, 4)).astype("float32")),
            "grads": {"W_hh": plain_array(rng.normal(size=(32, 32))),
                      "W_xh": plain_array(rng.normal(size=(28, 32)))},
            "loss": float(rng.normal())}


def numbers(x):
    if isinstance(x, dict):
        return [n for v in x.values() for n in numbers(v)]
    if isinstance(x, list):
        return [n for v in x for n in numbers(v)]
    return [x] if isinstance(x, float) else []


def test_the_first_differing_output_is_named_with_its_shape_and_index_and_no_value():
    expected = probe_values()
    values = copy.deepcopy(expected)
    W = values["grads"]["W_xh"]["values"]
    for i, j in [(3, 7), (3, 9), (20, 0)]:  # row-major order: [3, 7] comes first
        W[i][j] += 0.5
    reason = difference(values, expected, rtol=1e-5, atol=1e-6).describe()
    assert reason == "output `grads['W_xh']` (shape (28, 32)) differs first at [3, 7]; 3 of 1,950 values differ"
    shown = set(re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", reason))
    assert not shown & {repr(x) for x in numbers(expected)}
    for i, j in [(3, 7), (3, 9), (20, 0)]:  # neither the reference's value nor the student's, in any form
        for x in (expected["grads"]["W_xh"]["values"][i][j], W[i][j]):
            assert f"{x:.3g}".lstrip("-") not in reason and f"{x:.2f}".lstrip("-") not in reason


def test_values_within_tolerance_match_and_a_tolerance_failure_counts_once():
    expected = probe_values()
    values = copy.deepcopy(expected)
    values["outputs"]["values"][1][2] *= 1 + 1e-7
    assert difference(values, expected, rtol=1e-5, atol=0).bad == 0
    values["loss"] += 1.0
    diff = difference(values, expected, rtol=1e-5, atol=0)
    assert (diff.bad, diff.path, diff.kind) == (1, ("loss",), "value")
    assert diff.describe() == "output `loss` differs; 1 of 1,950 values differs"


def test_a_wrong_shape_or_dtype_is_named_without_either_shape_or_dtype():
    expected = probe_values()
    values = copy.deepcopy(expected)
    values["outputs"] = plain_array(np.zeros((4, 5), dtype="float32"))
    reason = difference(values, expected, 0, 0).describe()
    assert reason.startswith("output `outputs` has another shape than the reference's;")
    assert "(5, 4)" not in reason and "(4, 5)" not in reason
    values = copy.deepcopy(expected)
    values["grads"]["W_hh"]["dtype"] = "float32"
    assert difference(values, expected, 0, 0).describe().startswith(
        "output `grads['W_hh']` has another dtype than the reference's;")


def test_lists_of_cases_and_nested_lists_of_numbers_are_located_too():
    rng = np.random.default_rng(7)
    expected = [{"norm": 1.5, "clipped": [rng.normal(size=(2, 3)).tolist(), rng.normal(size=4).tolist()]}
                for _ in range(3)]
    values = copy.deepcopy(expected)
    values[2]["clipped"][0][1][2] = 0.0
    assert difference(values, expected, 0, 0).describe() == (
        "output `[2]['clipped'][0]` (shape (2, 3)) differs first at [1, 2]; 1 of 33 values differs")
    assert difference(None, expected, 0, 0).describe().startswith("the output has another type, length")
    assert difference(2.5, 2.0, 0, 0).describe() == "the output differs"  # one value: nothing to count
    assert difference(values[:2], expected, 0, 0).bad == 33


def test_verdict_keeps_its_signature_and_says_name_where_and_hint(monkeypatch):
    spec = Check(target="f", probe=lambda f: f, hint="mind the <unk> row", rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(checks, "checks_of", lambda assignment: {"f.random": spec})
    expected = probe_values()
    calibrated = {"checks": {"f.random": {"value": expected}}}
    assert checks.verdict("ps99", "f.random", copy.deepcopy(expected), calibrated) is None
    values = copy.deepcopy(expected)
    values["grads"]["W_xh"]["values"][27][31] = float("nan")
    assert checks.verdict("ps99", "f.random", values, calibrated) == (
        "f.random: output `grads['W_xh']` (shape (28, 32)) differs first at [27, 31]; 1 of 1,950 values "
        "differs. Hint: mind the <unk> row")
    assert checks.mismatches(values, expected, 1e-5, 1e-6) == 1


@pytest.mark.parametrize("limit", [20, 37, 160])
def test_a_long_text_is_cut_at_a_space_with_an_ellipsis(limit):
    text = "MXNetError: Check failed: shape mismatch between lhs (2, 3) and rhs (3, 2) in operator dot " * 3
    cut = shorten(text, limit)
    assert len(cut) <= limit and cut.endswith("\u2026")
    head = cut[:-1]
    assert text.startswith(head) and text[len(head)] == " " and head == head.rstrip()
    assert shorten("short enough", limit) == "short enough"


def test_the_grader_outside_the_sandbox_gives_the_same_reason(monkeypatch):
    from autograder.verdict import TrustedVerdict

    spec = Check(target="f", probe=lambda f: f, hint="mind the bias")
    expected = probe_values()
    monkeypatch.setattr(checks, "checks_of", lambda assignment: {"f.random": spec})
    monkeypatch.setattr(checks, "load_expectations", lambda assignment: {"checks": {"f.random": {"value": expected}}})
    values = copy.deepcopy(expected)
    values["outputs"]["values"][4][0] = -values["outputs"]["values"][4][0]
    payload = {"assignment": "ps99", "check": "f.random", "values": values}
    assert TrustedVerdict.judge("ps99", "f.random", payload) == (
        "f.random: output `outputs` (shape (5, 4)) differs first at [4, 0]; 1 of 1,950 values differs. "
        "Hint: mind the bias")


def test_the_probe_protocol_loads_in_a_kernel_without_nbgrader_and_checks_never_import_the_sandbox():
    """autograder.probes is what a student's kernel loads to send values: no nbgrader, no jail; the
    checks reach the sandbox's verdict side through nothing (no import circle)."""
    import subprocess
    import sys
    code = ("import sys, autograder.probes, autograder.checks; "
            "print(sorted(m for m in ('nbgrader', 'autograder.executor', 'autograder.verdict', 'autograder.jail') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
