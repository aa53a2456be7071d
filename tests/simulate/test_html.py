"""``simulate --html``: one page that opens without a network, with the report's text and
its three figures, whose numbers are the report's."""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from runtime.simulate.html import figure_data
from runtime.simulate.report import UNPROMPTED
from runtime.simulate.setup import RunResult, RunSetup, build_config, guild_configs
from runtime.simulate.text import format_report
from runtime.simulate.traffic import generate_traffic
from tests.kit.simulate import options, run


class _Page(HTMLParser):
    """Every tag with its attributes, and the text of the <pre>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.pre: list[str] = []
        self._in_pre = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_pre = self._in_pre or tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data: str) -> None:
        if self._in_pre:
            self.pre.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], _Page, str]:
    path = tmp_path_factory.mktemp("html") / "report.html"
    report = run("--guilds", "8", "--hours", "24", "--seed", "3", "--html", str(path))
    text = path.read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(text)
    return report, parsed, text


def test_the_page_needs_nothing_but_itself(page: tuple[dict[str, Any], _Page, str]) -> None:
    """No script, style sheet, image, frame or font to fetch; every link inside the page;
    the only web addresses are the SVG namespaces."""
    _, parsed, text = page
    tags = {t for t, _ in parsed.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    for _, attrs in parsed.tags:
        assert "src" not in attrs
        for key in ("href", "xlink:href"):
            assert attrs.get(key) is None or str(attrs[key]).startswith("#"), attrs
    addresses = {a for _, attrs in parsed.tags for k, a in attrs.items()
                 if a and a.startswith(("http://", "https://"))}
    assert addresses <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "url(http" not in text and "@import" not in text


def test_the_page_has_the_report_and_three_figures(page: tuple[dict[str, Any], _Page, str]
                                                   ) -> None:
    """The report's text as printed, and the three figures inline, each with what it
    plots: per hour V2's and V1's actions by type beside the humans', the answered share of
    both, one guild's day."""
    report, parsed, _ = page
    assert "".join(parsed.pre) == format_report(report)
    figures = [a["id"] for t, a in parsed.tags if t == "figure"]
    assert figures == ["figure-hourly", "figure-answered", "figure-day"]
    assert sum(1 for t, _ in parsed.tags if t == "svg") == 3
    ids = {a.get("id") for _, a in parsed.tags}
    assert {f"hour-humans-{h}" for h in range(24)} <= ids
    for name in ("v2", "v1"):
        for action in report[name]["by_action"]:
            assert f"hour-{name}-{action}-18" in ids, (name, action)
        assert f"answered-{name}" in ids
    assert "day-humans" in ids and any(str(i).startswith("day-v2-") for i in ids)


def test_the_figures_numbers_are_the_reports() -> None:
    """Per hour, the counts add up to the report's: human messages, each policy's actions
    by type, unprompted posts and their answers."""
    traffic = generate_traffic(3, 6, 24)
    from runtime.simulate.replay import replay_v1
    from runtime.simulate.report import build_report
    from runtime.simulate.run import run_virtual

    setup = RunSetup(seed=3)
    v2 = run_virtual(traffic, "v2", setup)
    v1 = replay_v1(traffic, setup)
    configs = guild_configs(build_config(traffic, "v2", setup))
    report = build_report(traffic, v2, v1, {"guilds": 6, "hours": 24.0, "seed": 3,
                                            "clock": "virtual", "llm": "offline"},
                          configs=configs)
    data = figure_data(traffic, {"V2": v2, "V1": v1}, configs)
    assert sum(data["humans_by_hour"]) == report["traffic"]["human_messages"]
    for name, result in (("V2", v2), ("V1", v1)):
        r = report[name.lower()]
        by = data["actions_by_hour"][name]
        assert {a: sum(c) for a, c in by.items()} == {
            a: x["count"] for a, x in r["by_action"].items()}
        posts = sum(p for p, _ in data["answered_by_hour"][name])
        answered = sum(a for _, a in data["answered_by_hour"][name])
        assert (posts, answered) == (r["unprompted_posts"], r["unprompted_answered"])
        assert isinstance(result, RunResult)
    day = data["day"]
    assert day["hours"] == 24.0 and day["quiet"]
    assert all(0 <= t < 24 for t in day["humans"])
    assert set(UNPROMPTED) >= {a for _, a in day["actions"]["V1"]} - {"engage_user"}


def test_without_matplotlib_html_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    """matplotlib missing: --html is refused before anything runs, naming the extra."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ValueError, match=r"^--html needs matplotlib, the html extra"):
        options("--html", str(tmp_path / "r.html")).check()
