"""A guild's local time: its time zone, its quiet hours and when they end.

Quiet hours end at a local hour boundary. That moment is found by stepping over real-time hour
boundaries, never by wall-clock arithmetic, so a daylight-saving change during the night can
make "when to look next" early by nothing and late by nothing.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import UnknownTimezoneError

if TYPE_CHECKING:  # engine.state checks zone names with zone(), so no import at run time
    from engine.state import GuildConfig

__all__ = ["in_quiet_hours", "local_time", "zone"]

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


def local_time(cfg: GuildConfig, now: float) -> datetime:
    """The guild's local wall-clock time at ``now`` (epoch seconds)."""
    return datetime.fromtimestamp(now, zone(cfg.timezone))


def _inside(hour: int, start: int, end: int) -> bool:
    return (start <= hour < end) if start <= end else (hour >= start or hour < end)


def in_quiet_hours(cfg: GuildConfig, now: float) -> tuple[bool, float]:
    """Whether ``now`` is inside the guild's quiet hours, and if so when they end.

    Returns:
        ``(inside, ends_at)``: ``ends_at`` is the epoch second of the first local hour
        boundary outside the quiet hours (exact across DST changes), or 0.0 when not inside.
    """
    if cfg.quiet_hours is None:
        return False, 0.0
    start, end = cfg.quiet_hours
    tz = zone(cfg.timezone)
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
