"""Effective settings from three layers, locks, and the versioned bytes the store keeps."""

from __future__ import annotations

import math

import msgspec
import pytest

from runtime.config import decode_config
from runtime.errors import ConfigError
from runtime.settings import (
    SETTINGS_VERSION,
    SettingsDecodeError,
    SettingsVersionError,
    StoredSettings,
    decode_settings,
    effective,
    encode_settings,
)

FILE = """
[defaults]
timezone = "UTC"
quiet_hours = [1, 7]
policy = "v2"
[guilds.10]
autonomous_channel_id = 100
timezone = "Europe/Berlin"
locked = ["policy"]
[guilds.20]
quiet_hours = []
"""
NOW = 1_764_600_000.0


def test_command_layer_wins_over_guild_table_over_defaults() -> None:
    """A command's value beats the guild table, which beats the defaults; the sources say
    which layer each value came from."""
    cfg = decode_config(FILE)
    e = effective(cfg, None, 10, NOW)
    assert (e.timezone, e.quiet_hours, e.channel_id) == ("Europe/Berlin", (1, 7), 100)
    assert e.sources["timezone"] == "file: guilds.10"
    assert e.sources["quiet_hours"] == "file: defaults"
    e = effective(cfg, StoredSettings(timezone="Asia/Tokyo", quiet_hours=(22, 6)), 10, NOW)
    assert (e.timezone, e.quiet_hours) == ("Asia/Tokyo", (22, 6))
    assert e.sources["timezone"] == e.sources["quiet_hours"] == "command"
    assert e.actor.config.timezone == "Asia/Tokyo" and e.actor.config.quiet_hours == (22, 6)


def test_a_locked_key_ignores_the_command_layer() -> None:
    """A key the guild table locks keeps the file's value even if a command's value is
    stored (e.g. stored before the lock was added)."""
    cfg = decode_config(FILE)
    e = effective(cfg, StoredSettings(policy="v1"), 10, NOW)
    assert e.policy == "v2" and e.actor.policy == "v2"
    assert "policy" in e.locked and e.sources["policy"] == "file: defaults"


def test_cleared_channel_and_quiet_hours_off_override_the_file() -> None:
    """Channel 0 (cleared by a command) means no channel whatever the file says; quiet hours
    () mean none."""
    cfg = decode_config(FILE)
    e = effective(cfg, StoredSettings(channel_id=0, quiet_hours=()), 10, NOW)
    assert e.channel_id is None and not e.actor.config.has_channel
    assert e.quiet_hours is None and e.actor.config.quiet_hours is None


def test_a_pause_disables_autonomy_until_it_ends() -> None:
    """While paused the engine config is disabled (replies are the actor's and stay); once
    past its end the pause no longer applies and nothing expires any more."""
    cfg = decode_config(FILE)
    s = StoredSettings(paused_until=NOW + 3600)
    e = effective(cfg, s, 10, NOW)
    assert not e.actor.config.enabled and e.paused_until == NOW + 3600
    assert e.expires_at == NOW + 3600 and e.actor.channel_id == 100
    later = effective(cfg, s, 10, NOW + 3600)
    assert later.actor.config.enabled and later.paused_until is None
    assert math.isinf(later.expires_at)


def test_a_held_mood_stops_rotation_until_it_ends() -> None:
    """A mood held by a command turns rotation off until ``mood_until``."""
    cfg = decode_config(FILE)
    s = StoredSettings(mood="bubbly", mood_until=NOW + 600)
    assert not effective(cfg, s, 10, NOW).actor.config.rotate_moods
    assert effective(cfg, s, 10, NOW + 601).actor.config.rotate_moods


def test_guild_without_a_table_gets_the_defaults_and_no_channel() -> None:
    """A guild the file does not name runs on the defaults, without a channel."""
    e = effective(decode_config(FILE), None, 999, NOW)
    assert e.channel_id is None and e.timezone == "UTC" and not e.actor.config.has_channel


def test_locking_an_unknown_key_is_a_config_error() -> None:
    """``locked`` names only lockable keys; the error lists them."""
    with pytest.raises(ConfigError, match=r"guilds\.5\.locked\[0\].*valid: channel, pause"):
        decode_config("[guilds.5]\nlocked = ['tick_s']\n")


def test_ignore_lists_and_command_name_decode() -> None:
    """``ignore_user_ids``/``ignore_role_ids`` take ids; ``command_name`` must be a valid
    Discord command name."""
    cfg = decode_config("[defaults]\nignore_user_ids = [5]\n[guilds.7]\nignore_role_ids = [8]"
                        "\n[discord]\ncommand_name = 'rin'\n")
    assert cfg.defaults.ignore_user_ids == (5,) and cfg.guilds[7].ignore_role_ids == (8,)
    assert cfg.discord.command_name == "rin"
    with pytest.raises(ConfigError, match=r"discord\.command_name"):
        decode_config("[discord]\ncommand_name = 'Miku Bot'\n")


def test_stored_settings_round_trip_with_their_version() -> None:
    """The bytes carry the version and decode to the same settings."""
    s = StoredSettings(channel_id=5, chattiness=1.5, quiet_hours=(), mood="bubbly",
                       mood_until=NOW)
    data = encode_settings(s)
    assert msgspec.msgpack.decode(data)["version"] == SETTINGS_VERSION
    assert decode_settings(1, data) == s


def test_newer_stored_settings_are_refused_clearly() -> None:
    """Bytes written by a newer version are refused, saying which versions this one reads."""
    data = msgspec.msgpack.encode({"version": SETTINGS_VERSION + 1, "channel_id": 5})
    with pytest.raises(SettingsVersionError, match=rf"guild 3.*version {SETTINGS_VERSION + 1}"
                       rf".*reads versions 1\.\.{SETTINGS_VERSION}"):
        decode_settings(3, data)


@pytest.mark.parametrize("data", [b"\xc1garbage", msgspec.msgpack.encode({"channel_id": 1}),
                                  msgspec.msgpack.encode({"version": 1, "chattiness": "x"})])
def test_unreadable_stored_settings_name_the_problem(data: bytes) -> None:
    """Corrupt bytes, a missing version or a bad field are a SettingsDecodeError."""
    with pytest.raises(SettingsDecodeError, match="guild 4: unreadable stored settings"):
        decode_settings(4, data)
