"""The kernel's jail: a student's kernel in bubblewrap, with resource limits and a cgroup.

:class:`SandboxKernelManager` starts every kernel of the grader (``autograder.executor.SandboxedExecute``)
in Debian's ``bubblewrap``: its own process, network, IPC and user namespaces and a file-system view
with the Python environment, ``seqmx``, ``data/`` and ``autograder/`` read-only,
``autograder/expectations/`` hidden, and nothing of ``exercises/`` (source notebooks, gradebook, other
students' work), ``tests/`` or ``.git``. It talks to nbgrader over Unix sockets (ZeroMQ ``ipc``) in a
private folder, since it has no network. ``prlimit`` caps each process's address space, file size, open
files and core dumps.

The sandbox as a whole (every process it forks, its tmpfs folders) is capped by a cgroup: ``pids.max``
processes and threads, and memory where the memory controller is there. The kernel enters its group
before bubblewrap starts, so nothing it forks escapes, and the group is killed and removed when the
kernel ends. The first of these that works is used:

1. cgroup v2 under ``$SEQMX_CGROUP_ROOT``, a cgroup folder delegated to the grader;
2. cgroup v2 under the grader's own cgroup (``0::/path`` in /proc/self/cgroup) when it can give the
   ``pids`` controller (and ``memory``) to child groups. cgroup v2 allows no process in a group whose
   children have controllers: a grader alone in its group first moves itself into a leaf,
   ``seqmx-grader-<pid>``, and the sandboxes' groups are that leaf's siblings;
3. a transient systemd scope (``systemd-run [--user] --scope -p TasksMax=... -p MemoryMax=...``) where
   systemd runs the machine on cgroup v2 and the grader cannot write its own group;
4. cgroup v1: a group in the ``pids`` hierarchy (and the ``memory`` one, if mounted), under the grader's
   own group in each.

RLIMIT_NPROC (``prlimit``) alone does not bind root. So where no group can be made a kernel does not
start, unless ``$SEQMX_ALLOW_NO_PROCESS_LIMIT=1`` (``grade --allow-no-process-limit`` sets it, after
:func:`require_process_limit` has said why in one line). Groups and scopes are named
``seqmx-<owner pid>-<random>``: :func:`clean_stale` removes those of a grader that was killed.
``$SEQMX_CGROUP_FS`` moves the cgroup mount point (``/sys/fs/cgroup``), for tests.
"""
from __future__ import annotations

import errno
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer

SANDBOX_ENV = "SEQMX_SANDBOX"
REPO = Path(__file__).resolve().parents[1]
FS_ENV = "SEQMX_CGROUP_FS"                      # where the cgroup hierarchies are mounted
ROOT_ENV = "SEQMX_CGROUP_ROOT"                  # a delegated cgroup v2 folder for the sandboxes' groups
ALLOW_ENV = "SEQMX_ALLOW_NO_PROCESS_LIMIT"      # "1": a kernel may start without a process limit
GROUP_PREFIX = "seqmx-"                         # + owner pid + "-" + random: one sandbox's group or scope
LEAF_PREFIX = "seqmx-grader-"                   # + pid: the cgroup v2 leaf a grader moved itself into
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
SYSTEMD_RUNNING = Path("/run/systemd/system")   # sd_booted(): systemd is the machine's init


class SandboxMissing(RuntimeError):
    pass


class NoProcessLimit(SandboxMissing):
    """No cgroup can cap the sandbox's processes here, and running without one was not allowed."""


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise SandboxMissing("bubblewrap (bwrap) is not installed: the grader runs student code only in its "
                             "sandbox. Install it with `apt-get install bubblewrap` (or `make sandbox`).")
    return path


class SandboxKernelManager(AsyncKernelManager):
    """A kernel in a bubblewrap sandbox with resource limits, reached over Unix sockets."""

    memory_bytes = Integer(4 << 30, help="address-space limit (MXNet reserves about 2 GB)").tag(config=True)
    sandbox_memory_bytes = Integer(4 << 30, help="memory of the whole sandbox, every process and its tmpfs "
                                   "folders (memory cgroup, where there is one)").tag(config=True)
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
        self._group: Group | None = None
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
        # the sandbox enters its cgroup before it starts: a process forked later cannot escape it
        try:
            self._group = sandbox_group(self.max_pids, self.sandbox_memory_bytes)
        except NoProcessLimit:
            shutil.rmtree(self._runtime, ignore_errors=True)  # no kernel, so no cleanup will come
            raise
        enter = self._group.prefix() if self._group else []
        return [
            *enter, bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", *setenv,
            "--dev", "/dev", "--proc", "/proc", "--size", str(self.small_tmp_bytes), "--tmpfs", "/tmp",
            "--size", str(self.small_tmp_bytes), "--tmpfs", "/dev/shm", *binds,
            # the calibrated expectations (and the reference's timings) are inside autograder/: cover
            # them with empty folders
            "--tmpfs", str(REPO / "autograder" / "expectations"),
            *(["--tmpfs", str(REPO / "autograder" / "timings")] if (REPO / "autograder" / "timings").is_dir() else []),
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
        env = {"PATH": os.environ.get("PATH", "")}
        if self._group is not None and self._group.unit:  # systemd-run --user finds the user's manager by these
            env.update({k: os.environ[k] for k in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS") if k in os.environ})
        await super()._async_launch_kernel(kernel_cmd, env=env, **kw)

    def seal(self) -> None:
        """Once the kernel has made its sockets, its runtime folder (the host's, shared for the
        Unix sockets) becomes immutable: the sandbox can no longer write a byte into it."""
        _chattr("+i", self._runtime)

    async def _async_cleanup_resources(self, restart=False):
        _chattr("-i", self._runtime)
        await super()._async_cleanup_resources(restart=restart)
        if self._group is not None:
            self._group.kill()
        self._group = None
        if not restart:
            shutil.rmtree(self._runtime, ignore_errors=True)


def _chattr(flag: str, folder: Path) -> None:
    """chattr on a folder and its files, where the machine allows it (root, ext4/xfs/tmpfs)."""
    if shutil.which("chattr") and folder.exists():
        paths = [folder, *folder.iterdir()] if flag == "+i" else [folder]
        if flag == "+i":
            paths = [p for p in paths if not p.is_socket()]
        subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
        if flag == "-i":
            subprocess.run(["chattr", "-R", flag, str(folder)], capture_output=True)


# --- where a sandbox's group can be made ------------------------------------------------------------------

@dataclass
class Layout:
    """How this machine caps a sandbox: the kind of group, and the folders its groups are made in."""
    kind: str                                             # "cgroup2", "systemd" or "cgroup1"
    bases: dict[str, Path] = field(default_factory=dict)  # cgroup2 {"": parent}; cgroup1 {controller: parent}
    memory: bool = False                                  # memory is capped too
    user: bool = False                                    # systemd: the user's manager (--user)

    def describe(self) -> str:
        if self.kind == "systemd":
            return "systemd scopes" + (" of the user's manager" if self.user else "")
        return f"{self.kind} under " + ", ".join(str(p) for p in self.bases.values())


def cgroup_fs() -> Path:
    return Path(os.environ.get(FS_ENV) or "/sys/fs/cgroup")


def _own_cgroups() -> dict[str, str]:
    """This process's group in each hierarchy: {"": its cgroup v2 path, "pids": ..., "memory": ...}."""
    own = {}
    try:
        lines = PROC_SELF_CGROUP.read_text().splitlines()
    except OSError:
        return own
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for name in parts[1].split(","):
                own[name] = parts[2]
    return own


def _under(root: Path, path: str) -> Path:
    return root / path.strip("/") if path.strip("/") else root


def _tokens(path: Path) -> set[str]:
    """The controllers a cgroup.controllers or cgroup.subtree_control file names ('+' dropped)."""
    return {t.lstrip("+") for t in path.read_text().split()}


def _tokens_or_none(path: Path) -> set[str]:
    try:
        return _tokens(path)
    except OSError:
        return set()


def _v2_mount(fs: Path) -> Path | None:
    """The cgroup v2 hierarchy: ``fs`` itself (unified), or ``fs/unified`` (systemd's hybrid layout)."""
    for path in (fs, fs / "unified"):
        if (path / "cgroup.controllers").is_file():
            return path
    return None


def _v2_base(group: Path, required=("pids",), optional=("memory",)) -> tuple[Path | None, str]:
    """``group`` made a parent of sandboxes' groups: ``required`` controllers (and those of ``optional``
    it is offered) given to its children. (None, why not) when that cannot be done."""
    try:
        offered = _tokens(group / "cgroup.controllers")
        enabled = _tokens(group / "cgroup.subtree_control")
    except OSError as err:
        return None, f"{group} is not a cgroup v2 group ({err.strerror})"
    missing = [c for c in required if c not in offered]
    if missing:
        return None, f"cgroup v2 group {group} is not given the {'/'.join(missing)} controller"
    want = [c for c in (*required, *optional) if c in offered]
    if set(want) <= enabled:
        return group, ""
    if (group / "cgroup.type").exists():
        # not the root: cgroup v2 allows no process in a group that gives controllers to its children
        try:
            procs = {int(p) for p in (group / "cgroup.procs").read_text().split()}
        except OSError as err:
            return None, f"cgroup v2 group {group}: cannot read its processes ({err.strerror})"
        me = os.getpid()
        if procs - {me}:
            return None, (f"cgroup v2 group {group} holds {len(procs - {me})} process(es) besides the grader, so "
                          "it cannot give controllers to child groups: start the grader in a group of its own "
                          f"(systemd-run --user --scope -p Delegate=yes ...) or set ${ROOT_ENV}")
        if procs:
            leaf = group / f"{LEAF_PREFIX}{me}"
            try:
                leaf.mkdir(exist_ok=True)
                (leaf / "cgroup.procs").write_text(str(me))
            except OSError as err:
                return None, f"cgroup v2 group {group}: cannot move the grader into {leaf.name} ({err.strerror})"
    for give in (want, required):  # all in one write; else the required ones alone
        try:
            (group / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in give))
            return group, ""
        except OSError as err:
            reason = (f"cgroup v2 group {group}: cannot give {'/'.join(give)} to its children "
                      f"({err.strerror})")
    return None, reason


@lru_cache(maxsize=None)
def _systemd_probe(mount: str, user: bool) -> str:
    """'' when a transient systemd scope gets its TasksMax on this machine, else why not."""
    if not SYSTEMD_RUNNING.is_dir():
        return "systemd does not run this machine"
    run = shutil.which("systemd-run")
    if not run:
        return "systemd-run is not installed"
    show = 'cat "$0$(sed -n "s/^0:://p" /proc/self/cgroup)/pids.max"'
    try:
        proc = subprocess.run([run, *(["--user"] if user else []), "--scope", "--quiet", "--collect",
                               "-p", "TasksMax=97", "--", "sh", "-c", show, mount],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"systemd-run failed ({err})"
    if proc.stdout.strip() != "97":
        said = (proc.stderr.strip().splitlines() or [proc.stdout.strip() or f"exit {proc.returncode}"])[-1]
        return f"a systemd scope gets no TasksMax here ({said[:160]})"
    return ""


def _systemd_layout(mount: Path) -> tuple[Layout | None, str]:
    user = os.geteuid() != 0
    reason = _systemd_probe(str(mount), user)
    if reason:
        return None, reason
    return Layout("systemd", memory="memory" in _tokens_or_none(mount / "cgroup.controllers"), user=user), ""


def _v1_layout(fs: Path, own: dict[str, str]) -> tuple[Layout | None, str]:
    pids = fs / "pids"
    if not (pids / "cgroup.procs").is_file():
        return None, f"no cgroup v1 pids hierarchy at {pids}"
    bases = {"pids": _under(pids, own.get("pids", "/"))}
    if (fs / "memory" / "cgroup.procs").is_file():
        bases["memory"] = _under(fs / "memory", own.get("memory", "/"))
    return Layout("cgroup1", bases, memory="memory" in bases), ""


def find_layout() -> tuple[Layout | None, str]:
    """How this machine can cap a sandbox's processes, or (None, why not: one line)."""
    fs, own, why = cgroup_fs(), _own_cgroups(), []
    configured = os.environ.get(ROOT_ENV)
    if configured:  # the instructor's choice: that or nothing
        base, reason = _v2_base(Path(configured))
        if base is None:
            return None, f"${ROOT_ENV}: {reason}"
        return Layout("cgroup2", {"": base}, memory="memory" in _tokens_or_none(base / "cgroup.subtree_control")), ""
    mount = _v2_mount(fs)
    if mount is None:
        why.append(f"no cgroup v2 hierarchy at {fs}")
    else:
        if "" in own:
            group = _under(mount, own[""])
            if group.name.startswith(LEAF_PREFIX) and "pids" in _tokens_or_none(group.parent / "cgroup.subtree_control"):
                group = group.parent  # a grader's leaf: the sandboxes' groups are its siblings
            base, reason = _v2_base(group)
            if base is not None:
                memory = "memory" in _tokens_or_none(base / "cgroup.subtree_control")
                return Layout("cgroup2", {"": base}, memory=memory), ""
            why.append(reason + (" (it is bound to cgroup v1)" if mount != fs and "not given" in reason else ""))
        else:
            why.append("this process is in no cgroup v2 group")
        if "pids" in _tokens_or_none(mount / "cgroup.controllers"):
            layout, reason = _systemd_layout(mount)
            if layout is not None:
                return layout, ""
            why.append(reason)
    layout, reason = _v1_layout(fs, own)
    if layout is not None:
        return layout, ""
    why.append(reason)
    return None, "; ".join(why)


# --- one sandbox's group -----------------------------------------------------------------------------------

@dataclass
class Group:
    """One sandbox's cgroup(s) or systemd scope: entered before bubblewrap starts, killed at the end."""
    layout: Layout
    paths: list[Path]
    max_pids: int
    memory_bytes: int
    unit: str | None = None

    def prefix(self) -> list[str]:
        """The command that puts the sandbox into its group, then runs the rest of the command line."""
        if self.unit:
            props = [f"TasksMax={self.max_pids}", *([f"MemoryMax={self.memory_bytes}"] if self.layout.memory else [])]
            return [shutil.which("systemd-run") or "systemd-run", *(["--user"] if self.layout.user else []),
                    "--scope", "--quiet", "--collect", f"--unit={self.unit}",
                    *(a for p in props for a in ("-p", p)), "--"]
        enter = " && ".join(f"echo $$ > {shlex.quote(str(p / 'cgroup.procs'))}" for p in self.paths)
        return ["sh", "-c", f'{enter} && exec "$@"', "sh"]

    def kill(self) -> None:
        """Kill every process of the sandbox (background ones too), then remove its group."""
        if self.unit:
            _stop_scope(self.unit, self.layout.user)
        for path in self.paths:
            _kill_group(path)


def new_group(layout: Layout, max_pids: int, memory_bytes: int) -> Group:
    """A fresh group for one sandbox, its limits written (OSError when the machine refuses)."""
    name = f"{GROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
    if layout.kind == "systemd":
        return Group(layout, [], max_pids, memory_bytes, unit=f"{name}.scope")
    made: list[Path] = []
    try:
        for controller, base in layout.bases.items():
            group = base / name
            group.mkdir()
            made.append(group)
            if controller in ("", "pids"):
                (group / "pids.max").write_text(str(max_pids))
            if controller == "" and layout.memory:
                (group / "memory.max").write_text(str(memory_bytes))
                _try_write(group / "memory.swap.max", "0")
            if controller == "memory":
                (group / "memory.limit_in_bytes").write_text(str(memory_bytes))
                _try_write(group / "memory.memsw.limit_in_bytes", str(memory_bytes))
    except OSError:
        for group in made:
            _kill_group(group)
        raise
    return Group(layout, made, max_pids, memory_bytes)


def _try_write(path: Path, text: str) -> None:
    if path.exists():
        try:
            path.write_text(text)
        except OSError:
            pass


def sandbox_group(max_pids: int, memory_bytes: int) -> Group | None:
    """The group of a sandbox about to start. None only when ``$SEQMX_ALLOW_NO_PROCESS_LIMIT=1``
    and no group can be made; otherwise :class:`NoProcessLimit` says why (the kernel does not start)."""
    layout, reason = find_layout()
    if layout is not None:
        try:
            return new_group(layout, max_pids, memory_bytes)
        except OSError as err:
            reason = f"{layout.describe()}: cannot make the sandbox's group ({err.strerror})"
    if os.environ.get(ALLOW_ENV) == "1":
        return None  # allowed: RLIMIT_NPROC (prlimit) is the remaining limit, which does not bind root
    raise NoProcessLimit(f"no process limit for the sandbox: {reason} (set {ALLOW_ENV}=1, or grade with "
                         "--allow-no-process-limit, to run kernels without one)")


def require_process_limit(allow: bool = False) -> str:
    """Before grading: the way sandboxes are capped here. Without one, a UsageError saying why in one
    line, unless ``allow`` (then a warning on stderr, and kernels may start without a process limit)."""
    from autograder.course import UsageError

    if allow:
        os.environ[ALLOW_ENV] = "1"  # for the kernel managers in nbgrader's processes
    else:
        os.environ.pop(ALLOW_ENV, None)
    layout, reason = find_layout()
    if layout is not None:
        try:
            new_group(layout, 512, 1 << 30).kill()  # a trial: this machine lets us make and remove one
        except OSError as err:
            layout, reason = None, f"{layout.describe()}: cannot make a group ({err.strerror})"
    if layout is None:
        if not allow:
            raise UsageError(f"no process limit for the students' kernels: {reason}. Pass "
                             "--allow-no-process-limit to grade without one (RLIMIT_NPROC only, which does not "
                             "bind root)")
        print(f"warning: grading without a process limit: {reason}", file=sys.stderr)
        return "none"
    if layout.kind == "cgroup2":
        os.environ.setdefault(ROOT_ENV, str(layout.bases[""]))  # nbgrader's processes use the same parent
    return layout.describe()


def _kill_group(group: Path) -> None:
    """Kill whatever is left in a sandbox's cgroup (background processes), then remove it."""
    if (group / "cgroup.kill").exists():  # cgroup v2 (Linux 5.14+): every process at once
        try:
            (group / "cgroup.kill").write_text("1")
        except OSError:
            pass
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
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTEMPTY):  # gone, or a plain folder (not a cgroup)
                return
            time.sleep(0.05)


def _systemctl(user: bool, *args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["systemctl", *(["--user"] if user else []), *args], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _stop_scope(unit: str, user: bool) -> None:
    _systemctl(user, "kill", "--signal=SIGKILL", unit)
    _systemctl(user, "stop", unit)


# --- what a killed grader left ----------------------------------------------------------------------------

def clean_stale(root: Path = Path(tempfile.gettempdir())) -> None:
    """Remove what a killed grader left: runtime folders, scratch courses (autograder.parallel),
    cgroups and systemd scopes whose owner process is gone."""
    for prefix in ("seqmx-kernel-", "seqmx-grade-"):
        for folder in root.glob(prefix + "*"):
            if not _owner_alive(folder.name, prefix):
                _chattr("-i", folder)
                shutil.rmtree(folder, ignore_errors=True)
    for group in _stale_groups():
        if group.name.startswith(LEAF_PREFIX):
            try:
                group.rmdir()  # a dead grader's leaf, if nothing of it is left
            except OSError:
                pass
        else:
            _kill_group(group)
    if SYSTEMD_RUNNING.is_dir() and shutil.which("systemctl"):
        user = os.geteuid() != 0
        listed = _systemctl(user, "list-units", "--all", "--plain", "--no-legend", f"{GROUP_PREFIX}*.scope")
        for line in (listed.stdout.splitlines() if listed and listed.returncode == 0 else []):
            unit = line.split()[0] if line.split() else ""
            if unit.startswith(GROUP_PREFIX) and not _owner_alive(unit, GROUP_PREFIX):
                _stop_scope(unit, user)


def _stale_groups() -> list[Path]:
    """Every ``seqmx-*`` group of a dead owner, anywhere in the hierarchies a sandbox may use."""
    fs = cgroup_fs()
    tops = [Path(p) for p in (os.environ.get(ROOT_ENV), _v2_mount(fs), fs / "pids", fs / "memory") if p]
    found, seen = [], set()
    for top in tops:
        if not top.is_dir() or top in seen:
            continue
        seen.add(top)
        for folder, subs, _ in os.walk(top):
            mine = [s for s in subs if s.startswith(GROUP_PREFIX)]
            subs[:] = [s for s in subs if not s.startswith(GROUP_PREFIX)]  # nothing of ours nests
            for name in mine:
                prefix = LEAF_PREFIX if name.startswith(LEAF_PREFIX) else GROUP_PREFIX
                if not _owner_alive(name, prefix):
                    found.append(Path(folder) / name)
    return found


def _owner_alive(name: str, prefix: str) -> bool:
    """Whether the process whose pid follows ``prefix`` in ``name`` still runs (True if unknown)."""
    try:
        pid = int(name[len(prefix):].split("-", 1)[0].split(".", 1)[0])
        os.kill(pid, 0)
    except ValueError:
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
