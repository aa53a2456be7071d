"""The report tells the truth: a config whose guilds run several policies is reported per
policy (V1's posts never under V2's name), the example config previews V2, and a window
shorter than a day is not extrapolated to per-day figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config import load_config
from runtime.simulate.setup import RunSetup, build_config, guild_policies
from runtime.simulate.text import format_report
from runtime.simulate.traffic import generate_traffic
from tests.kit.simulate import options, run

ROOT = Path(__file__).resolve().parents[2]

MIXED = """
[defaults]
quiet_hours = [1, 7]

[guilds.111]
autonomous_channel_id = 5

[guilds.222]
autonomous_channel_id = 6
policy = "shadow"
"""


def test_a_config_with_shadow_guilds_is_reported_per_policy(tmp_path: Path) -> None:
    """Half the guilds on ``shadow`` (V1 acts): V2's column holds only the V2 guilds (no
    V1 action, nothing in quiet hours, never asleep), the shadow guilds have their own
    column named for what acts there, and each counts per its own guild-days."""
    path = tmp_path / "bot.toml"
    path.write_text(MIXED)
    report = run("--guilds", "6", "--hours", "24", "--seed", "3", "--config", str(path))
    by = report["by_policy"]
    assert set(by) == {"v2", "shadow"}
    assert by["v2"]["guilds"] == 3 and by["shadow"]["guilds"] == 3
    v2, shadow = report["v2"], by["shadow"]
    assert v2 == by["v2"]
    assert set(v2["by_action"]) <= {"break_silence", "engage_user", "fomo_response",
                                    "join_conversation", "react", "share_tweet"}
    assert v2["quiet_hour_actions"] == 0 and "asleep" not in v2["by_mood"]
    assert "general" in shadow["by_action"] and shadow["quiet_hour_actions"] > 0
    assert v2["actions"] + shadow["actions"] == sum(
        x["count"] for p in by.values() for x in p["by_action"].values())
    assert v2["actions_per_guild_day"] == pytest.approx(v2["actions"] / 3, abs=1e-3)
    text = format_report(report)
    assert "V2 (your config)" not in text
    assert "V2, 3 guilds" in text and "shadow (V1 acts), 3 guilds" in text
    assert "V1 (timer, all 6)" in text
    mood_table = text.split("V2 by mood")[1].split("\n\n")[0]
    assert "asleep" not in mood_table


def test_a_config_all_on_v2_reports_as_before(tmp_path: Path) -> None:
    """One policy: no per-policy part, the column is V2's."""
    path = tmp_path / "bot.toml"
    path.write_text(MIXED.replace('policy = "shadow"', ""))
    report = run("--guilds", "2", "--hours", "3", "--seed", "3", "--config", str(path),
                 "--no-v1")
    assert "by_policy" not in report
    assert "V2 (your config)" in format_report(report)


def test_the_example_config_previews_v2() -> None:
    """``simulate --config bot.example.toml`` shows V2 in every simulated guild."""
    owner = load_config(ROOT / "bot.example.toml")
    traffic = generate_traffic(1, 4, 1)
    config = build_config(traffic, "config", RunSetup(owner=owner))
    assert set(guild_policies(config).values()) == {"v2"}


def test_a_window_shorter_than_a_day_is_not_extrapolated_to_a_day() -> None:
    """A 30-minute run: no per-guild-day figure (the JSON has None), the text gives counts
    per guild in the window it covered."""
    report = run("--guilds", "10", "--hours", "0.5", "--seed", "2", "--skip-grace",
                 "--compare-chattiness")
    v2, v1, t = report["v2"], report["v1"], report["traffic"]
    assert v2["actions"] > 0
    for p in (v2, v1):
        assert p["actions_per_guild_day"] is None
        assert all(x["per_guild_day"] is None for x in p["by_action"].values())
        assert all(x["per_guild_day"] is None for x in p["by_mood"].values())
    assert t["human_messages_per_guild_day"] is None
    assert all(x["actions_per_guild_day"] is None for x in report["chattiness"].values())
    text = format_report(report)
    assert "guild-day" not in text
    assert "actions per guild in 30 min" in text
    assert f"{v2['actions'] / 10:,.2f}" in text


def test_realtime_needs_hours() -> None:
    """--realtime without --hours would run a whole real day: refused, one line."""
    with pytest.raises(ValueError, match=r"^--realtime needs --hours"):
        options("--realtime").check()
    options("--realtime", "--hours", "0.05").check()
    assert options().hours == 24.0
