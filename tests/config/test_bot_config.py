"""The TOML config: defaults, per-guild overrides, and errors that name the dotted path."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import GuildConfig
from runtime.config import (
    Config,
    decode_config,
    load_api_key,
    load_config,
    load_token,
)
from runtime.errors import ConfigError, MissingTokenError
from runtime.settings import autonomous_channels, guild_settings

REPO = Path(__file__).resolve().parents[2]


def test_example_config_loads() -> None:
    """The commented bot.example.toml at the repository root loads cleanly."""
    cfg = load_config(REPO / "bot.example.toml")
    assert isinstance(cfg, Config)
    assert cfg.llm.backend == "offline"
    assert autonomous_channels(cfg)


def test_empty_config_gives_defaults() -> None:
    """An empty file is a valid config: engine defaults, no guild, offline backend."""
    cfg = decode_config("")
    assert cfg.runtime.tick_s == 600
    assert cfg.runtime.snapshot_interval_s == 60
    assert cfg.defaults.policy == "v2"
    assert cfg.discord.shard_ids is None
    assert guild_settings(cfg, 42) == (GuildConfig(has_channel=False), None, "v2")


def test_guild_overrides_merge_over_defaults() -> None:
    """A guild table overrides only the keys it names; the rest come from [defaults]."""
    cfg = decode_config(
        """
        [defaults]
        timezone = "Asia/Tokyo"
        policy = "v1"
        rotate_moods = false
        [guilds.111]
        autonomous_channel_id = 222
        quiet_hours = []
        keywords = ["luka"]
        policy = "shadow"
        """
    )
    settings, channel, policy = guild_settings(cfg, 111)
    assert channel == 222
    assert policy == "shadow"
    assert settings.timezone == "Asia/Tokyo"
    assert settings.quiet_hours is None
    assert settings.keywords == ("luka",)
    assert settings.rotate_moods is False
    assert settings.has_channel
    other, other_channel, other_policy = guild_settings(cfg, 999)
    assert (other_channel, other_policy, other.has_channel) == (None, "v1", False)
    assert other.quiet_hours == (1, 7)


def test_disabled_guilds_have_no_autonomous_channel() -> None:
    """Only enabled guilds with a channel are reported to the gateway adapter."""
    cfg = decode_config(
        """
        [guilds.1]
        autonomous_channel_id = 10
        [guilds.2]
        autonomous_channel_id = 20
        enabled = false
        [guilds.3]
        timezone = "UTC"
        """
    )
    assert autonomous_channels(cfg) == {1: 10}
    assert guild_settings(cfg, 2)[0].enabled is False


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('[guilds.123]\ntimezone = "Mars/Base"',
         "guilds.123.timezone: unknown time zone 'Mars/Base'"),
        ('[defaults]\ntimezone = "Nowhere/Land"', "defaults.timezone: unknown time zone"),
        ('[guilds.123]\npolicy = "v3"', "guilds.123.policy: invalid enum value 'v3'; valid: "
         "'v2', 'v1', 'shadow'"),
        ("[defaults]\nquiet_hours = [1, 25]", "defaults.quiet_hours[1]: expected `int` <= 23"),
        ("[guilds.5]\nquiet_hours = [3]", "guilds.5.quiet_hours: expected [start, end]"),
        ("[guilds.5]\nquiet_hours = [4, 4]", "guilds.5.quiet_hours: expected [start, end]"),
        ("[runtime]\ntik_s = 5", "runtime.tik_s: unknown field; valid fields: tick_s,"),
        ("[llm]\nworkers = 0", "llm.workers: expected `int` >= 1"),
        ('[llm]\nbackend = "openai"', "llm.base_url: required when llm.backend is 'openai'"),
        ('[llm]\nbackend = "cloud"', "llm.backend: invalid enum value 'cloud'; valid: "
         "'offline', 'openai'"),
        ('[llm]\napi_key_env = "sk-abc def"', "llm.api_key_env: expected the NAME"),
        ("[llm]\ntemperature = 3", "llm.temperature: expected `float` <= 2.0"),
        ("[llm]\ntop_p = 0", "llm.top_p: expected `float` > 0.0"),
        ('[guilds.1]\nautonomous_channel_id = "x"',
         "guilds.1.autonomous_channel_id: expected `int`, got `str`"),
        ("[guilds.abc]\nenabled = true", "guilds.abc: a guild table is named by the guild's"),
        ("[discord]\nshard_ids = [0, 5]\nshard_count = 2",
         "discord.shard_ids[1]: shard 5 does not exist; valid: 0..1"),
        ("[discord]\nshard_ids = [0]", "discord.shard_count: required when"),
        ('[discord]\napi_base_url = "discord-proxy:8080/api/v10"',
         "discord.api_base_url: expected an http:// or https:// URL with a host"),
        ('[discord]\napi_base_url = "ftp://proxy/api/v10"',
         "discord.api_base_url: expected an http:// or https:// URL with a host"),
        ('[discord]\napi_base_url = "http:///api/v10"',
         "discord.api_base_url: expected an http:// or https:// URL with a host"),
        ('[discord]\napi_base_url = "http://proxy:80x/api/v10"',
         "discord.api_base_url: the port is not a number"),
        ('[discord]\napi_base_url = "http://proxy:8080"',
         "discord.api_base_url: expected the URL to end with /api/v10"),
        ('[discord]\napi_base_url = "http://proxy:8080/api/v9"',
         "discord.api_base_url: expected the URL to end with /api/v10"),
        ('[discord]\napi_base_url = "http://proxy:8080/api/v10?x=1"',
         "discord.api_base_url: expected no query or fragment"),
        ('[runtime]\nlog_level = "loud"', "runtime.log_level: invalid enum value 'loud'"),
        ("colour = 1", "colour: unknown field; valid fields: defaults, guilds,"),
        ("token = 'abc'", "token: unknown field"),
        ("[defaults\n", "invalid TOML"),
    ],
)
def test_bad_values_name_the_dotted_path(doc: str, message: str) -> None:
    """Every refusal starts with the dotted path of the bad key and says what is valid."""
    with pytest.raises(ConfigError) as info:
        decode_config(doc)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/api/v10", "https://proxy.internal/api/v10/",
                                 "http://[::1]:9/api/v10"])
def test_api_base_url_accepts_a_proxy_or_a_stand_in(url: str) -> None:
    """[discord] api_base_url: an http(s) URL ending with the API path (a rate-limiting proxy
    in front of Discord, or the loopback stand-in)."""
    assert decode_config(f'[discord]\napi_base_url = "{url}"').discord.api_base_url == url


def test_llm_sampling_keys() -> None:
    """[llm] temperature defaults to 0.9 and top_p to the server's; both can be set."""
    assert (decode_config("").llm.temperature, decode_config("").llm.top_p) == (0.9, None)
    cfg = decode_config("[llm]\ntemperature = 0.3\ntop_p = 0.95")
    assert (cfg.llm.temperature, cfg.llm.top_p) == (0.3, 0.95)


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    """Store, socket and log paths are relative to the config file, not the working dir."""
    conf = tmp_path / "bot.toml"
    conf.write_text('[store]\npath = "s.db"\n[runtime]\nlog_dir = "logs"\n')
    cfg = load_config(conf)
    assert cfg.store.path == str(tmp_path / "s.db")
    assert cfg.runtime.log_dir == str(tmp_path / "logs")
    assert cfg.runtime.control_socket == str(tmp_path / "miku-autonomy.sock")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing file is a ConfigError, not an OSError traceback."""
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "absent.toml")


def test_token_comes_only_from_the_environment() -> None:
    """load_token reads DISCORD_TOKEN; unset or blank raises MissingTokenError naming it."""
    assert load_token({"DISCORD_TOKEN": " abc.def.ghi \n"}) == "abc.def.ghi"
    for env in ({}, {"DISCORD_TOKEN": "  "}):
        with pytest.raises(MissingTokenError, match="DISCORD_TOKEN"):
            load_token(env)


def test_api_key_is_read_from_the_named_variable() -> None:
    """llm.api_key_env names the variable; the key itself is never in the file."""
    cfg = decode_config('[llm]\napi_key_env = "MY_KEY"')
    assert load_api_key(cfg, {"MY_KEY": "secret"}) == "secret"
    assert load_api_key(cfg, {}) is None
    assert load_api_key(decode_config(""), {"MY_KEY": "secret"}) is None


def test_deadlines_name_known_actions_and_reach_actors_and_pool() -> None:
    """Per-action deadlines override the defaults for the actors; an unknown action is an
    error naming the valid ones."""
    from actors.actor import DEFAULT_DEADLINES
    from runtime.config import decode_config
    from runtime.core import actor_settings_for
    from runtime.errors import ConfigError

    cfg = decode_config("[llm.deadlines]\nbreak_silence = 900\n[guilds.5]\n"
                        "autonomous_channel_id = 6\n")
    settings = actor_settings_for(cfg)(5)
    assert settings.deadlines["break_silence"] == 900
    assert settings.deadlines["reply"] == DEFAULT_DEADLINES["reply"]
    with pytest.raises(ConfigError, match=r"llm\.deadlines\.sing.*break_silence"):
        decode_config("[llm.deadlines]\nsing = 5\n")


def test_privileged_intents_are_optional_keys() -> None:
    """[discord] presence_intent and members_intent default to on and can be turned off; a
    non-boolean is refused with its path."""
    d = decode_config("").discord
    assert (d.presence_intent, d.members_intent) == (True, True)
    d = decode_config("[discord]\npresence_intent = false\nmembers_intent = false").discord
    assert (d.presence_intent, d.members_intent) == (False, False)
    with pytest.raises(ConfigError, match=r"^discord\.members_intent: expected `bool`"):
        decode_config('[discord]\nmembers_intent = "no"')
