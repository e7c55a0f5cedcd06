"""Run a student's notebook in the sandbox, a notebook that survives its cells, in calibrated time.

nbgrader alone runs a student's kernel with the instructor's permissions and gives up on the whole
notebook when a cell hangs or kills its kernel. :class:`SandboxedExecute` (configured in
``exercises/nbgrader_config.py``, so stock ``nbgrader autograde`` does the same) is nbgrader's
``Execute`` with:

- every kernel started by :class:`~autograder.jail.SandboxKernelManager` (the jail, its limits
  and cgroups: ``autograder/jail.py``);
- a cell that outlives its time or kills its kernel failed alone: the kernel is restarted and the
  cells that had run before it are replayed silently, and grading goes on;
- time limits calibrated on the reference (:func:`calibrated_limits`, ``autograder/timings/``).

What the kernel reports is not believed here: the hidden tests are judged afterwards, outside the
sandbox, from the values they recorded (:class:`autograder.verdict.TrustedVerdict`).
"""
from __future__ import annotations

import json

from jupyter_core.utils import run_sync
from nbformat.v4 import new_output
from traitlets import Float, Integer

from nbgrader.preprocessors import Execute

from autograder.jail import REPO, SandboxKernelManager, bwrap_path
from autograder.probes import CHECK_CALL, is_probe


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
