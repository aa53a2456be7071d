"""``--compare-affinity`` (issue 22 part 2): V2 with user affinity off and on over the same
traffic, side by side; and the report's pestering as the issue defines it (someone who
ignored her last two addresses and has not spoken to her since)."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.__main__ import main
from runtime.simulate.answered import _pestering
from runtime.simulate.channel import SentRecord
from runtime.simulate.people import AnswerRecord
from runtime.simulate.text import format_report
from tests.kit.simulate import run

G, U = 1, 7
DAY = 86400.0


def test_affinity_is_compared_on_the_same_traffic() -> None:
    """Both runs see the same traffic; the main run is the "on" one (the default); with
    --reactive each gives its engage_user answered shares and pestering; the text shows
    them side by side."""
    report: dict[str, Any] = run("--guilds", "12", "--hours", "48", "--seed", "3", "--no-v1",
                                 "--reactive", "--compare-affinity")
    af = report["affinity"]
    assert set(af) == {"off", "on"}
    assert af["on"]["actions"] == report["v2"]["actions"]
    assert af["on"]["pestering"] == report["reactive"]["v2"]["pestering"]
    for x in af.values():
        e = x["engage_user"]
        assert 0 < e["actions"] == x["addressed"]
        assert 0 <= e["answered_10m"] <= e["answered_30m"] <= e["actions"]
        assert 0 <= x["pestering_after_day"] <= x["pestering"] <= x["pestering_any"]
    text = format_report(report)
    assert "User affinity (V2, same traffic)" in text and "affinity off" in text


def test_without_reactive_the_comparison_counts_engages() -> None:
    report = run("--guilds", "6", "--hours", "12", "--seed", "3", "--no-v1",
                 "--compare-affinity")
    af = report["affinity"]
    assert set(af) == {"off", "on"} and "pestering" not in af["on"]
    assert af["on"]["engage_user"]["actions"] == report["v2"]["by_action"].get(
        "engage_user", {"count": 0})["count"]


def test_help_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    assert "--compare-affinity" in capsys.readouterr().out


def _engage(at: float) -> SentRecord:
    return SentRecord(guild_id=G, action="engage_user", at=at, mood="bubbly", text_len=20,
                      priority=1, target_user_id=U)


def test_pestering_is_addressing_someone_who_ignored_her_twice_and_not_spoken_since() -> None:
    """Ignored twice then addressed: pestering (a day after the last: also counted apart).
    If they spoke to her in between (a mention in the base traffic, or an answer to another
    action of hers that speaks to her), it is no pestering; the first count keeps it."""
    sent = [_engage(0.0), _engage(3600.0), _engage(3600.0 + DAY)]
    out = _pestering(sent, [])
    assert (out["addressed"], out["pestering"], out["pestering_after_day"],
            out["pestering_any"]) == (3, 1, 1, 1)
    spoke = {(G, U): [7200.0]}
    out = _pestering(sent, [], spoke)
    assert (out["pestering"], out["pestering_any"]) == (0, 1)
    answer = AnswerRecord(G, U, 7300.0, "join_conversation", 7200.0, False, to_her=True)
    assert _pestering(sent, [answer])["pestering"] == 0
    quiet = AnswerRecord(G, U, 7300.0, "join_conversation", 7200.0, False, to_her=False)
    assert _pestering(sent, [quiet])["pestering"] == 1  # to the room, not to her
    at_once = {(G, U): [3600.0 + DAY]}  # at the very moment: the engine heard it first
    assert _pestering(sent, [], at_once)["pestering"] == 0
    answered = AnswerRecord(G, U, 3700.0, "engage_user", 3600.0, True, to_her=False)
    assert _pestering(sent, [answered])["pestering"] == 0  # the second was answered


def test_the_html_page_shows_affinity_off_and_on(tmp_path: Any) -> None:
    """--html with --reactive --compare-affinity adds a figure: engage_user's answered
    shares, count and pestering, off and on."""
    pytest.importorskip("matplotlib")
    path = tmp_path / "report.html"
    run("--guilds", "4", "--hours", "24", "--seed", "3", "--processes", "1", "--no-v1",
        "--reactive", "--compare-affinity", "--html", str(path))
    text = path.read_text(encoding="utf-8")
    assert 'id="figure-affinity"' in text
    for k in ("off", "on"):
        for part in ("answered-10m", "answered-30m", "engage_user", "pestering"):
            assert f'id="affinity-{k}-{part}"' in text
