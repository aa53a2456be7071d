"""The bot's TOML config, decoded into frozen msgspec Structs.

Layout (see ``bot.example.toml``)::

    [defaults]          settings every guild starts from
    [guilds.<id>]       per-guild overrides (autonomous_channel_id lives only here)
    [llm] [store] [discord] [runtime] [persona]

Decoding is two steps: msgspec checks types and ranges, then ``_check_*`` checks what a type
cannot say (time zones, quiet hours, shard ids, the LLM server). Either way an error is a
``ConfigError`` whose message starts with a dotted path and says what would be valid:
``guilds.123.timezone: unknown time zone 'Mars/Base'; use an IANA name such as 'UTC'``.

Guild tables are decoded one by one, because msgspec reports a dict value's path as
``$.guilds[...]`` and the guild id is the part an operator needs to see.

Relative paths (store, control socket, log directory, persona) are taken relative to the
config file's directory, so the bot behaves the same whatever directory it is started from.
The bot token is never in this file: ``load_token`` reads ``DISCORD_TOKEN`` from the
environment.
"""

from __future__ import annotations

import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from engine import zone
from engine.errors import UnknownTimezoneError
from engine.state import MAX_ACTIONS_PER_DAY, GuildConfig
from runtime.errors import ConfigError, MissingTokenError

__all__ = [
    "LOCKABLE",
    "TOKEN_ENV",
    "Config",
    "DiscordConfig",
    "GuildDefaults",
    "GuildOverride",
    "LLMConfig",
    "PersonaConfig",
    "PolicyName",
    "RuntimeConfig",
    "StoreConfig",
    "autonomous_channels",
    "decode_config",
    "guild_settings",
    "load_api_key",
    "load_config",
    "load_token",
    "split_address",
]

TOKEN_ENV = "DISCORD_TOKEN"

PolicyName = Literal["v2", "v1", "shadow"]
Hour = Annotated[int, msgspec.Meta(ge=0, le=23)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Snowflake = Annotated[int, msgspec.Meta(gt=0)]
#: Settings a guild table may lock so that slash commands cannot change them.
LOCKABLE = ("channel", "pause", "chattiness", "quiet_hours", "timezone", "mood", "policy")

_ENGINE_DEFAULTS = GuildConfig()


class _Table(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class GuildDefaults(_Table, frozen=True):
    """What every guild starts from. ``quiet_hours = []`` means none."""

    enabled: bool = True
    timezone: str = _ENGINE_DEFAULTS.timezone
    quiet_hours: tuple[Hour, ...] = _ENGINE_DEFAULTS.quiet_hours or ()
    policy: PolicyName = "v2"
    keywords: tuple[str, ...] = _ENGINE_DEFAULTS.keywords
    rotate_moods: bool = True
    mood_rotation_s: Seconds = _ENGINE_DEFAULTS.rotation_period_s
    min_gap_s: Annotated[float, msgspec.Meta(ge=0)] = _ENGINE_DEFAULTS.min_gap_s
    #: Users and roles she never counts, greets, answers or reads (every guild).
    ignore_user_ids: tuple[Snowflake, ...] = ()
    ignore_role_ids: tuple[Snowflake, ...] = ()
    #: Settings no guild may change from Discord (see ``LOCKABLE``).
    locked: tuple[str, ...] = ()
    chattiness: float = _ENGINE_DEFAULTS.chattiness
    max_actions_per_day: int | None = None
    learn_hours: bool = _ENGINE_DEFAULTS.learn_hours


class GuildOverride(_Table, frozen=True):
    """One guild's overrides; an absent key inherits from ``[defaults]``."""

    autonomous_channel_id: Snowflake | None = None
    enabled: bool | None = None
    timezone: str | None = None
    quiet_hours: tuple[Hour, ...] | None = None
    policy: PolicyName | None = None
    keywords: tuple[str, ...] | None = None
    rotate_moods: bool | None = None
    mood_rotation_s: Seconds | None = None
    min_gap_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    #: Added to the ``[defaults]`` lists: ignored in this guild as well.
    ignore_user_ids: tuple[Snowflake, ...] = ()
    ignore_role_ids: tuple[Snowflake, ...] = ()
    #: Settings this guild's admins cannot change from Discord (added to ``[defaults]``).
    locked: tuple[str, ...] = ()
    chattiness: float | None = None
    max_actions_per_day: int | None = None
    learn_hours: bool | None = None


class LLMConfig(_Table, frozen=True):
    """The content backend. ``api_key_env`` names an environment variable, never the key."""

    backend: Literal["offline", "openai"] = "offline"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    workers: Annotated[int, msgspec.Meta(ge=1, le=256)] = 2
    queue_size: Annotated[int, msgspec.Meta(ge=1)] = 256
    #: One HTTP request to the inference server, whole.
    timeout_s: Seconds = 60.0
    connect_timeout_s: Seconds = 5.0
    #: Wait for the first byte of an answer (a one-slot server queues requests: count it).
    first_byte_timeout_s: Seconds = 60.0
    #: The ceiling of an answer's token cap: each action and mood asks for less (its budget
    #: of characters, a Discord line; see runtime/pool/prompt.py), this bounds it.
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 200
    #: Sampling: 0 is greedy (the same words for the same prompt).
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] = 0.9
    #: Nucleus sampling; None leaves the server's default.
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    #: Seconds after the decision at which an action's words are worthless, per action
    #: (reply, join_conversation, fomo_response, engage_user, break_silence, share_tweet,
    #: general); unnamed actions keep their defaults (reply 60, join 120 … silence 1800).
    deadlines: dict[str, Seconds] = msgspec.field(default_factory=dict)


class StoreConfig(_Table, frozen=True):
    """The SQLite file ``path`` (the default), or a shared PostgreSQL database ``url``."""

    path: str = "miku-autonomy.sqlite3"
    #: ``postgresql://user@host:port/dbname``: the shared store (several processes, several
    #: hosts). No password in it: libpq reads PGPASSWORD, PGPASSFILE or ~/.pgpass.
    url: str | None = None
    #: A shard lease lasts this long without renewal (renewed every third of it): how long a
    #: stopped process's shards wait before another process may take them.
    lease_ttl_s: Annotated[float, msgspec.Meta(ge=1.0, le=3600.0)] = 30.0


class DiscordConfig(_Table, frozen=True):
    """Which shards this process owns: ``shard_ids`` of ``shard_count``; absent means all."""

    shard_ids: tuple[Annotated[int, msgspec.Meta(ge=0)], ...] | None = None
    shard_count: Annotated[int, msgspec.Meta(ge=1)] | None = None
    #: discord.py's start-up chunking of *every* guild (all members of every guild in memory).
    #: Off: the guilds with an autonomous channel are chunked anyway once ready (with
    #: ``members_intent``), which is what the signals need in guilds over 250 members.
    chunk_guilds_at_startup: bool = False
    #: The privileged Presence intent (Developer Portal): who is online, games started.
    #: Off: she never greets someone for starting a game and sees nobody online at ready.
    presence_intent: bool = True
    #: The privileged Server Members intent: joins and complete member lists of large guilds.
    #: Off: she never greets a member who joins, and large guilds are not chunked.
    members_intent: bool = True
    #: The slash command group's name (``/miku ...``): 1-32 lowercase letters, digits, - or _.
    command_name: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]{1,32}$")] = "miku"
    #: A loopback stand-in for Discord (tests only): REST base and gateway URL.
    api_base_url: str | None = None
    gateway_url: str | None = None


class RuntimeConfig(_Table, frozen=True):
    tick_s: Seconds = 600.0
    snapshot_interval_s: Seconds = 60.0
    passivate_after_s: Seconds = 3600.0
    #: A guild seen for the first time decides nothing for this long after the start.
    startup_grace_s: Annotated[float, msgspec.Meta(ge=0)] = 120.0
    shutdown_timeout_s: Seconds = 10.0
    #: She answers one person at most once per this many seconds.
    reply_cooldown_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    control_socket: str = "miku-autonomy.sock"
    log_dir: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_max_open_files: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    #: Serve Prometheus metrics, /healthz and /readyz on this "host:port" (off when absent;
    #: port 0 picks a free one). Plain HTTP without auth: keep it on loopback or a private net.
    metrics_address: str | None = None


class PersonaConfig(_Table, frozen=True):
    #: A persona file replacing the built-in one.
    path: str | None = None


class FeedsConfig(_Table, frozen=True):
    #: A local file of items to share (JSON or TOML: id, title, url), for offline use.
    items_file: str | None = None
    #: RSS/Atom feeds fetched every ``refresh_s`` seconds.
    urls: tuple[str, ...] = ()
    refresh_s: Seconds = 1800.0


class Config(_Table, frozen=True):
    defaults: GuildDefaults = msgspec.field(default_factory=GuildDefaults)
    guilds: dict[int, GuildOverride] = msgspec.field(default_factory=dict)
    llm: LLMConfig = msgspec.field(default_factory=LLMConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    discord: DiscordConfig = msgspec.field(default_factory=DiscordConfig)
    runtime: RuntimeConfig = msgspec.field(default_factory=RuntimeConfig)
    persona: PersonaConfig = msgspec.field(default_factory=PersonaConfig)
    feeds: FeedsConfig = msgspec.field(default_factory=FeedsConfig)


# --- decoding -----------------------------------------------------------------------------

_MSGSPEC_PATH = re.compile(r"^(?P<detail>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
_PART = re.compile(r"\[\d+\]|[^.\[\]]+")


def _strip(tp: Any) -> Any:
    """The type under Annotated / Optional."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _type_at(root: Any, parts: list[str]) -> Any:
    tp = root
    for part in parts:
        tp = _strip(tp)
        origin = typing.get_origin(tp)
        if part.startswith("[") and origin in (tuple, list):
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            tp = typing.get_type_hints(tp, include_extras=True).get(part)
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
        if tp is None:
            return None
    return _strip(tp)


def _fields(tp: Any) -> str:
    return ", ".join(f for f in tp.__struct_fields__)


def _parts(path: str) -> list[str]:
    """``$.discord.shard_ids[0]`` -> ["discord", "shard_ids", "[0]"]."""
    return list(_PART.findall(path.removeprefix("$")))


def _render(parts: list[str]) -> str:
    """["discord", "shard_ids", "[0]"] -> ``discord.shard_ids[0]``."""
    out = ""
    for p in parts:
        out += p if p.startswith("[") or not out else "." + p
    return out


def _config_error(exc: msgspec.ValidationError, root: Any, prefix: list[str]) -> ConfigError:
    """Turn msgspec's ``detail - at `$.a.b``` into ``a.b: detail; valid: ...``."""
    m = _MSGSPEC_PATH.match(str(exc))
    assert m is not None
    detail = m["detail"]
    parts = _parts(m["path"] or "$")
    unknown = _UNKNOWN_FIELD.match(detail)
    if unknown:
        tp = _type_at(root, parts)
        parts = [*parts, unknown["name"]]
        detail = "unknown field"
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            detail += f"; valid fields: {_fields(tp)}"
    else:
        # TOML has no null: "expected `int | null`" only confuses.
        detail = (detail[:1].lower() + detail[1:]).replace(" | null", "")
        tp = _type_at(root, parts)
        if typing.get_origin(tp) is Literal:
            detail += "; valid: " + ", ".join(repr(a) for a in typing.get_args(tp))
    return ConfigError(_render(prefix + parts), detail)


def _check_timezone(name: str, path: str) -> None:
    try:
        zone(name)
    except UnknownTimezoneError:
        raise ConfigError(
            path, f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


def _check_quiet_hours(hours: tuple[int, ...], path: str) -> None:
    if len(hours) not in (0, 2) or (len(hours) == 2 and hours[0] == hours[1]):
        raise ConfigError(
            path, f"expected [start, end] with two different hours 0..23 (or [] for none), "
            f"got {list(hours)}"
        )


def _check_guild_table(table: GuildDefaults | GuildOverride, prefix: str) -> None:
    if table.timezone is not None:
        _check_timezone(table.timezone, f"{prefix}.timezone")
    if table.quiet_hours is not None:
        _check_quiet_hours(table.quiet_hours, f"{prefix}.quiet_hours")
    if table.keywords is not None:
        for i, k in enumerate(table.keywords):
            if not k.strip():
                raise ConfigError(f"{prefix}.keywords[{i}]", "a keyword cannot be empty")
    for i, key in enumerate(table.locked):
        if key not in LOCKABLE:
            raise ConfigError(f"{prefix}.locked[{i}]",
                              f"cannot lock {key!r}; valid: {', '.join(LOCKABLE)}")
    if table.chattiness is not None and not 0.0 <= table.chattiness <= 2.0:
        raise ConfigError(f"{prefix}.chattiness",
                          f"expected a number from 0 to 2 (0: no autonomous action, 1: the "
                          f"default, 2: about twice as many), got {table.chattiness}")
    cap = table.max_actions_per_day
    if cap is not None and not 0 <= cap <= MAX_ACTIONS_PER_DAY:
        raise ConfigError(f"{prefix}.max_actions_per_day",
                          f"expected a whole number from 0 to {MAX_ACTIONS_PER_DAY} "
                          f"(leave it out for no cap), got {cap}")


def _check_url(url: str | None, path: str, schemes: tuple[str, ...]) -> None:
    if url is not None and not url.startswith(schemes):
        raise ConfigError(path, f"expected a URL starting with {' or '.join(schemes)}, got {url!r}")


_ADDRESS = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")


def split_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` / ``"[::1]:9108"`` / ``"localhost:9108"`` -> (host, port).

    Raises:
        ValueError: not ``host:port`` with a port 0..65535 (0: any free port).
    """
    m = _ADDRESS.match(text.strip())
    if m is None or int(m["port"]) > 65535:
        raise ValueError(f"expected \"host:port\" such as \"127.0.0.1:9108\" or \"[::1]:9108\" "
                         f"(port 0..65535), got {text!r}")
    return m["v6"] or m["host"], int(m["port"])


def _check_store_url(url: str | None) -> None:
    if url is None:
        return
    from runtime.store.pg_schema import redact_url

    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("store.url", "expected a URL starting with postgresql://, got "
                          f"{redact_url(url)!r} (a SQLite file goes in store.path)")
    if redact_url(url) != url:
        raise ConfigError("store.url", "the URL carries a password: remove it and give it to "
                          "libpq in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass)")


def _check(cfg: Config) -> None:
    _check_guild_table(cfg.defaults, "defaults")
    for gid, override in cfg.guilds.items():
        _check_guild_table(override, f"guilds.{gid}")
    llm = cfg.llm
    _check_url(llm.base_url, "llm.base_url", ("http://", "https://"))
    _check_store_url(cfg.store.url)
    known = ("reply", "join_conversation", "fomo_response", "engage_user", "break_silence",
             "share_tweet", "general")
    for action in llm.deadlines:
        if action not in known:
            raise ConfigError(f"llm.deadlines.{action}",
                              f"unknown action; valid: {', '.join(known)}")
    if llm.backend == "openai":
        if not llm.base_url:
            raise ConfigError("llm.base_url", "required when llm.backend is 'openai' "
                              "(e.g. 'http://127.0.0.1:8080/v1')")
        if not llm.model:
            raise ConfigError("llm.model", "required when llm.backend is 'openai'")
    if llm.api_key_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*",
                                                        llm.api_key_env):
        raise ConfigError("llm.api_key_env", "expected the NAME of an environment variable "
                          f"(letters, digits, _), got {llm.api_key_env!r}")
    d = cfg.discord
    if d.shard_ids is not None:
        if d.shard_count is None:
            raise ConfigError("discord.shard_count", "required when discord.shard_ids is set")
        for i, sid in enumerate(d.shard_ids):
            if sid >= d.shard_count:
                raise ConfigError(f"discord.shard_ids[{i}]",
                                  f"shard {sid} does not exist; valid: 0..{d.shard_count - 1}")
        if len(set(d.shard_ids)) != len(d.shard_ids) or not d.shard_ids:
            raise ConfigError("discord.shard_ids", "expected distinct shard ids, at least one")
    _check_url(d.api_base_url, "discord.api_base_url", ("http://", "https://"))
    _check_url(d.gateway_url, "discord.gateway_url", ("ws://", "wss://"))
    for i, url in enumerate(cfg.feeds.urls):
        _check_url(url, f"feeds.urls[{i}]", ("http://", "https://"))
    if cfg.runtime.metrics_address is not None:
        try:
            split_address(cfg.runtime.metrics_address)
        except ValueError as exc:
            raise ConfigError("runtime.metrics_address", str(exc)) from None


def _decode_guilds(raw: Any) -> dict[int, GuildOverride]:
    if not isinstance(raw, Mapping):
        raise ConfigError("guilds", "expected a table of [guilds.<guild id>] tables")
    guilds: dict[int, GuildOverride] = {}
    for key, value in raw.items():
        if not (isinstance(key, str) and key.isdigit() and 0 < int(key) < 2**63):
            raise ConfigError(f"guilds.{key}", "a guild table is named by the guild's numeric id "
                              "([guilds.123456789012345678])")
        try:
            guilds[int(key)] = msgspec.convert(value, GuildOverride)
        except msgspec.ValidationError as exc:
            raise _config_error(exc, GuildOverride, ["guilds", key]) from None
    return guilds


def _resolve(path: str, base: Path | None) -> str:
    p = Path(path).expanduser()
    if base is not None and not p.is_absolute():
        p = base / p
    return str(p)


def decode_config(text: str | bytes, *, base_dir: str | Path | None = None) -> Config:
    """Decode and check a config document.

    Args:
        text: the TOML document.
        base_dir: relative file paths in it are made relative to this directory (None leaves
            them as they are).

    Returns:
        The checked ``Config``.

    Raises:
        ConfigError: bad TOML, a bad value or an unknown key; the message starts with the
            dotted path (``guilds.123.timezone: unknown time zone 'Mars/Base'; ...``).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError as exc:
            raise ConfigError("", f"the file is not UTF-8 ({exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"invalid TOML: {exc}") from None
    guilds = _decode_guilds(raw.pop("guilds", {}))
    try:
        cfg = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise _config_error(exc, Config, []) from None
    cfg = msgspec.structs.replace(cfg, guilds=guilds)
    _check(cfg)
    if base_dir is not None:
        base = Path(base_dir)
        rt = cfg.runtime
        cfg = msgspec.structs.replace(
            cfg,
            store=msgspec.structs.replace(cfg.store, path=_resolve(cfg.store.path, base)),
            runtime=msgspec.structs.replace(
                rt,
                control_socket=_resolve(rt.control_socket, base),
                log_dir=None if rt.log_dir is None else _resolve(rt.log_dir, base),
            ),
            persona=msgspec.structs.replace(
                cfg.persona,
                path=None if cfg.persona.path is None else _resolve(cfg.persona.path, base),
            ),
            feeds=msgspec.structs.replace(
                cfg.feeds, items_file=None if cfg.feeds.items_file is None
                else _resolve(cfg.feeds.items_file, base)),
        )
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and decode the config file at ``path`` (relative paths inside are relative to
    the file's directory).

    Raises:
        ConfigError: the file cannot be read, or ``decode_config`` refuses it. The message
            does not repeat the file name; the CLI adds it.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read the config file: {exc.strerror or exc}") from None
    return decode_config(data, base_dir=p.resolve().parent)


# --- per guild ----------------------------------------------------------------------------

def _pick(override: Any, default: Any) -> Any:
    return default if override is None else override


def guild_settings(config: Config, guild_id: int) -> tuple[GuildConfig, int | None, str]:
    """A guild's engine settings, autonomous channel and policy: ``[defaults]`` merged with
    its ``[guilds.<id>]`` table (a guild without one gets the defaults and no channel).

    Returns:
        ``(GuildConfig, channel_id or None, policy name)``; ``GuildConfig.has_channel`` is
        false when there is no channel.
    """
    d = config.defaults
    o = config.guilds.get(guild_id) or GuildOverride()
    quiet = _pick(o.quiet_hours, d.quiet_hours)
    channel = o.autonomous_channel_id
    cfg = GuildConfig(
        timezone=_pick(o.timezone, d.timezone),
        quiet_hours=(quiet[0], quiet[1]) if quiet else None,
        keywords=tuple(_pick(o.keywords, d.keywords)),
        min_gap_s=float(_pick(o.min_gap_s, d.min_gap_s)),
        enabled=bool(_pick(o.enabled, d.enabled)),
        has_channel=channel is not None,
        rotate_moods=bool(_pick(o.rotate_moods, d.rotate_moods)),
        rotation_period_s=float(_pick(o.mood_rotation_s, d.mood_rotation_s)),
        chattiness=float(_pick(o.chattiness, d.chattiness)),
        max_actions_per_day=_pick(o.max_actions_per_day, d.max_actions_per_day),
        learn_hours=bool(_pick(o.learn_hours, d.learn_hours)),
    )
    return cfg, channel, _pick(o.policy, d.policy)


def autonomous_channels(config: Config) -> dict[int, int]:
    """``{guild_id: channel_id}`` for every enabled guild with an autonomous channel: the
    only guilds and channels the gateway adapter reports."""
    out: dict[int, int] = {}
    for gid, o in config.guilds.items():
        if o.autonomous_channel_id is not None and _pick(o.enabled, config.defaults.enabled):
            out[gid] = o.autonomous_channel_id
    return out


# --- secrets from the environment ---------------------------------------------------------

def load_token(environ: Mapping[str, str] | None = None) -> str:
    """The bot token, from ``DISCORD_TOKEN`` only (never the config file, never logged).

    Raises:
        MissingTokenError: the variable is unset or blank.
    """
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise MissingTokenError(TOKEN_ENV)
    return token


def load_api_key(config: Config, environ: Mapping[str, str] | None = None) -> str | None:
    """The inference server's API key from the variable named by ``llm.api_key_env``
    (None when no variable is named or it is unset)."""
    name = config.llm.api_key_env
    if name is None:
        return None
    env = os.environ if environ is None else environ
    return env.get(name) or None
