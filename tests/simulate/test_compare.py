"""The report lines that compare runs on the same traffic: chattiness 0.5 / 1 / 2, V2
without and with learned activity hours, and quiet hours with pinned moods. They measure
the engine branch's chattiness, learn_hours and quiet-hours gate, so they run once it is
merged."""

from __future__ import annotations

from typing import Any

from runtime.simulate.text import format_report
from tests.kit.simulate import run


def test_chattiness_halves_and_raises_the_actions_on_the_same_traffic() -> None:
    """--compare-chattiness: 0.5 gives about half the actions per guild-day of 1, and 2 at
    least 1.5 times as many; the run at 1 is the main run itself."""
    report = run("--guilds", "24", "--hours", "24", "--seed", "7", "--no-v1",
                 "--compare-chattiness")
    c = report["chattiness"]
    assert set(c) == {"0.5", "1", "2"}
    assert c["1"]["actions"] == report["v2"]["actions"]
    assert 0.3 * c["1"]["actions"] <= c["0.5"]["actions"] <= 0.7 * c["1"]["actions"]
    assert c["2"]["actions"] >= 1.5 * c["1"]["actions"]
    assert "Chattiness (V2, same traffic)" in format_report(report)


def test_chattiness_sets_the_simulated_defaults() -> None:
    """--chattiness 0 silences every autonomous action (replies still go out)."""
    report = run("--guilds", "6", "--hours", "12", "--seed", "7", "--no-v1",
                 "--chattiness", "0")
    assert report["v2"]["actions"] == 0 and report["v2"]["replies"] > 0
    assert report["params"]["defaults"] == {"chattiness": 0.0}


def test_learning_is_compared_on_the_same_traffic() -> None:
    """--compare-learning reports the share of answered unprompted posts for V1 and for V2
    without and with learning, each over its own posts."""
    report: dict[str, Any] = run("--guilds", "24", "--hours", "48", "--seed", "8",
                                 "--compare-learning")
    lr = report["learning"]
    assert set(lr) == {"with", "without"}
    assert lr["with"]["actions"] == report["v2"]["actions"]
    for x in lr.values():
        assert 0 <= x["unprompted_answered"] <= x["unprompted_posts"]
    text = format_report(report)
    assert "V2 without learning" in text and "V2 with learning" in text and "V1 " in text
    assert "Learned hours steer nothing before a whole day has been seen" in text


def test_pinned_moods_never_act_in_quiet_hours() -> None:
    """With rotation off (--pin-moods), quiet hours still gate every autonomous action."""
    report = run("--guilds", "12", "--hours", "24", "--seed", "2", "--no-v1",
                 "--pin-moods", "bubbly,excited,curious")
    assert report["v2"]["actions"] > 0 and report["v2"]["quiet_hour_actions"] == 0
