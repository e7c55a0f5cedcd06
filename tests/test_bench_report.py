"""bench/report.py on a temporary folder of fake reports: headlines, marker replacement, missing markers."""
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_report", REPO / "bench" / "report.py")
report = importlib.util.module_from_spec(_spec)
sys.modules["bench_report"] = report  # dataclasses look their module up there
_spec.loader.exec_module(report)


@pytest.fixture
def reports(tmp_path) -> Path:
    folder = tmp_path / "bench" / "reports"
    folder.mkdir(parents=True)
    (folder / "b-fast.md").write_text("# Fast thing\n\nHeadline: 3.2 s, 2.0x faster.\n\nHeadline: not this one\n")
    (folder / "a-slow.md").write_text("# Slow thing\n\nMeasured somewhere.\n\n| x | y |\n")
    (folder / "notes.txt").write_text("Headline: not a report\n")
    return folder


def test_headline_is_the_first_headline_line_and_missing_ones_are_none(reports):
    found = report.gather(reports)
    assert [(r.path.name, r.title, r.headline) for r in found] == [
        ("a-slow.md", "Slow thing", None), ("b-fast.md", "Fast thing", "3.2 s, 2.0x faster.")]
    block = report.summary(found, reports.parent.parent)
    assert "- [Fast thing](bench/reports/b-fast.md): 3.2 s, 2.0x faster." in block
    assert "- [Slow thing](bench/reports/a-slow.md): (no `Headline:` line in this report)" in block


def test_readme_rewritten_between_the_markers_only(reports, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Course\n\nbefore\n{report.BEGIN}\nold summary\n{report.END}\nafter\n")
    assert report.main(["--reports", str(reports), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(f"# Course\n\nbefore\n{report.BEGIN}\nBenchmarks")
    assert text.endswith(f"3.2 s, 2.0x faster.\n{report.END}\nafter\n")
    assert "old summary" not in text
    assert report.main(["--reports", str(reports), "--readme", str(readme)]) == 0
    assert readme.read_text() == text  # a second run changes nothing


@pytest.mark.parametrize("body", ["no markers at all\n", f"{report.END}\nx\n{report.BEGIN}\n",
                                  f"{report.BEGIN}\n{report.BEGIN}\n{report.END}\n"])
def test_missing_or_broken_markers_print_the_summary_and_exit_1(reports, tmp_path, capsys, body):
    readme = tmp_path / "README.md"
    readme.write_text(body)
    assert report.main(["--reports", str(reports), "--readme", str(readme)]) == 1
    out, err = capsys.readouterr()
    assert "- [Fast thing](bench/reports/b-fast.md): 3.2 s, 2.0x faster." in out
    assert f"{readme} not changed" in err and report.BEGIN in err and report.END in err
    assert readme.read_text() == body
