"""Benchmark: a cold book build against a rebuild with nothing changed (issue 6), side by side in one run.

Usage: python bench/book_build.py [--touch CHAPTER] [--keep] [--report bench/reports/book-build.md]

Copies the repository's tracked files (``git ls-files``, as they are in the
working tree: data/, exercises/source, autograder/, seqmx/, _ext/ included)
into a temporary folder, so the build starts with no ``_build/`` at all and the
user's own ``_build/`` is never touched, then runs the build command of the
Makefile, ``jupyter-book build <copy> -W -n --keep-going``:

1. cold: every chapter executed, every problem set released;
2. nothing changed: the same command again; every chapter must come from the
   execution cache (``_build/.jupyter_cache``);
3. with ``--touch CHAPTER``: a blank line appended to ``chapters/CHAPTER.md``
   (the cache hashes code cells only, so nothing should execute), then a code
   cell appended to it (that chapter alone should execute).

For each build: wall time, CPU time of the build and everything it waited for
(children rusage: Sphinx, the kernels, the release subprocess), and how many
notebooks it executed, counted twice: the cache records it added (jupyter-cache
adds one per executed notebook) and myst-nb's "Executed notebook" log lines.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).parent / "jupyter-book"
# the test command `python bench/book_build.py` is run with the venv's python: its prefix is the venv
VENV = Path(sys.prefix)
PACKAGES = ("jupyter-book", "myst-nb", "jupyter-cache", "sphinx", "mxnet", "d2l", "numpy")


@dataclass
class Build:
    case: str
    wall_s: float
    cpu_s: float  # user + system of the build's process tree (waited-for children)
    executed_records: list[str]  # chapters whose cache record is new: executed by this build
    executed_log: int  # myst-nb's "Executed notebook in" lines
    cached_log: int  # myst-nb's "Using cached notebook" lines
    pages_read: int  # pages Sphinx (re)read: added + changed, from "updating environment:"
    returncode: int
    load: tuple[float, float]  # 1-minute load average at start and end


def copy_tree(dest: Path) -> None:
    """The tracked files as they are now (uncommitted edits included, deleted files skipped)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        src = REPO / name
        if name and src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def cache_records(book: Path) -> dict[int, str]:
    """Record id -> notebook path of the book's execution cache (empty before the first build)."""
    path = book / "_build" / ".jupyter_cache"
    if not path.is_dir():
        return {}
    from jupyter_cache import get_cache

    return {r.pk: Path(r.uri).stem for r in get_cache(path).list_cache_records()}


def execution_seconds(cache: Path) -> dict[str, float]:
    """Chapter -> seconds its notebook took to execute, as jupyter-cache recorded it (a cache folder such
    as ``_build/.jupyter_cache``, or a JSON file of the same mapping)."""
    if cache.suffix == ".json":
        return json.loads(cache.read_text())
    from jupyter_cache import get_cache
    return {Path(r.uri).stem: float(r.data["execution_seconds"]) for r in get_cache(cache).list_cache_records()
            if "execution_seconds" in (r.data or {})}


def chapter_table(chapters: dict[str, float], before: dict[str, float]) -> list[str]:
    """Markdown rows of each chapter's execution seconds, slowest first, with a 'before' column if given."""
    rows = (["| chapter | before s | now s |", "| --- | ---: | ---: |"] if before else
            ["| chapter | s |", "| --- | ---: |"])
    for name, secs in sorted(chapters.items(), key=lambda kv: -kv[1]):
        was = (f"{before[name]:.1f} | " if name in before else "| ") if before else ""
        rows.append(f"| {name} | {was}{secs:.1f} |")
    if chapters:
        slowest = max(chapters, key=chapters.get)
        rows += ["", f"Slowest chapter: {slowest} {chapters[slowest]:.1f} s; all {len(chapters)} together "
                 f"{sum(chapters.values()):.0f} s" + (f" (before: {sum(before.values()):.0f} s)." if before else ".")]
    return rows


def build(book: Path, case: str, log: Path) -> Build:
    env = dict(os.environ, MPLCONFIGDIR=str(VENV / "matplotlib"))
    # the copy's seqmx and autograder (and through them its data/) rather than the editable install's,
    # which points at the repository: PYTHONPATH comes before setuptools' editable finder
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(book), env.get("PYTHONPATH")]))
    before = cache_records(book)
    load0 = os.getloadavg()[0]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run([str(JB), "build", str(book), "-W", "-n", "--keep-going"],
                              cwd=book, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=3 * 3600)
    wall = time.perf_counter() - start
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = cache_records(book)
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))  # Sphinx colours its log
    read = re.search(r"updating environment: (?:\[.*?\] )?(\d+) added, (\d+) changed", text)
    return Build(case=case, wall_s=wall,
                 cpu_s=(ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
                 executed_records=sorted(after[pk] for pk in after.keys() - before.keys()),
                 executed_log=text.count("Executed notebook in"),
                 cached_log=text.count("Using cached notebook"),
                 pages_read=int(read[1]) + int(read[2]) if read else -1,
                 returncode=proc.returncode, load=(load0, os.getloadavg()[0]))


def minutes(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {s % 60:.0f} s"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--touch", metavar="CHAPTER", help="also time rebuilds after editing chapters/CHAPTER.md")
    p.add_argument("--keep", action="store_true", help="keep the temporary copy and the build logs")
    p.add_argument("--report", help="write the markdown report here (e.g. bench/reports/book-build.md)")
    p.add_argument("--before", type=Path, metavar="CACHE",
                   help="another build's execution cache (its _build/.jupyter_cache) or a JSON of chapter -> "
                        "seconds: its chapter times go in a 'before' column")
    args = p.parse_args()
    before = execution_seconds(args.before) if args.before else {}
    command = shlex.join(["python", "bench/book_build.py", *sys.argv[1:]])
    started = datetime.now(timezone.utc)
    load_start = os.getloadavg()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="seqmx-book-bench-"))
    book = tmp / "book"
    book.mkdir()
    copy_tree(book)
    if args.touch and not (book / "chapters" / f"{args.touch}.md").is_file():
        raise SystemExit(f"no chapter chapters/{args.touch}.md")
    builds: list[Build] = []

    def run(case: str) -> None:
        b = build(book, case, tmp / f"build-{len(builds) + 1}.log")
        builds.append(b)
        print(f"{case}: {b.wall_s:.1f} s wall, {b.cpu_s:.1f} s CPU, executed {len(b.executed_records)} "
              f"notebooks (log: {b.executed_log} executed, {b.cached_log} cached), {b.pages_read} pages read, "
              f"exit {b.returncode}",
              flush=True)

    try:
        run("cold (fresh copy, no _build/)")
        chapters = execution_seconds(book / "_build" / ".jupyter_cache")
        run("nothing changed")
        if args.touch:
            md = book / "chapters" / f"{args.touch}.md"
            with open(md, "a") as f:
                f.write("\n")
            run(f"blank line appended to {args.touch}.md")
            with open(md, "a") as f:
                f.write("\n```{code-cell} ipython3\n# benchmark: a code cell appended\n```\n")
            run(f"code cell appended to {args.touch}.md")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    load_end = os.getloadavg()
    cold, warm = builds[0], builds[1]
    rows = [f"| {b.case} | {b.wall_s:.1f} | {b.cpu_s:.1f} | {len(b.executed_records)} "
            f"({', '.join(b.executed_records) or 'none'}) | {b.executed_log} / {b.cached_log} | {b.pages_read} | "
            f"{b.load[0]:.2f} → {b.load[1]:.2f} | {b.returncode} |" for b in builds]
    failed = [b.case for b in builds if b.returncode]
    zero = not warm.executed_records and warm.executed_log == 0
    verdict = (f"The rebuild with nothing changed executed {'no' if zero else 'SOME'} notebooks "
               f"({len(warm.executed_records)} new cache records, {warm.executed_log} \"Executed notebook\" "
               f"log lines)" + (": Sphinx found no page out of date and read none, so the execution cache was "
                                "not even consulted." if warm.pages_read == 0 else
                                f"; {warm.pages_read} pages read, {warm.cached_log} chapters from the cache."))
    headline = (f"Headline: book build cold {minutes(cold.wall_s)} wall ({cold.cpu_s:.0f} s CPU), rebuild with "
                f"nothing changed {minutes(warm.wall_s)} ({warm.cpu_s:.1f} s CPU): "
                f"{cold.wall_s / warm.wall_s:.0f}x faster, {len(warm.executed_records)} notebooks executed.")
    lines = [
        "# Book build: cold against nothing changed",
        "",
        headline,
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores (load average "
        f"{' '.join(f'{x:.2f}' for x in load_start)} at start, {' '.join(f'{x:.2f}' for x in load_end)} at end; "
        "the machine is shared with other jobs, so these times are upper bounds), Python "
        f"{platform.python_version()}, {', '.join(f'{n} {version(n)}' for n in PACKAGES)}, repository at "
        f"{head} (working tree), by `{command}`.",
        "",
        "Each build is `jupyter-book build <copy> -W -n --keep-going` (the Makefile's) on a copy of the "
        "tracked files in a temporary folder; CPU is user + system time of the build and every process it "
        "waited for (kernels, the problem-set release). Executed: the execution-cache records the build "
        "added; log: myst-nb's \"Executed notebook\" / \"Using cached notebook\" lines; pages read: what "
        "Sphinx found out of date (\"updating environment: N added, M changed\").",
        "",
        "| build | wall s | CPU s | executed | log executed / cached | pages read | load (1 min) | exit |",
        "| --- | ---: | ---: | --- | --- | ---: | --- | ---: |",
        *rows,
        "",
        f"Cold / nothing changed: {cold.wall_s / warm.wall_s:.1f}x wall time, "
        f"{cold.cpu_s / warm.cpu_s:.1f}x CPU time. {verdict}",
    ]
    if args.touch:
        blank, code = builds[2], builds[3]
        lines[-1] += (f" The blank line makes Sphinx read {args.touch} again ({blank.pages_read} pages read) but "
                      "leaves its code cells, the only cells jupyter-cache hashes, as they were: "
                      f"{len(blank.executed_records)} executed, {blank.cached_log} from the cache; the appended "
                      f"code cell executes {', '.join(code.executed_records) or 'nothing'}.")
    lines += ["", "Chapters' execution in the cold build (seconds, as jupyter-cache recorded them), slowest "
              "first" + (f"; before: `{args.before}`" if before else "") + ":", "",
              *chapter_table(chapters, before)]
    if failed:
        lines += ["", f"**Failed builds** (non-zero exit): {', '.join(failed)}."]
    print("\n".join(lines))
    if args.report:
        report = Path(args.report)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("\n".join(lines) + "\n")
        print(f"wrote {report}")
    if args.keep:
        print(f"kept {tmp} (build logs build-N.log)")
    return 1 if failed or not zero else 0


if __name__ == "__main__":
    sys.exit(main())
