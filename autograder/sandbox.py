"""Run a student's notebook in a sandbox, and judge hidden tests outside it.

nbgrader alone runs a student's kernel with the instructor's permissions and
believes whatever the kernel reports. Here (configured in
``exercises/nbgrader_config.py``, so stock ``nbgrader autograde`` does the same):

- :class:`SandboxedExecute` is nbgrader's ``Execute`` with a kernel started by
  :class:`SandboxKernelManager`: Debian's ``bubblewrap`` gives the kernel its
  own process, network, IPC and user namespaces and a file-system view with
  the Python environment, ``seqmx``, ``data/`` and ``autograder/`` read-only,
  ``autograder/expectations/`` hidden, and nothing of ``exercises/`` (source
  notebooks, gradebook, other students' work), ``tests/`` or ``.git``. It
  talks to nbgrader over Unix sockets (ZeroMQ ``ipc``) in a private folder,
  since it has no network. ``prlimit`` caps address space, file size, open
  files and core dumps; a ``pids`` cgroup (where the machine has one) caps
  processes; the sandbox ends with its kernel, background processes included.
- In the sandbox a hidden test's ``autograder.checks.check`` only *probes*:
  it sends the plain values the student's answer returned, as a display
  output of MIME type :data:`PROBE_MIME`. :class:`TrustedVerdict` (in
  nbgrader's own process, after execution) compares them with the calibrated
  expectations and rewrites the cell's outputs: nothing the kernel printed or
  raised in a hidden test cell counts, only the values.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import tempfile
import uuid
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool, Integer, Unicode

from nbgrader.preprocessors import Execute

PROBE_MIME = "application/vnd.seqmx.probe+json"
SANDBOX_ENV = "SEQMX_SANDBOX"
REPO = Path(__file__).resolve().parents[1]
CHECK_CALL = re.compile(r'check\(\s*"([^"]+)"\s*,\s*"([^"]+)"')


class SandboxMissing(RuntimeError):
    pass


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise SandboxMissing("bubblewrap (bwrap) is not installed: the grader runs student code only in its "
                             "sandbox. Install it with `apt-get install bubblewrap` (or `make sandbox`).")
    return path


class SandboxKernelManager(AsyncKernelManager):
    """A kernel in a bubblewrap sandbox with resource limits, reached over Unix sockets."""

    memory_bytes = Integer(4 << 30, help="address-space limit (MXNet reserves about 2 GB)").tag(config=True)
    file_bytes = Integer(64 << 20, help="largest file the kernel may write").tag(config=True)
    max_pids = Integer(512, help="processes and threads of the sandbox (pids cgroup)").tag(config=True)
    disk_bytes = Integer(256 << 20, help="size of the writable scratch folder (tmpfs)").tag(config=True)
    # one thread: the course's models are small, and a second OpenMP thread made grading slower. One
    # ps06 reference graded alone on 2 idle cores: 63 s with 2 OpenMP + 2 engine threads, 62 s with
    # 2 + 1, 42 s with 1 + 1. A course with larger models can ask for more.
    threads = Integer(1, help="OpenMP threads of the kernel (MXNet's engine always runs one worker)").tag(config=True)
    small_tmp_bytes = Integer(16 << 20, help="size of the sandbox's /tmp and /dev/shm").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # the owner's pid in the name: a later run can tell a killed grader's folder from a live one
        self._runtime = Path(tempfile.mkdtemp(prefix=f"seqmx-kernel-{os.getpid()}-"))
        self.transport = "ipc"
        self.ip = str(self._runtime / "k")
        self.connection_file = str(self._runtime / "kernel.json")
        self._cgroup: Path | None = None
        # a signal cannot reach the kernel through bwrap --new-session: interrupt by message
        self.kernel_spec.interrupt_mode = "message"

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        work = "/sandbox/work"
        binds = []
        for path in {Path(sys.base_prefix), Path(sys.prefix), REPO / "seqmx", REPO / "autograder", REPO / "data"}:
            binds += ["--ro-bind", str(path), str(path)]
        for path in ("/usr", "/bin", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime", "/etc/passwd",
                     "/etc/group", "/etc/nsswitch.conf"):
            if os.path.exists(path):
                binds += ["--ro-bind", path, path]
        env = {"HOME": work, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "JPY_PARENT_PID": "1",
               SANDBOX_ENV: "1", "MPLBACKEND": "Agg", "MPLCONFIGDIR": work, "PYTHONDONTWRITEBYTECODE": "1",
               "OMP_NUM_THREADS": str(self.threads), "MXNET_CPU_WORKER_NTHREADS": "1",
               "LANG": "C.UTF-8"}
        # OpenBLAS picks its kernels from these (set on the machines here): the sandbox must do the
        # float32 arithmetic of `calibrate`, or a trained perplexity moves by up to 10% (measured)
        env.update({k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")})
        setenv = [a for k, v in env.items() for a in ("--setenv", k, v)]
        self._cgroup = _new_pids_cgroup(self.max_pids)
        # the sandbox enters its cgroup before it starts: a process forked later cannot escape it
        enter = (["sh", "-c", f'echo $$ > {self._cgroup}/cgroup.procs && exec "$@"', "sh"]
                 if self._cgroup else [])
        return [
            *enter, bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", *setenv,
            "--dev", "/dev", "--proc", "/proc", "--size", str(self.small_tmp_bytes), "--tmpfs", "/tmp",
            "--size", str(self.small_tmp_bytes), "--tmpfs", "/dev/shm", *binds,
            # the calibrated expectations are inside autograder/: cover them with an empty folder
            "--tmpfs", str(REPO / "autograder" / "expectations"),
            "--bind", str(self._runtime), str(self._runtime),
            "--size", str(self.disk_bytes), "--tmpfs", work, "--chdir", work,
            "--remount-ro", "/",  # the sandbox's own root folder: nothing to write there
            "prlimit", f"--as={self.memory_bytes}", f"--fsize={self.file_bytes}", "--nofile=256", "--core=0",
            f"--nproc={self.max_pids}", "--",
            sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
        ]

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw.pop("env", None)  # --clearenv: nothing of the grader's environment enters
        kw["cwd"] = str(self._runtime)
        await super()._async_launch_kernel(kernel_cmd, env={"PATH": os.environ.get("PATH", "")}, **kw)

    def seal(self) -> None:
        """Once the kernel has made its sockets, its runtime folder (the host's, shared for the
        Unix sockets) becomes immutable: the sandbox can no longer write a byte into it."""
        _chattr("+i", self._runtime)

    async def _async_cleanup_resources(self, restart=False):
        _chattr("-i", self._runtime)
        await super()._async_cleanup_resources(restart=restart)
        _kill_cgroup(self._cgroup)
        self._cgroup = None
        if not restart:
            shutil.rmtree(self._runtime, ignore_errors=True)


def _chattr(flag: str, folder: Path) -> None:
    """chattr on a folder and its files, where the machine allows it (root, ext4/xfs/tmpfs)."""
    import subprocess
    if shutil.which("chattr") and folder.exists():
        paths = [folder, *folder.iterdir()] if flag == "+i" else [folder]
        if flag == "+i":
            paths = [p for p in paths if not p.is_socket()]
        subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
        if flag == "-i":
            subprocess.run(["chattr", "-R", flag, str(folder)], capture_output=True)


def clean_stale(root: Path = Path(tempfile.gettempdir())) -> None:
    """Remove what a killed grader left: runtime folders, scratch courses (autograder.parallel) and
    cgroups whose owner process is gone."""
    for prefix in ("seqmx-kernel-", "seqmx-grade-"):
        for folder in root.glob(prefix + "*"):
            if not _owner_alive(folder.name, prefix):
                _chattr("-i", folder)
                shutil.rmtree(folder, ignore_errors=True)
    if PIDS_ROOT.is_dir():
        for group in PIDS_ROOT.glob("seqmx-*"):
            if not _owner_alive(group.name, "seqmx-"):
                _kill_cgroup(group)


def _owner_alive(name: str, prefix: str) -> bool:
    """Whether the process whose pid follows ``prefix`` in ``name`` still runs (True if unknown)."""
    try:
        pid = int(name[len(prefix):].split("-", 1)[0])
        os.kill(pid, 0)
    except ValueError:
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PIDS_ROOT = Path("/sys/fs/cgroup/pids")


def _new_pids_cgroup(max_pids: int) -> Path | None:
    """A fresh pids cgroup (v1) allowing ``max_pids`` processes and threads, if the machine lets us."""
    try:
        group = PIDS_ROOT / f"seqmx-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        group.mkdir()
        (group / "pids.max").write_text(str(max_pids))
        return group
    except OSError:
        return None  # no writable cgroup: RLIMIT_NPROC (prlimit) is the remaining limit (not for root)


def _kill_cgroup(group: Path | None) -> None:
    """Kill whatever is left in the sandbox's cgroup (background processes), then remove it."""
    if group is None:
        return
    import time
    for _ in range(100):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        try:
            group.rmdir()  # only once it is empty (killed processes take a moment to go)
            return
        except OSError:
            time.sleep(0.05)


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
        return super().preprocess(nb, resources, km)

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
        if time.monotonic() - self._started > self.notebook_timeout:
            return self._fail(cell, f"not run: the notebook's time limit ({self.notebook_timeout} s) was reached")
        try:
            result = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except (CellTimeoutError, DeadKernelError) as err:
            died = isinstance(err, DeadKernelError)
            reason = ("the kernel died in this cell (os._exit, a crash, or the memory limit)" if died else
                      f"this cell ran past its time limit ({self.timeout} s) and ignored the interrupt")
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
            if PROBE_MIME in out.get("data", {}) and probes < 20 and size <= 20 * self.max_output_chars:
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
            if time.monotonic() - self._started > self.notebook_timeout:
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


def emit_probe(assignment: str, name: str, values=None, error: str | None = None) -> None:
    """In the sandbox: send a check's plain values (or the error the answer raised) to the grader."""
    from IPython.display import display
    payload = {"assignment": assignment, "check": name}
    payload.update({"error": error} if error is not None else {"values": values})
    display({PROBE_MIME: payload, "text/plain": f"{name}: answer recorded for grading"}, raw=True)


def hidden_checks(source: str) -> list[tuple[str, str]]:
    """The (assignment, check name) pairs a hidden test cell's source calls."""
    return CHECK_CALL.findall(source)


class TrustedVerdict(Preprocessor):
    """After execution, outside the sandbox: decide every test from values, not from the kernel's word.

    A hidden test passes when the values it recorded match the calibrated ones. A visible
    test runs in the student's kernel, which can be made to report anything (a patched
    assertion, an input transformer, an object whose ``==`` is always true); so its point
    also needs the hidden checks of the answers it uses to pass (``confirm_visible``).
    """

    enabled = Bool(True).tag(config=True)
    marker = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    confirm_visible = Bool(True, help="a visible test's point needs its answers' hidden checks").tag(config=True)

    def preprocess(self, nb, resources):
        self._passed: dict[str, bool] = {}
        self._assignment = None
        graded = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
                  and not c.metadata["nbgrader"].get("solution")]
        for cell in nb.cells:  # recorded values count only in the hidden test cell that asked for them
            if cell.cell_type == "code" and self.marker not in cell.source:
                cell.outputs = [o for o in cell.get("outputs", []) if PROBE_MIME not in o.get("data", {})]
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
        probes = {}
        for out in cell.get("outputs", []):
            payload = out.get("data", {}).get(PROBE_MIME) if out.get("output_type") == "display_data" else None
            if isinstance(payload, dict) and isinstance(payload.get("check"), str):
                probes[payload["check"]] = payload  # the last one of each name counts
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
