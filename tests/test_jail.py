"""The jail's cgroups (autograder/jail.py): each sandbox capped in processes and memory on every layout.

What runs where (this machine mounts cgroup v1 pids and memory hierarchies, and a cgroup v2 hierarchy at
/sys/fs/cgroup/unified whose only controller is hugetlb: pids and memory are bound to v1, so no cgroup v2
here can cap processes):

- cgroup v1, the real kernel: the layout found, the group's files, a fork bomb and a memory hog in a
  sandboxed kernel held by their group (each beside a control run without a group, which is not held);
- cgroup v2, the real kernel, with hugetlb standing in for pids: the grader moving itself into a leaf so
  that its group may give controllers to children (no internal processes), the refusal when another
  process shares its group, the sandbox entering its group, cgroup.kill, removal, and stale groups;
- cgroup v2, a fake cgroupfs made of plain files: the pids.max and memory.max written, subtree_control,
  the leaf, a configured root, and a grader's leaf recognised by its nbgrader processes;
- no cgroup at all (SEQMX_CGROUP_FS at an empty folder): ``grade`` refuses in one line, and with
  ``--allow-no-process-limit`` it grades; a kernel manager alone refuses to start.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO, env_for, make_course

from autograder import jail

V1_PIDS = Path("/sys/fs/cgroup/pids")
UNIFIED = Path("/sys/fs/cgroup/unified")
PS = "ps01-language-models"


def _is_v1_host() -> bool:
    return (V1_PIDS / "cgroup.procs").is_file() and not Path("/sys/fs/cgroup/cgroup.controllers").exists()


v1_only = pytest.mark.skipif(not _is_v1_host() or os.geteuid() != 0,
                             reason="needs a cgroup v1 pids hierarchy, as root")


def _cgroup_mount_at(folder: Path, monkeypatch) -> Path:
    """The jail's cgroup mount point moved to an empty ``folder``, with no root or allowance set."""
    folder.mkdir()
    monkeypatch.setenv(jail.FS_ENV, str(folder))
    monkeypatch.delenv(jail.ROOT_ENV, raising=False)
    monkeypatch.delenv(jail.ALLOW_ENV, raising=False)
    return folder


@pytest.fixture
def no_cgroups(tmp_path, monkeypatch):
    """A machine with no cgroup at all: the mount point is an empty folder."""
    return _cgroup_mount_at(tmp_path / "no-cgroupfs", monkeypatch)


def execute(cells: list[str], **limits) -> list[list[tuple]]:
    """Run cells in sandboxed kernels (SandboxedExecute); [(ename or None, evalue or text)] per cell."""
    from nbformat.v4 import new_code_cell, new_notebook

    from autograder.executor import SandboxedExecute

    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    SandboxedExecute(**limits).preprocess(nb, {"metadata": {"path": str(REPO)}})
    return [[(o.get("ename"), o.get("evalue") if "ename" in o else o.get("text", "")) for o in c.outputs]
            for c in nb.cells]


# --- cgroup v1, the real kernel ------------------------------------------------------------------------------

@v1_only
def test_this_machine_caps_sandboxes_with_cgroup_v1(monkeypatch):
    monkeypatch.delenv(jail.ROOT_ENV, raising=False)
    layout, reason = jail.find_layout()
    assert layout is not None and layout.kind == "cgroup1", reason
    assert layout.bases["pids"].is_relative_to(V1_PIDS) and layout.memory
    # the unified hierarchy is there but cannot cap processes: it is not taken for a usable cgroup v2
    assert "pids" not in jail._tokens(UNIFIED / "cgroup.controllers")


@v1_only
def test_a_v1_group_has_its_limits_and_goes_with_its_processes(monkeypatch):
    monkeypatch.delenv(jail.ROOT_ENV, raising=False)
    layout, _ = jail.find_layout()
    group = jail.new_group(layout, 77, 300 << 20)
    pids, memory = group.paths
    try:
        assert (pids / "pids.max").read_text().strip() == "77"
        assert int((memory / "memory.limit_in_bytes").read_text()) == 300 << 20
        # a process that forks a daemon of its own session: both in the group, both killed with it
        proc = subprocess.Popen([*group.prefix(), "sh", "-c", "setsid sleep 301 & exec sleep 302"])
        members = _wait_for_members(pids, 2)
        assert set(members) == set(_members(memory)) and proc.pid in members
    finally:
        group.kill()
    proc.wait(timeout=10)
    assert not pids.exists() and not memory.exists()
    assert not [p for p in members if _alive(p)]


@v1_only
@pytest.mark.slow
def test_a_fork_bomb_in_a_sandboxed_kernel_is_held_by_its_cgroup(monkeypatch):
    """1024 processes asked for (each process forks ten times); the sandbox holds fewer than max_pids.
    The kernel runs as root, where RLIMIT_NPROC does not bind: only the cgroup holds it."""
    monkeypatch.delenv(jail.ROOT_ENV, raising=False)
    assert jail.find_layout()[0].kind == "cgroup1"
    (out,) = execute([FORK_BOMB], timeout=60)
    processes = int(out[0][1].split()[0])
    assert 16 < processes < 512, out  # max_pids is 512, the kernel's threads count too


@pytest.mark.slow
def test_without_a_cgroup_the_same_fork_bomb_is_not_held(no_cgroups, monkeypatch):
    """The control of the test above: allowed to run without a group, the sandbox gets all 1024."""
    if os.geteuid() != 0:
        pytest.skip("as a user RLIMIT_NPROC (512) holds it too")
    monkeypatch.setenv(jail.ALLOW_ENV, "1")
    (out,) = execute([FORK_BOMB], timeout=60)
    assert int(out[0][1].split()[0]) >= 1024, out


FORK_BOMB = textwrap.dedent("""\
    import os, time
    first = os.getpid()
    for _ in range(10):
        try:
            os.fork()
        except OSError:
            pass
    if os.getpid() != first:
        time.sleep(60)
        os._exit(0)
    counts = []  # until all 1024 are there, or the count has not moved for 2 s (the limit), 40 s at most
    while len(counts) < 80 and (not counts or counts[-1] < 1024) and (len(counts) < 4 or len(set(counts[-4:])) > 1):
        time.sleep(0.5)
        counts.append(sum(name.isdigit() for name in os.listdir('/proc')))
    print(counts[-1], 'processes in the sandbox')
    """)
HOG = "hog = b'x' * (600 << 20)\nprint('allocated')"


@v1_only
@pytest.mark.slow
def test_the_memory_of_a_sandbox_is_capped_by_its_cgroup(monkeypatch):
    """600 MB written in a sandbox of 256 MB: its kernel dies (well inside prlimit's address space)."""
    from traitlets.config import Config

    monkeypatch.delenv(jail.ROOT_ENV, raising=False)
    config = Config({"SandboxKernelManager": {"sandbox_memory_bytes": 256 << 20}})
    (out,) = execute([HOG], timeout=60, config=config)
    assert out[0][0] == "GradingLimit" and out[0][1].startswith("the kernel died"), out


@pytest.mark.slow
def test_without_a_cgroup_the_same_memory_hog_runs(no_cgroups, monkeypatch):
    from traitlets.config import Config

    monkeypatch.setenv(jail.ALLOW_ENV, "1")
    config = Config({"SandboxKernelManager": {"sandbox_memory_bytes": 256 << 20}})
    assert execute([HOG], timeout=60, config=config) == [[(None, "allocated\n")]]


# --- no cgroup: refused unless allowed ---------------------------------------------------------------------

def test_a_kernel_without_a_process_limit_does_not_start(no_cgroups):
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob(f"seqmx-kernel-{os.getpid()}-*"))
    with pytest.raises(jail.NoProcessLimit, match="no process limit for the sandbox: no cgroup v2 hierarchy"):
        execute(["print('ran')"], timeout=30)
    # and it leaves no runtime folder behind
    assert set(Path(tempfile.gettempdir()).glob(f"seqmx-kernel-{os.getpid()}-*")) == before


def test_allowed_a_kernel_runs_without_a_process_limit(no_cgroups, monkeypatch):
    monkeypatch.setenv(jail.ALLOW_ENV, "1")
    assert jail.sandbox_group(512, 1 << 30) is None
    assert execute(["print('ran')"], timeout=30) == [[(None, "ran\n")]]


def _grade(course: Path, folder: Path, empty: Path, *flags: str) -> subprocess.CompletedProcess:
    env = dict(env_for(course), **{jail.FS_ENV: str(empty)})
    for name in (jail.ROOT_ENV, jail.ALLOW_ENV):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "autograder", "grade", PS, str(folder), *flags], cwd=course,
                          env=env, capture_output=True, text=True, timeout=1800)


def _one_student(tmp_path: Path) -> Path:
    folder = tmp_path / "class" / "alice"
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / PS / "positions.ipynb", folder / f"{PS}.ipynb")
    return folder.parent


def test_grade_refuses_in_one_line_without_a_process_limit(tmp_path, no_cgroups):
    course = make_course(tmp_path / "course")
    proc = _grade(course, _one_student(tmp_path), no_cgroups)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autograder grade: error: no process limit"), proc.stderr
    assert "--allow-no-process-limit" in lines[0] and f"no cgroup v1 pids hierarchy at {no_cgroups}" in lines[0]
    assert not (course / "submitted").exists()  # refused before anything was staged


@pytest.mark.slow
def test_grade_with_allow_no_process_limit_grades_without_one(tmp_path, no_cgroups):
    """The flag reaches the kernel managers in nbgrader's processes: without it they would not start."""
    course = make_course(tmp_path / "course")
    proc = _grade(course, _one_student(tmp_path), no_cgroups, "--allow-no-process-limit")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "1 of 1 submissions graded" in proc.stdout
    assert "warning: grading without a process limit" in proc.stderr


# --- cgroup v2, a fake cgroupfs of plain files ---------------------------------------------------------------

def _fake_v2(root: Path, own: str, procs: list[int], controllers="cpu memory pids") -> Path:
    """A cgroup v2 tree of plain files, with this process's group at ``own``."""
    (root / "cgroup.controllers").parent.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text(controllers + "\n")
    group = root / own.strip("/")
    group.mkdir(parents=True, exist_ok=True)
    for name, text in (("cgroup.type", "domain"), ("cgroup.controllers", controllers),
                       ("cgroup.subtree_control", ""), ("cgroup.procs", "".join(f"{p}\n" for p in procs))):
        (group / name).write_text(text + ("\n" if text and not text.endswith("\n") else ""))
    return group


@pytest.fixture
def fake_fs(tmp_path, monkeypatch):
    fs = _cgroup_mount_at(tmp_path / "cgroupfs", monkeypatch)
    proc_file = tmp_path / "proc-self-cgroup"
    monkeypatch.setattr(jail, "PROC_SELF_CGROUP", proc_file)

    class Fake(type(fs)):
        def place(self, own: str) -> None:
            """This process's cgroup v2 group, as /proc/self/cgroup would say."""
            proc_file.write_text(f"0::{own}\n")
    return Fake(fs)


def test_fake_v2_a_grader_alone_in_its_group_moves_into_a_leaf(fake_fs):
    me = os.getpid()
    grading = _fake_v2(fake_fs, "/grading", [me])
    fake_fs.place("/grading")
    layout, reason = jail.find_layout()
    assert layout is not None and layout.kind == "cgroup2" and layout.bases == {"": grading}, reason
    assert layout.memory
    assert (grading / f"seqmx-grader-{me}" / "cgroup.procs").read_text() == str(me)
    assert jail._tokens(grading / "cgroup.subtree_control") == {"pids", "memory"}
    group = jail.new_group(layout, 77, 123456)
    (path,) = group.paths
    assert path.parent == grading and path.name.startswith(f"seqmx-{me}-")
    assert (path / "pids.max").read_text() == "77" and (path / "memory.max").read_text() == "123456"
    # the command's process is the one that entered the group (sh writes its pid, then execs the command)
    shown = subprocess.run([*group.prefix(), "sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    assert (path / "cgroup.procs").read_text().strip() == shown.stdout.strip()
    # the grader's nbgrader processes, in its leaf, make their sandboxes beside it, not inside it
    fake_fs.place(f"/grading/seqmx-grader-{me}")
    assert jail.find_layout()[0].bases == {"": grading}


def test_fake_v2_a_group_shared_with_other_processes_is_refused(fake_fs):
    grading = _fake_v2(fake_fs, "/session", [os.getpid(), 1])
    fake_fs.place("/session")
    layout, reason = jail.find_layout()
    assert layout is None and "holds 1 process(es) besides the grader" in reason, reason
    assert "no cgroup v1 pids hierarchy" in reason
    assert not list(grading.glob("seqmx-grader-*")) and (grading / "cgroup.subtree_control").read_text() == ""
    with pytest.raises(jail.NoProcessLimit):
        jail.sandbox_group(512, 1 << 30)


def test_fake_v2_without_the_pids_controller_there_is_no_limit(fake_fs):
    _fake_v2(fake_fs, "/grading", [os.getpid()], controllers="cpu memory")
    fake_fs.place("/grading")
    layout, reason = jail.find_layout()
    assert layout is None and "is not given the pids controller" in reason, reason


def test_fake_v2_the_memory_controller_is_optional(fake_fs):
    grading = _fake_v2(fake_fs, "/grading", [], controllers="pids")
    fake_fs.place("/grading")
    layout, _ = jail.find_layout()
    assert layout.kind == "cgroup2" and not layout.memory
    (path,) = jail.new_group(layout, 9, 1 << 30).paths
    assert (path / "pids.max").read_text() == "9" and not (path / "memory.max").exists()
    assert not list(grading.glob("seqmx-grader-*"))  # an empty group needs no leaf


def test_fake_v2_a_configured_root_is_used_and_nothing_else(fake_fs, tmp_path, monkeypatch):
    delegated = _fake_v2(tmp_path / "elsewhere", "/course", [])
    monkeypatch.setenv(jail.ROOT_ENV, str(delegated))
    layout, _ = jail.find_layout()
    assert layout.kind == "cgroup2" and layout.bases == {"": delegated} and layout.memory
    monkeypatch.setenv(jail.ROOT_ENV, str(tmp_path / "missing"))
    layout, reason = jail.find_layout()
    assert layout is None and reason.startswith(f"${jail.ROOT_ENV}: ") and "not a cgroup v2 group" in reason


def test_fake_v2_grade_hands_the_parent_to_nbgraders_processes(fake_fs, monkeypatch):
    grading = _fake_v2(fake_fs, "/grading", [os.getpid()])
    fake_fs.place("/grading")
    monkeypatch.setenv(jail.ALLOW_ENV, "1")  # require without allow clears it
    assert jail.require_process_limit(allow=False) == f"cgroup2 under {grading}"
    assert os.environ[jail.ROOT_ENV] == str(grading) and jail.ALLOW_ENV not in os.environ


def test_require_process_limit_refuses_or_warns(no_cgroups, capsys):
    from autograder.course import UsageError

    with pytest.raises(UsageError, match="no process limit for the students' kernels"):
        jail.require_process_limit(allow=False)
    assert jail.require_process_limit(allow=True) == "none"
    assert os.environ[jail.ALLOW_ENV] == "1"
    assert "warning: grading without a process limit" in capsys.readouterr().err


# --- cgroup v2, the real kernel (hugetlb stands in for pids, which is bound to v1 here) -------------------

@pytest.fixture
def v2_scratch():
    """A group of the real cgroup v2 hierarchy, which children may be given hugetlb."""
    if os.geteuid() != 0 or "hugetlb" not in jail._tokens_or_none(UNIFIED / "cgroup.controllers"):
        pytest.skip("needs root and the real cgroup v2 hierarchy at /sys/fs/cgroup/unified with hugetlb")
    enabled_here = "hugetlb" not in jail._tokens(UNIFIED / "cgroup.subtree_control")
    if enabled_here:
        (UNIFIED / "cgroup.subtree_control").write_text("+hugetlb")
    top = UNIFIED / f"jailtest-{uuid.uuid4().hex[:8]}"
    top.mkdir()
    yield top
    for folder, subs, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
        jail._kill_group(Path(folder))
    if top.exists():
        jail._kill_group(top)
    if enabled_here:
        try:
            (UNIFIED / "cgroup.subtree_control").write_text("-hugetlb")
        except OSError:
            pass


CHILD = """
import json, os, sys
from pathlib import Path
from autograder import jail
group = Path(sys.argv[1])
(group / "cgroup.procs").write_text(str(os.getpid()))   # the grader, alone in its group
if sys.argv[2] == "direct":
    try:
        (group / "cgroup.subtree_control").write_text("+hugetlb")
        print(json.dumps({"error": None}))
    except OSError as err:
        print(json.dumps({"error": err.errno}))
    sys.exit()
base, reason = jail._v2_base(group, required=("hugetlb",), optional=())
print(json.dumps({"base": str(base) if base else None, "reason": reason, "pid": os.getpid(),
                  "own": Path("/proc/self/cgroup").read_text().splitlines()[-1]}))
"""


def _child(group: Path, mode: str = "leaf") -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(group), mode], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_real_v2_the_kernel_allows_no_process_in_a_group_that_gives_controllers(v2_scratch):
    """The rule the leaf is for: a grader that enables a controller for children of its own group fails."""
    assert _child(v2_scratch, "direct") == {"error": errno.EBUSY}


def test_real_v2_a_grader_alone_moves_into_a_leaf_and_gives_the_controller(v2_scratch):
    found = _child(v2_scratch)
    assert found["base"] == str(v2_scratch) and found["reason"] == "", found
    assert found["own"] == f"0::/{v2_scratch.name}/seqmx-grader-{found['pid']}"
    assert "hugetlb" in jail._tokens(v2_scratch / "cgroup.subtree_control")
    sandbox = v2_scratch / "seqmx-sandbox"
    sandbox.mkdir()
    assert "hugetlb" in jail._tokens(sandbox / "cgroup.controllers")  # what the sandboxes get
    # and a dead grader's empty leaf is removed by the next run
    jail.clean_stale(root=v2_scratch / "no-such-tmp")
    assert not (v2_scratch / f"seqmx-grader-{found['pid']}").exists()


def test_real_v2_a_group_shared_with_another_process_is_refused(v2_scratch):
    other = subprocess.Popen(["sleep", "300"])
    try:
        (v2_scratch / "cgroup.procs").write_text(str(other.pid))
        found = _child(v2_scratch)
        assert found["base"] is None and "holds 1 process(es) besides the grader" in found["reason"], found
        assert "hugetlb" not in jail._tokens(v2_scratch / "cgroup.subtree_control")
        assert not list(v2_scratch.glob("seqmx-grader-*"))
    finally:
        other.kill()
        other.wait()


def test_real_v2_a_sandbox_enters_its_group_and_cgroup_kill_ends_all_of_it(v2_scratch):
    path = v2_scratch / f"seqmx-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    group = jail.Group(jail.Layout("cgroup2", {"": v2_scratch}), [path], 512, 1 << 30)
    # a sleeper, a daemon in a session of its own, and a process that ignores SIGTERM and SIGHUP
    script = "setsid sleep 301 & (trap '' TERM HUP; exec sleep 303) & exec sleep 302"
    proc = subprocess.Popen([*group.prefix(), "sh", "-c", script])
    members = _wait_for_members(path, 3)
    assert proc.pid in members
    group.kill()
    proc.wait(timeout=10)
    assert not path.exists()
    assert not [p for p in members if _alive(p)]


def test_real_v2_clean_stale_removes_a_dead_graders_group_and_keeps_a_live_ones(v2_scratch):
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale, live = v2_scratch / f"seqmx-{gone.pid}-0123456789ab", v2_scratch / f"seqmx-{os.getpid()}-0123456789ab"
    stale.mkdir(), live.mkdir()
    left = subprocess.Popen(["sleep", "300"])  # what the killed grader's sandbox left running
    (stale / "cgroup.procs").write_text(str(left.pid))
    jail.clean_stale(root=v2_scratch / "no-such-tmp")
    left.wait(timeout=10)
    assert left.returncode == -signal.SIGKILL
    assert not stale.exists() and live.exists()


def _members(group: Path) -> list[int]:
    return [int(p) for p in (group / "cgroup.procs").read_text().split()]


def _wait_for_members(group: Path, count: int) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        members = _members(group)
        if len(members) >= count:
            return members
        time.sleep(0.05)
    raise AssertionError(f"{group}: {_members(group)} (expected {count} processes)")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
