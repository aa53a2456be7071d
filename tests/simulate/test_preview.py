"""The simulator as a preview: simulated time on every log line, the owner's own settings
(--config), and a report that says what its words mean."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from runtime.config import load_config
from runtime.simulate.setup import RunSetup, build_config, guild_configs, owner_zones
from runtime.simulate.text import format_report
from runtime.simulate.traffic import generate_traffic
from tests.kit.simulate import run

CONFIG = """
[defaults]
timezone = "Asia/Tokyo"
quiet_hours = [22, 9]
keywords = ["minecraft", "terraria"]

[guilds.111]
autonomous_channel_id = 5
policy = "v1"

[guilds.222]
autonomous_channel_id = 6
timezone = "Europe/Berlin"
"""


def test_every_log_line_of_a_run_carries_the_simulated_time(tmp_path: Path) -> None:
    """With --log-file at debug level, every line has ``sim_time``: ISO 8601 in UTC, inside
    the simulated window, never before the line above it."""
    log = tmp_path / "sim.jsonl"
    report = run("--guilds", "3", "--hours", "3", "--seed", "2", "--skip-grace", "--no-v1",
                 "--log-file", str(log), "--log-level", "debug")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) > 20 and report["v2"]["actions"] > 0
    start = datetime.fromisoformat(report["params"]["start_utc"])
    seen = []
    for entry in lines:
        assert entry["sim_time"].endswith("Z")
        t = datetime.fromisoformat(entry["sim_time"].replace("Z", "+00:00"))
        assert 0 <= (t - start).total_seconds() <= 3 * 3600 + 60
        seen.append(t)
    assert seen == sorted(seen)
    assert {e["event"] for e in lines} >= {"decision"}


def test_the_owners_guild_tables_are_taken_in_turn(tmp_path: Path) -> None:
    """Simulated guild i takes the file's guild table i % n over its [defaults]: time zone
    (also of the traffic), quiet hours, keywords and policy; the channels stay the
    simulator's own."""
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG)
    owner = load_config(path)
    zones = owner_zones(owner, 4)
    assert zones == ["Asia/Tokyo", "Europe/Berlin", "Asia/Tokyo", "Europe/Berlin"]
    traffic = generate_traffic(1, 4, 1, zones=zones)
    config = build_config(traffic, "config", RunSetup(owner=owner))
    cfgs = [guild_configs(config)[g.plan.guild_id] for g in traffic.guilds]
    assert [c.timezone for c in cfgs] == zones
    assert {c.quiet_hours for c in cfgs} == {(22, 9)}
    assert {c.keywords for c in cfgs} == {("minecraft", "terraria")}
    policies = [config.guilds[g.plan.guild_id].policy for g in traffic.guilds]
    assert policies == ["v1", None, "v1", None] and config.defaults.policy == "v2"
    assert [config.guilds[g.plan.guild_id].autonomous_channel_id for g in traffic.guilds] \
        == [g.plan.channel_id for g in traffic.guilds]


def test_a_run_with_the_owners_config_reports_by_its_settings(tmp_path: Path) -> None:
    """Under the owner's config the report's quiet hours and keywords are the file's, the
    V1 guilds of the file speak with V1's actions in a column of their own, and the text
    says what "related" means and that asleep is the 14th mood."""
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG)
    report = run("--guilds", "4", "--hours", "24", "--seed", "3", "--config", str(path))
    p = report["params"]
    assert p["keywords"] == ["minecraft", "terraria"] and p["quiet_hours"] == [22, 9]
    assert report["traffic"]["related_game_starts"] > 0  # Minecraft and Terraria count now
    # guilds 0 and 2 run the file's v1: reported apart from the V2 guilds
    assert "general" in report["by_policy"]["v1"]["by_action"]
    assert "general" not in report["v2"]["by_action"]
    text = format_report(report)
    assert "V2, 2 guilds" in text and "v1 (timer), 2 guilds" in text
    assert "names with the whole words minecraft, terraria" in text
    assert "asleep, the 14th" in text and "Moods: 14" in text
