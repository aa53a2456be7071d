"""A guild's local time: its time zone, its quiet hours and when they end.

Quiet hours end at a local hour boundary. That moment is found by stepping over real-time hour
boundaries, never by wall-clock arithmetic, so a daylight-saving change during the night can
make "when to look next" early by nothing and late by nothing. Every decision asks whether it
is inside quiet hours, so the answer is cached per quarter hour of UTC (local hours start on a
UTC quarter hour in every zone of today's tz database; a quarter hour with a boundary inside is
worked out exactly instead). Mood rotation follows local period boundaries
(``next_local_boundary``), so a +5:30 zone rotates on its own hours.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import UnknownTimezoneError

__all__ = ["Zoned", "in_quiet_hours", "local_index", "local_time", "next_local_boundary", "zone"]


class Zoned(Protocol):
    """What local time needs of a guild's settings (``engine.state.GuildConfig``, which
    imports this module: a Protocol here, not that class, keeps the imports one-way)."""

    @property
    def timezone(self) -> str: ...

    @property
    def quiet_hours(self) -> tuple[int, int] | None: ...

_SCAN_HOURS = 30  # a night is at most 24 h plus a DST hour; the rest is margin


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name.

    Raises:
        UnknownTimezoneError: the tz database does not know ``name``.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UnknownTimezoneError(name) from None


def local_time(cfg: Zoned, now: float) -> datetime:
    """The guild's local wall-clock time at ``now`` (epoch seconds)."""
    return datetime.fromtimestamp(now, zone(cfg.timezone))


def _inside(hour: int, start: int, end: int) -> bool:
    return (start <= hour < end) if start <= end else (hour >= start or hour < end)


def in_quiet_hours(cfg: Zoned, now: float) -> tuple[bool, float]:
    """Whether ``now`` is inside the guild's quiet hours, and if so when they end.

    Returns:
        ``(inside, ends_at)``: ``ends_at`` is the epoch second of the first local hour
        boundary outside the quiet hours (exact across DST changes), or 0.0 when not inside.
    """
    qh = cfg.quiet_hours
    if qh is None:
        return False, 0.0
    slot = int(now // 900.0)
    key = id(cfg)
    last = _last.get(key)
    if last is not None and last[0] is cfg and last[1] == slot:  # same settings, same slot
        return last[2]
    hit = _quiet_slot(cfg.timezone, qh, slot)
    if hit is None:
        return _quiet_exact(cfg.timezone, qh, now)
    if len(_last) >= _LAST_MAX:
        _last.clear()
    _last[key] = (cfg, slot, hit)  # one tuple, replaced whole
    return hit


#: The last answer of in_quiet_hours per settings object (by identity: the settings, the
#: quarter hour, the answer). Guilds take turns (one event each), so one entry for the
#: last caller missed nearly always; an identity check is cheaper than the cache's hashing.
#: The entry holds the settings, so an id is never taken for another object's.
_LAST_MAX = 16384
_last: dict[int, tuple[object, int, tuple[bool, float]]] = {}


@lru_cache(maxsize=4096)
def _quiet_slot(timezone: str, qh: tuple[int, int], slot: int) -> tuple[bool, float] | None:
    """The quiet-hours answer for the whole UTC quarter hour ``slot``, or None if a local
    hour boundary falls inside it (then each moment is worked out on its own)."""
    t0 = slot * 900.0
    tz = zone(timezone)
    a = datetime.fromtimestamp(t0, tz)
    b = datetime.fromtimestamp(t0 + 899.0, tz)
    if a.hour != b.hour or a.utcoffset() != b.utcoffset():
        return None
    return _quiet_exact(timezone, qh, t0)


def _quiet_exact(timezone: str, qh: tuple[int, int], now: float) -> tuple[bool, float]:
    start, end = qh
    tz = zone(timezone)
    t = datetime.fromtimestamp(now, tz)
    if not _inside(t.hour, start, end):
        return False, 0.0
    # Integer seconds from here on, so no boundary lands a microsecond short of itself.
    at = math.floor(now)
    for _ in range(_SCAN_HOURS):
        at += 3600 - (t.minute * 60 + t.second)  # the next local hour boundary
        t = datetime.fromtimestamp(at, tz)
        if not _inside(t.hour, start, end):
            return True, float(at)
    return True, float(at)  # quiet hours covering the whole day: look again tomorrow


def _offset(tz: ZoneInfo, t: float) -> float:
    off = datetime.fromtimestamp(t, tz).utcoffset()
    return off.total_seconds() if off is not None else 0.0


def next_local_boundary(cfg: Zoned, t: float, period: float) -> float:
    """The first moment after ``t`` at which local time (the guild's zone) is a whole
    multiple of ``period`` seconds since local midnight of 1970-01-01: for an hourly period,
    the next local hour. Across a UTC offset change, the earlier of the boundaries by the
    old and the new offset."""
    tz = zone(cfg.timezone)
    off = _offset(tz, t)
    nb = ((t + off) // period + 1) * period - off
    off2 = _offset(tz, nb)
    if off2 != off:
        nb2 = ((t + off2) // period + 1) * period - off2
        if t < nb2 < nb:
            nb = nb2
    return nb if nb > t else nb + period


def local_index(cfg: Zoned, t: float, period: float) -> int:
    """Which local period ``t`` falls in (the rotation's roll is drawn per local period)."""
    return int((t + _offset(zone(cfg.timezone), t)) // period)
