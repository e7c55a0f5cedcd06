"""Run a student's notebook in a sandbox, and judge hidden tests outside it.

nbgrader alone runs a student's kernel with the instructor's permissions and
believes whatever the kernel reports. Here (configured in
``exercises/nbgrader_config.py``, so stock ``nbgrader autograde`` does the same):

- :class:`SandboxedExecute` is nbgrader's ``Execute`` with a kernel started by
  :class:`~autograder.jail.SandboxKernelManager` (``autograder/jail.py``): Debian's ``bubblewrap``
  gives the kernel its own namespaces and a read-only view of the environment, with nothing of
  ``exercises/``, ``tests/`` or ``.git`` and the expectations hidden; ``prlimit`` caps each process and
  a cgroup (v2, a systemd scope or v1, whichever the machine has) caps the sandbox's processes and
  memory; the sandbox ends with its kernel, background processes included.
- In the sandbox a hidden test's ``autograder.checks.check`` only *probes*:
  it sends the plain values the student's answer returned, as a display
  output of MIME type :data:`PROBE_MIME`. :class:`TrustedVerdict` (in
  nbgrader's own process, after execution) compares them with the calibrated
  expectations and rewrites the cell's outputs: nothing the kernel printed or
  raised in a hidden test cell counts, only the values.
"""
from __future__ import annotations

import json
import re

from jupyter_core.utils import run_sync
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool, Float, Integer, Unicode

from nbgrader.preprocessors import ClearHiddenTests, Execute
from nbgrader.utils import is_grade, is_solution

# the jail (bubblewrap, limits, cgroups) lives in autograder.jail; named here too, where cli.py,
# nbgrader's configuration and older callers import it from
from autograder.jail import (REPO, SANDBOX_ENV, NoProcessLimit, SandboxKernelManager,  # noqa: F401
                             SandboxMissing, bwrap_path, clean_stale)

# the probe protocol (what a hidden check sends from the kernel, and how it is read) is autograder.probes
from autograder.probes import CHECK_CALL, hidden_checks, is_probe, recorded


class SandboxedExecute(Execute):
    """nbgrader's Execute, with every kernel in the sandbox, and a notebook that survives its cells.

    Stock nbgrader gives up on the whole notebook when a cell outlives its time limit without
    answering an interrupt, or kills its kernel (``os._exit``, a segfault, the memory limit).
    Here that cell gets an error output saying why, the kernel is restarted (a new sandbox),
    the cells that had run before it are run again silently to rebuild the student's
    definitions, and grading goes on: only the tests that depend on that cell lose points.
    A notebook also has a total time limit, after which the remaining cells are not run.
    """

    notebook_timeout = Integer(900, help="seconds for a whole notebook; later cells are not run").tag(config=True)
    max_output_chars = Integer(100_000, help="characters kept of a cell's output text").tag(config=True)
    # Calibrated limits (autograder/timings/<assignment>.json, written by `calibrate`): a cell may
    # run limit_factor times what the reference's cell took, at least limit_floor seconds, scaled by
    # the machine's load when grading starts (load average per core, at least 1: a machine twice as
    # busy runs every cell about twice as long), at most Execute.timeout; the notebook likewise
    # (notebook_floor, notebook_timeout). The margin: see the README ("Time limits").
    limit_factor = Float(10.0, help="a cell may take this many times the reference's time").tag(config=True)
    limit_floor = Float(15.0, help="seconds any cell may take, however fast the reference was").tag(config=True)
    notebook_floor = Float(120.0, help="seconds any notebook may take, however fast the reference was").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        bwrap_path()  # fail at once, with the reason, when the sandbox cannot be made
        super().__init__(*args, **kwargs)
        self._started = None
        self._replay: list[str] = []

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        if isinstance(self.km, SandboxKernelManager):
            self.km.seal()
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # as execute_cell below

    def preprocess(self, nb, resources=None, km=None):
        self._started, self._replay = None, []
        self._limits = calibrated_limits((resources or {}).get("nbgrader", {}).get("assignment"))
        if self._limits is not None:
            import os
            self._load_scale = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
            self.timeout_func = self.cell_limit
            total = max(self.notebook_floor, self.limit_factor * self._limits["total"]) * self._load_scale
            self._notebook_limit = int(min(self.notebook_timeout, total))
        else:
            self.timeout_func, self._notebook_limit = None, self.notebook_timeout
        return super().preprocess(nb, resources, km)

    def cell_limit(self, cell) -> int:
        """This cell's time limit: limit_factor x the reference's time for it (by grade_id; a hidden
        test cell: its checks' probes; a cell of the student's own: the largest), within the floor
        and the configured cap."""
        limits = self._limits
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid in limits["cells"]:
            seconds = limits["cells"][gid]
        elif CHECK_CALL.search(cell.source):
            seconds = sum(limits["checks"].get(name, 0.0) for _, name in CHECK_CALL.findall(cell.source))
        else:
            seconds = max([*limits["cells"].values(), 0.0])
        limit = max(self.limit_floor, self.limit_factor * seconds) * self._load_scale
        return int(min(self.timeout, limit) + 0.999)

    def _fail(self, cell, reason: str):
        cell.outputs = [new_output("error", ename="GradingLimit", evalue=reason,
                                   traceback=[f"GradingLimit: {reason}"])]
        return cell

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        import time
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        if self._started is None:
            self._started = time.monotonic()
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if time.monotonic() - self._started > self._notebook_limit:
            return self._fail(cell, f"not run: the notebook's time limit ({self._notebook_limit} s) was reached")
        try:
            result = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except (CellTimeoutError, DeadKernelError) as err:
            died = isinstance(err, DeadKernelError)
            reason = ("the kernel died in this cell (os._exit, a crash, or the memory limit)" if died else
                      f"this cell ran past its time limit ({self._get_timeout(cell)} s) and ignored the interrupt")
            self._fail(cell, reason)
            await self._restart_and_replay()
            return cell
        self._cap_outputs(cell)
        if not any(o.get("output_type") == "error" for o in cell.outputs):
            self._replay.append(cell.source)
        return result

    execute_cell = run_sync(async_execute_cell)  # nbconvert calls the sync one, bound to nbclient's

    def _cap_outputs(self, cell) -> None:
        """At most ``max_output_chars`` of output per cell, whatever its kind (a 50 MB line, a
        hundred large displays, JSON data): what is past the budget is dropped, with a note."""
        budget, kept, probes = self.max_output_chars, [], 0
        for out in cell.get("outputs", []):
            size = len(json.dumps(out, default=str))
            if is_probe(out) and probes < 20 and size <= 20 * self.max_output_chars:
                kept.append(out)  # a check's recorded values: judged by TrustedVerdict, own budget
                probes += 1
                continue
            if size <= budget:
                kept.append(out)
                budget -= size
                continue
            if out.get("output_type") == "stream" and budget > 0:
                out["text"] = out.get("text", "")[:budget]
                kept.append(out)
            elif out.get("output_type") == "error":
                kept.append(new_output("error", ename=str(out.get("ename", "Error"))[:100],
                                       evalue=str(out.get("evalue", ""))[:1000], traceback=[]))
            budget = 0
        if len(kept) < len(cell.get("outputs", [])) or budget == 0:
            kept.append(new_output("stream", name="stdout", text="\n[output truncated by the grader]\n"))
        cell.outputs = kept

    async def _restart_and_replay(self) -> None:
        """A fresh sandboxed kernel with the definitions of every cell that ran without error."""
        await self.km.restart_kernel(now=True)
        await self.kc.wait_for_ready(timeout=60)
        self.km.seal()
        import time
        for code in self._replay:
            if time.monotonic() - self._started > self._notebook_limit:
                break  # the notebook's time is up: later cells will say so
            try:
                reply = await self.kc._async_execute_interactive(code, store_history=False, allow_stdin=False,
                                                                 timeout=self.timeout,
                                                                 output_hook=lambda msg: None)
            except Exception:  # the replay itself hit a limit: go on with what is defined
                if not await self.kc._async_is_alive():
                    await self.km.restart_kernel(now=True)
                    await self.kc.wait_for_ready(timeout=60)
                continue
            if reply.get("content", {}).get("status") != "ok":
                continue


TIMINGS = REPO / "autograder" / "timings"


def calibrated_limits(assignment: str | None) -> dict | None:
    """The reference's times ({"cells": {grade_id: s}, "checks": {name: s}, "total": s}) recorded by
    ``calibrate``, or None (no record: the configured limits apply)."""
    path = TIMINGS / f"{assignment}.json" if assignment else None
    if path is None or not path.is_file():
        return None
    record = json.loads(path.read_text())
    return {"cells": record["cells"], "checks": record["checks"], "total": record["total"]}


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
