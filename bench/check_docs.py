"""The docs check: rerun the cheap figures README.md, bot.example.toml and docs/ quote, and
fail when one drifted by more than 10 % (or its sentence is gone). Run by ``.ci/run``.

    .venv/bin/python bench/check_docs.py

What it reruns (about a minute on 2 cores):

* ``python -m runtime simulate --compare-chattiness --report-json F``: the default run
  (100 guilds, a simulated day, seed 1) and V2 at chattiness 0.5 and 2 on the same traffic;
* ``python -m pytest --collect-only -q -m "not integration"``: the fast suite's test count.

Each figure is found by a pattern in its file (``FIGURES``; a space matches any run of
whitespace, so a sentence may wrap): exactly one match, whose number is compared with the
measured one. A sentence that no longer matches fails too, so a
doc and this list change together. Figures that are not cheap to rerun (benchmarks, the
14-day learning bench) carry their command in the doc and are not rerun here.

``--report FILE`` and ``--tests N`` take the measurements as given instead of running them
(the tests of this script); ``--root DIR`` reads the docs under DIR. Exit status 0 when every
figure holds, 1 with one line per drifted or missing figure, 2 when a measurement failed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 0.10
SIMULATE = ["-m", "runtime", "simulate", "--compare-chattiness", "--quiet"]
COLLECT = ["-m", "pytest", "--collect-only", "-q", "-m", "not integration",
           "-p", "no:cacheprovider"]

Measured = dict[str, Any]


class Figure(NamedTuple):
    """One quoted figure: in ``path``, ``pattern``'s group ``n`` is the number; ``measure``
    gives the value it must be within ``TOLERANCE`` of."""

    path: str
    pattern: str
    what: str
    measure: Callable[[Measured], float]


def _v2(key: str) -> Callable[[Measured], float]:
    return lambda m: float(m["report"]["v2"][key])


def _v1(key: str) -> Callable[[Measured], float]:
    return lambda m: float(m["report"]["v1"][key])


def _chattiness(level: str) -> Callable[[Measured], float]:
    return lambda m: float(m["report"]["chattiness"][level]["actions_per_guild_day"])


def _unprompted_per_day(m: Measured) -> float:
    by = m["report"]["v2"]["by_action"]
    return float(sum(by.get(a, {}).get("per_guild_day") or 0.0
                     for a in ("break_silence", "share_tweet")))


def _ratio_2(m: Measured) -> float:
    c = m["report"]["chattiness"]
    return float(c["2"]["actions_per_guild_day"] / c["1"]["actions_per_guild_day"])


def _percent(f: Callable[[Measured], float]) -> Callable[[Measured], float]:
    return lambda m: 100.0 * f(m)


_N = r"(?P<n>[0-9][0-9,]*(?:\.[0-9]+)?)"

FIGURES: tuple[Figure, ...] = (
    # README.md, "Running the bot": how often she speaks (the default simulator run)
    Figure("README.md", rf"V2 rules take {_N} autonomous actions per guild-day",
           "V2 actions per guild-day", _v2("actions_per_guild_day")),
    Figure("README.md", rf"\(V1 {_N}\)", "V1 actions per guild-day",
           _v1("actions_per_guild_day")),
    Figure("README.md", rf"of which {_N} are unprompted posts",
           "V2 unprompted posts per guild-day", _unprompted_per_day),
    Figure("README.md", rf"{_N}% of them get a human answer within 30 minutes",
           "V2 unprompted posts answered", _percent(_v2("unprompted_answered_share"))),
    Figure("README.md", rf"against {_N}% of V1's", "V1 unprompted posts answered",
           _percent(_v1("unprompted_answered_share"))),
    Figure("README.md", rf"\(0\.5: {_N} a day", "V2 actions per guild-day at chattiness 0.5",
           _chattiness("0.5")),
    Figure("README.md", rf"2 makes her {_N} times as chatty", "chattiness 2 against 1",
           _ratio_2),
    # README.md, Quick start: the fast suite
    Figure("README.md", rf"The second is the fast suite \(about {_N} tests",
           "tests in the fast suite", lambda m: float(m["tests"])),
    # bot.example.toml, [defaults] chattiness
    Figure("bot.example.toml", rf"1 is the default \(about {_N} autonomous actions per "
           "guild-day", "V2 actions per guild-day", _v2("actions_per_guild_day")),
    Figure("bot.example.toml", rf"2 about {_N} times as many", "chattiness 2 against 1",
           _ratio_2),
    # docs/BENCHMARKS.md, "Chattiness and learned hours on the same traffic"
    Figure("docs/BENCHMARKS.md", rf"actions per guild-day {_N} at chattiness 0\.5",
           "V2 actions per guild-day at chattiness 0.5", _chattiness("0.5")),
    Figure("docs/BENCHMARKS.md", rf"{_N} at 1, [0-9.]+ at 2 \(",
           "V2 actions per guild-day", _chattiness("1")),
    Figure("docs/BENCHMARKS.md", rf"at 1, {_N} at 2 \(", "V2 actions per guild-day at "
           "chattiness 2", _chattiness("2")),
    Figure("docs/BENCHMARKS.md", rf"[0-9.]+× of 1\); V1 {_N}\.", "V1 actions per guild-day",
           _v1("actions_per_guild_day")),
)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def check(measured: Measured, root: Path, figures: tuple[Figure, ...] = FIGURES
          ) -> list[str]:
    """One line per figure that is missing or off by more than ``TOLERANCE``."""
    problems = []
    for f in figures:
        path = root / f.path
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        # A space in a pattern is any run of whitespace: sentences wrap.
        found = list(re.finditer(f.pattern.replace(" ", r"\s+"), text))
        if len(found) != 1:
            problems.append(f"{f.path}: {f.what}: the pattern {f.pattern!r} matches "
                            f"{len(found)} times (once expected): change the doc and "
                            "bench/check_docs.py together")
            continue
        quoted = _number(found[0].group("n"))
        value = f.measure(measured)
        if abs(quoted - value) > TOLERANCE * abs(value):
            line = text.count("\n", 0, found[0].start()) + 1
            problems.append(f"{f.path}:{line}: {f.what}: the doc says {quoted:g}, measured "
                            f"{value:.4g} (more than {TOLERANCE:.0%} off)")
    return problems


def _run(args: list[str], what: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {tail[0]}")
    return proc.stdout


def measure() -> Measured:
    """Run the simulator and count the tests (``SIMULATE``, ``COLLECT``)."""
    with tempfile.TemporaryDirectory(prefix="miku-docs-") as tmp:
        out = Path(tmp) / "report.json"
        _run([*SIMULATE, "--report-json", str(out)], "python " + " ".join(SIMULATE))
        report = json.loads(out.read_text(encoding="utf-8"))
    collected = _run(COLLECT, "python " + " ".join(COLLECT))
    m = re.search(r"^(\d+)(?:/\d+)? tests? collected", collected, re.MULTILINE)
    if m is None:
        raise RuntimeError("pytest --collect-only: no 'N tests collected' line")
    return {"report": report, "tests": int(m.group(1))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/check_docs.py", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--report", type=Path, help="a simulator report JSON to use instead "
                        "of running the simulator")
    parser.add_argument("--tests", type=int, help="the fast suite's test count to use "
                        "instead of collecting it")
    parser.add_argument("--root", type=Path, default=ROOT, help="where the docs are")
    args = parser.parse_args(argv)
    try:
        if args.report is not None and args.tests is not None:
            measured = {"report": json.loads(args.report.read_text(encoding="utf-8")),
                        "tests": args.tests}
        else:
            measured = measure()
            if args.report is not None:
                measured["report"] = json.loads(args.report.read_text(encoding="utf-8"))
            if args.tests is not None:
                measured["tests"] = args.tests
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"check_docs: {exc}", file=sys.stderr)
        return 2
    problems = check(measured, args.root)
    for p in problems:
        print(f"check_docs: {p}", file=sys.stderr)
    if not problems:
        print(f"check_docs: {len(FIGURES)} figures within {TOLERANCE:.0%} of the code's")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
