"""bench/book_build.py: each chapter's execution time, read from the build's execution cache."""
import importlib.util
import json
import sys
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

# under its own name: "book_build" is the tests' book-building plugin (tests/book_build.py)
_spec = importlib.util.spec_from_file_location("bench_book_build",
                                               Path(__file__).resolve().parents[1] / "bench" / "book_build.py")
book_build = importlib.util.module_from_spec(_spec)
sys.modules["bench_book_build"] = book_build  # its dataclass looks its module up there
_spec.loader.exec_module(book_build)


def test_chapter_times_are_read_from_the_execution_cache(tmp_path):
    cache = get_cache(tmp_path / "cache")
    for name, secs, code in (("lstm", 71.5, "1"), ("rnn", 7.25, "2")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        cache.cache_notebook_bundle(CacheBundleIn(nb, uri=str(tmp_path / f"{name}.md"),
                                                  data={"execution_seconds": secs}), check_validity=False)
    assert book_build.execution_seconds(tmp_path / "cache") == {"lstm": 71.5, "rnn": 7.25}
    (tmp_path / "before.json").write_text(json.dumps({"lstm": 283.4}))
    assert book_build.execution_seconds(tmp_path / "before.json") == {"lstm": 283.4}


def test_the_chapter_table_lists_the_slowest_first_beside_its_time_before():
    rows = book_build.chapter_table({"rnn": 7.4, "lstm": 71.9, "gru": 92.3}, {"lstm": 283.4, "rnn": 8.5})
    assert rows[:5] == ["| chapter | before s | now s |", "| --- | ---: | ---: |", "| gru | | 92.3 |",
                        "| lstm | 283.4 | 71.9 |", "| rnn | 8.5 | 7.4 |"]
    assert rows[-1] == "Slowest chapter: gru 92.3 s; all 3 together 172 s (before: 292 s)."
    assert book_build.chapter_table({"rnn": 7.4}, {})[2] == "| rnn | 7.4 |"
