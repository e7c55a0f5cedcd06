"""Judge every test of an executed notebook outside the sandbox, from values, not the kernel's word.

In the sandbox a hidden test's ``autograder.checks.check`` only *probes*: it sends the plain values
the student's answer returned, as a display output of the probe protocol (``autograder/probes.py``).
:class:`TrustedVerdict` (configured in ``exercises/nbgrader_config.py``; it runs in nbgrader's own
process, after :class:`autograder.executor.SandboxedExecute`) compares them with the calibrated
expectations and rewrites the cells' outputs: nothing the kernel printed or raised in a hidden test
cell counts, only the values.
"""
from __future__ import annotations

import json
import re

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool, Unicode

from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.utils import is_grade, is_solution

from autograder.probes import hidden_checks, is_probe, recorded


class TrustedVerdict(Preprocessor):
    """After execution, outside the sandbox: decide every test from values, not from the kernel's word.

    A hidden test passes when the values it recorded match the calibrated ones. A visible
    test runs in the student's kernel, which can be made to report anything (a patched
    assertion, an input transformer, an object whose ``==`` is always true); so its point
    also needs the hidden checks of the answers it uses to pass (``confirm_visible``).
    """

    enabled = Bool(True).tag(config=True)
    marker = Unicode(ClearHiddenTests.begin_test_delimeter.default_value).tag(config=True)
    confirm_visible = Bool(True, help="a visible test's point needs its answers' hidden checks").tag(config=True)

    def preprocess(self, nb, resources):
        self._passed: dict[str, bool] = {}
        self._assignment = None
        graded = [c for c in nb.cells if c.cell_type == "code" and is_grade(c) and not is_solution(c)]
        for cell in nb.cells:  # recorded values count only in the hidden test cell that asked for them
            if cell.cell_type == "code" and self.marker not in cell.source:
                cell.outputs = [o for o in cell.get("outputs", []) if not is_probe(o)]
        for cell in graded:
            if self.marker in cell.source:
                self.judge_hidden(cell)
        if self.confirm_visible and self._assignment:
            for cell in graded:
                if self.marker not in cell.source:
                    self.confirm(cell)
        return nb, resources

    def confirm(self, cell) -> None:
        """Fail a visible test whose answers failed their hidden checks (it cannot be trusted alone)."""
        from autograder import checks

        specs = checks.checks_of(self._assignment)
        used = {spec.target for spec in specs.values()
                if re.search(rf"(?<![\w.]){re.escape(spec.target)}(?!\w)", cell.source)}
        failed = sorted(name for name, spec in specs.items()
                        if spec.target in used and self._passed.get(name) is False)
        # a number shown by a test cell is partial credit to nbgrader: the kernel does not get to say
        cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "execute_result"]
        own = [o for o in cell.outputs if o.get("output_type") == "error"]
        if own:
            cell.outputs = own[:1]  # it failed on its own: the student sees why
            return
        if failed:
            reason = (f"not confirmed: the hidden check {failed[0]} of the same answer failed, so this "
                      "test's own result cannot be trusted")
            cell.outputs = [new_output("error", ename="AssertionError", evalue=reason,
                                       traceback=[f"AssertionError: {reason}"])]

    def judge_hidden(self, cell) -> None:
        probes = recorded(cell.get("outputs", []))
        reasons = []
        for assignment, name in hidden_checks(cell.source):
            self._assignment = assignment
            reason = self.judge(assignment, name, probes.get(name))
            self._passed[name] = reason is None
            if reason:
                reasons.append(reason)
        if reasons:
            cell.outputs = [new_output("error", ename="AssertionError", evalue=reasons[0],
                                       traceback=[f"AssertionError: {reasons[0]}"])]
        else:
            cell.outputs = [new_output("stream", name="stdout", text="hidden test passed\n")]


    @staticmethod
    def judge(assignment: str, name: str, payload) -> str | None:
        """None when the recorded values of check ``name`` match, else the one-line reason."""
        from autograder import checks

        if payload is None:
            spec = checks.checks_of(assignment)[name]
            return (f"{name}: no answer was recorded: the test stopped before its check (is "
                    f"`{spec.target}` defined? did an earlier cell fail?). Hint: {spec.hint}")
        if isinstance(payload.get("undefined"), str):
            return f"{name}: {checks.not_graded(checks.checks_of(assignment)[name].target)}"
        if "error" in payload:
            hint = checks.checks_of(assignment)[name].hint
            return f"{name}: your answer raised {str(payload['error'])[:160]}. Hint: {hint}"
        try:
            return checks.verdict(assignment, name, _plain(payload.get("values")),
                                  checks.load_expectations(assignment))
        except (KeyError, ValueError, TypeError, RecursionError) as err:
            return f"{name}: the recorded answer is not plain values ({type(err).__name__})"


def _plain(value):
    """Plain JSON values only (what nbformat stored is JSON already; be strict anyway)."""
    return json.loads(json.dumps(value, allow_nan=True))
