"""The layers of a guild's settings: the file's ``[defaults]``, its ``[guilds.<id>]`` table
(``guild_settings``), then what its admins set from Discord (``effective``), unless the file
locks the key.

Pure functions of (config, stored settings, now): no I/O, so every rule here is tested with
plain calls. ``check_*`` validate a value a command brings and raise ``BadValue`` naming the
valid ones; ``effective`` merges the layers and says where each value comes from.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from actors.actor import DEFAULT_DEADLINES, ActorSettings
from engine import (
    CHATTINESS_RANGE,
    MOOD_NAMES,
    POLICY_NAMES,
    GuildConfig,
    PolicyName,
    UnknownTimezoneError,
    zone,
)
from engine import check_chattiness as engine_check_chattiness
from runtime.config import Config, GuildOverride
from runtime.settings.stored import StoredSettings

__all__ = [
    "CHATTINESS_RANGE",
    "MAX_MOOD_HOURS",
    "MAX_PAUSE_HOURS",
    "BadValue",
    "Effective",
    "SettingLocked",
    "autonomous_channels",
    "check_chattiness",
    "check_hours",
    "check_mood",
    "check_policy",
    "check_quiet_hours",
    "check_timezone",
    "effective",
    "guild_settings",
    "locked_keys",
]

MAX_PAUSE_HOURS = 24.0 * 30
MAX_MOOD_HOURS = 24.0 * 7


class BadValue(ValueError):
    """A command's value is not valid; the message says what would be."""


class SettingLocked(Exception):
    """The file locks this setting for the guild: commands cannot change it."""

    def __init__(self, key: str, where: str) -> None:
        super().__init__(f"{key} is locked by the bot's config file ({where}); "
                         "the bot's operator can change it there")
        self.key = key
        self.where = where


class Effective(msgspec.Struct, frozen=True, kw_only=True):
    """One guild's settings after the layers, with where each one comes from.

    ``sources`` maps a key of ``runtime.config.LOCKABLE`` to ``"command"``,
    ``"file: guilds.<id>"`` or ``"file: defaults"``; ``locked`` lists the keys the file
    locks. ``actor`` is what the guild's actor runs with now; ``expires_at`` is when it
    changes by itself (a pause or a held mood ends), ``inf`` for never.
    """

    guild_id: int
    channel_id: int | None
    policy: str
    timezone: str
    quiet_hours: tuple[int, int] | None
    chattiness: float
    paused_until: float | None
    mood: str | None
    mood_until: float | None
    enabled: bool
    sources: dict[str, str]
    locked: frozenset[str]
    actor: ActorSettings
    expires_at: float = math.inf


# --- values a command brings --------------------------------------------------------------

def check_chattiness(level: float) -> float:
    """``level`` in 0..2 (0 silent on her own, 1 as designed, 2 twice as ready).

    Raises:
        BadValue: out of range or not a number.
    """
    try:
        return engine_check_chattiness(level)
    except ValueError as exc:
        raise BadValue(str(exc)) from None


def check_hours(hours: float, *, most: float, what: str) -> float:
    """``hours`` is a positive number of hours, at most ``most``.

    Raises:
        BadValue: zero, negative, not finite or too long.
    """
    if not (isinstance(hours, int | float) and math.isfinite(hours) and 0 < hours <= most):
        raise BadValue(f"{what} takes a number of hours above 0 and at most {most:g}, "
                       f"got {hours!r}")
    return float(hours)


def check_quiet_hours(start: int, end: int) -> tuple[int, int]:
    """``(start, end)``, local whole hours 0..23, different.

    Raises:
        BadValue: out of range, or equal (use ``off`` for no quiet hours).
    """
    for name, h in (("start", start), ("end", end)):
        if not (isinstance(h, int) and 0 <= h <= 23):
            raise BadValue(f"quiet hours {name} must be a whole hour from 0 to 23, got {h!r}")
    if start == end:
        raise BadValue(f"quiet hours need two different hours (start {start} = end {end}); "
                       "use off for none")
    return (start, end)


def check_timezone(name: str) -> str:
    """An IANA time zone the tz database knows (``Europe/Berlin``).

    Raises:
        BadValue: unknown.
    """
    name = name.strip()
    try:
        zone(name)
    except (UnknownTimezoneError, ValueError):
        raise BadValue(f"unknown time zone {name!r}; use an IANA name such as 'UTC', "
                       "'Europe/Berlin' or 'America/New_York'") from None
    return name


def check_mood(name: str) -> str:
    """One of the engine's moods.

    Raises:
        BadValue: unknown (the message lists them).
    """
    name = name.strip().lower()
    if name not in MOOD_NAMES:
        raise BadValue(f"unknown mood {name!r}; valid: {', '.join(MOOD_NAMES)}")
    return name


def check_policy(name: str) -> PolicyName:
    """``v2``, ``v1`` or ``shadow``.

    Raises:
        BadValue: anything else.
    """
    wanted = name.strip().lower()
    for policy in POLICY_NAMES:
        if policy == wanted:
            return policy
    raise BadValue(f"unknown policy {wanted!r}; valid: {', '.join(POLICY_NAMES)}")


# --- the layers ---------------------------------------------------------------------------

# --- the file's layers -------------------------------------------------------------------

def _pick(override: Any, default: Any) -> Any:
    return default if override is None else override


def guild_settings(config: Config, guild_id: int) -> tuple[GuildConfig, int | None, PolicyName]:
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
        affinity=bool(_pick(o.affinity, d.affinity)),
        tone=bool(_pick(o.tone, d.tone)),
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


# --- the commands' layer over them --------------------------------------------------------

_FILE_KEYS = {"channel": "autonomous_channel_id", "policy": "policy", "timezone": "timezone",
              "quiet_hours": "quiet_hours", "chattiness": "chattiness", "pause": "enabled",
              "mood": "rotate_moods"}


def locked_keys(config: Config, guild_id: int) -> frozenset[str]:
    """The keys the file locks for this guild (``[defaults]`` and its own table)."""
    table = config.guilds.get(guild_id)
    return frozenset(config.defaults.locked) | frozenset(table.locked if table else ())


def _file_source(table: GuildOverride | None, guild_id: int, key: str) -> str:
    field = _FILE_KEYS[key]
    if table is not None and getattr(table, field, None) is not None:
        return f"file: guilds.{guild_id}"
    return "file: defaults"


def effective(config: Config, stored: StoredSettings | None, guild_id: int, now: float,
              *, deadlines: dict[str, float] | None = None) -> Effective:
    """Merge the layers for one guild at ``now``.

    Args:
        config: the decoded file.
        stored: what admins set (None: nothing).
        guild_id: the guild.
        now: epoch seconds (a pause or a held mood past its end no longer applies).
        deadlines: the actions' deadlines to share between guilds' settings (built from the
            config when None).

    Returns:
        The effective settings, with their sources and the actor's settings.
    """
    cfg, channel, policy = guild_settings(config, guild_id)
    table = config.guilds.get(guild_id)
    locked = locked_keys(config, guild_id)
    s = stored or StoredSettings()
    sources = {k: _file_source(table, guild_id, k) for k in _FILE_KEYS}
    chattiness = cfg.chattiness
    quiet = cfg.quiet_hours
    timezone = cfg.timezone

    def use(key: str, value: Any) -> bool:
        if value is None or key in locked:
            return False
        sources[key] = "command"
        return True

    if use("channel", s.channel_id):
        channel = s.channel_id or None
    if use("policy", s.policy):
        # A stored name is checked when set; one no longer valid falls back to the file's.
        policy = next((name for name in POLICY_NAMES if name == s.policy), policy)
    if use("timezone", s.timezone):
        timezone = s.timezone  # type: ignore[assignment]
    if use("quiet_hours", s.quiet_hours):
        q = s.quiet_hours or ()
        quiet = (q[0], q[1]) if len(q) == 2 else None
    if use("chattiness", s.chattiness):
        chattiness = float(s.chattiness)  # type: ignore[arg-type]
    expires = math.inf
    paused_until = s.paused_until if s.paused_until is not None and s.paused_until > now \
        else None
    if paused_until is not None and use("pause", paused_until):
        expires = min(expires, paused_until)
    else:
        paused_until = None
    mood_until = s.mood_until if s.mood and s.mood_until is not None and s.mood_until > now \
        else None
    if mood_until is not None and use("mood", mood_until):
        expires = min(expires, mood_until)
    else:
        mood_until = None

    changes: dict[str, Any] = {"timezone": timezone, "quiet_hours": quiet,
                               "has_channel": channel is not None}
    if paused_until is not None:
        changes["enabled"] = False  # replies are the actor's, not the engine's: they stay
    if mood_until is not None:
        changes["rotate_moods"] = False  # the mood set by hand holds until mood_until
    changes["chattiness"] = chattiness
    engine_cfg = msgspec.structs.replace(cfg, **changes)
    rt = config.runtime
    actor = ActorSettings(config=engine_cfg, channel_id=channel, policy=policy,
                          tick_s=rt.tick_s, passivate_after_s=rt.passivate_after_s,
                          reply_cooldown_s=rt.reply_cooldown_s,
                          explain_idle=rt.log_level == "debug",
                          deadlines=deadlines if deadlines is not None
                          else {**DEFAULT_DEADLINES, **config.llm.deadlines})
    return Effective(guild_id=guild_id, channel_id=channel, policy=policy, timezone=timezone,
                     quiet_hours=quiet, chattiness=chattiness, paused_until=paused_until,
                     mood=s.mood if mood_until is not None else None, mood_until=mood_until,
                     enabled=cfg.enabled, sources=sources, locked=locked, actor=actor,
                     expires_at=expires)
