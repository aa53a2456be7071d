"""bench/check_docs.py, run as .ci/run runs it, with the measurements given: a figure more
than 10 % off or a sentence that no longer matches fails with one line naming the file, the
figure and both numbers; the docs as they are match every pattern once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "check_docs.py"
DOCS = ("README.md", "bot.example.toml", "docs/BENCHMARKS.md")


def _report(v1: float = 9.42) -> dict[str, Any]:
    """A report carrying the figures the docs quote (the default run of seed 1)."""
    return {
        "v2": {"actions_per_guild_day": 21.56, "unprompted_answered_share": 0.560,
               "by_action": {"break_silence": {"count": 117, "per_guild_day": 1.17},
                             "share_tweet": {"count": 115, "per_guild_day": 1.15}}},
        "v1": {"actions_per_guild_day": v1, "unprompted_answered_share": 0.5607},
        "chattiness": {"0.5": {"actions_per_guild_day": 8.80},
                       "1": {"actions_per_guild_day": 21.56},
                       "2": {"actions_per_guild_day": 49.57}},
    }


def _check(tmp_path: Path, report: dict[str, Any], tests: int = 1390,
           root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return subprocess.run([sys.executable, str(SCRIPT), "--report", str(path), "--tests",
                           str(tests), "--root", str(root)], capture_output=True, text=True,
                          check=False, timeout=60)


def _copy_docs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for name in DOCS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, root / name)
    return root


def test_the_docs_as_they_are_match_every_figure_once(tmp_path: Path) -> None:
    """Every pattern of the check finds its sentence once in the committed docs, and the
    figures there are the default run's."""
    proc = _check(tmp_path, _report())
    assert proc.returncode == 0, proc.stderr
    assert "figures within 10% of the code's" in proc.stdout


def test_a_figure_more_than_ten_percent_off_fails(tmp_path: Path) -> None:
    """V1 measured at 8.4 against the docs' 9.42 (11 % off): one line per place quoting it,
    naming the file and line, the doc's number and the measured one; 8.6 (9 %) passes."""
    proc = _check(tmp_path, _report(v1=8.4))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, lines
    assert any(x.startswith("check_docs: README.md:") for x in lines)
    assert any(x.startswith("check_docs: docs/BENCHMARKS.md:") for x in lines)
    assert all("V1 actions per guild-day: the doc says 9.42, measured 8.4" in x
               for x in lines)
    assert _check(tmp_path, _report(v1=8.6)).returncode == 0


def test_the_test_count_is_checked_too(tmp_path: Path) -> None:
    """The fast suite grew to 1,700 tests: README's "about 1,400" fails."""
    proc = _check(tmp_path, _report(), tests=1700)
    assert proc.returncode == 1
    assert "tests in the fast suite: the doc says 1400, measured 1700" in proc.stderr


def test_a_sentence_that_no_longer_matches_fails(tmp_path: Path) -> None:
    """A figure reworded away from its pattern is a failure, not a silent pass."""
    root = _copy_docs(tmp_path)
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("(V1 9.42)", "(V1: 9.42)"))
    proc = _check(tmp_path, _report(), root=root)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "README.md: V1 actions per guild-day: the pattern" in proc.stderr
    assert "matches 0 times" in proc.stderr


def test_a_report_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    """A missing report file: exit 2, one line naming it."""
    proc = subprocess.run([sys.executable, str(SCRIPT), "--report", str(tmp_path / "no.json"),
                           "--tests", "1"], capture_output=True, text=True, check=False,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no.json" in proc.stderr
