"""The signals the rules read, worked out from a guild's state at one moment.

momentum = ``min(1, msgs_5m / 20)``; *someone around* = a human online (tracked by id, or
counted past the cap), or a human message or join in the last hour; ``quiet_for`` counts
from the later of the last human message and the persona's last action (or from when the
guild was first observed, if neither happened yet).
"""

from __future__ import annotations

import math

import msgspec

from engine.localtime import local_time
from engine.state import (
    NEVER,
    WINDOW_1H,
    GuildConfig,
    GuildState,
    check_time,
    evict,
    settle_clock,
)

__all__ = [
    "AROUND_WINDOW_S",
    "MOMENTUM_FULL_AT",
    "Signals",
    "count_drops_below_at",
    "quiet_since",
    "signals",
    "someone_around",
]

AROUND_WINDOW_S = 3600.0
MOMENTUM_FULL_AT = 20


class Signals(msgspec.Struct, frozen=True, gc=False):
    """The guild's signals at one moment (None for "never")."""

    mood: str
    msgs_5m: int
    msgs_1h: int
    momentum: float
    messages_since_appearance: int
    since_last_action: float | None
    quiet_for: float
    online: int
    someone_around: bool
    local_hour: int
    weekend: bool


def quiet_since(state: GuildState) -> float:
    """When the current quiet began: the last human message or action, or first sight."""
    return max(state.last_human_at, state.last_action_at, state.observed_since)


def someone_around(state: GuildState, now: float) -> bool:
    """A human is online, or a human wrote or joined in the last hour."""
    return bool(state.online) or state.online_extra > 0 \
        or now - state.last_human_at < AROUND_WINDOW_S \
        or now - state.last_join_at < AROUND_WINDOW_S


def count_drops_below_at(state: GuildState, limit: float) -> float:
    """When ``msgs_1h`` drops below ``limit`` if no message arrives; ``inf`` if it is below
    already (the caller asks only when it is not).

    Walks back from the newest bucket, so it costs at most ``limit`` steps however busy the
    hour was: the count drops below ``limit`` once the newest bucket that brings the newest
    ones up to ``limit`` has left.
    """
    secs, counts = state.b_secs, state.b_counts
    s = 0
    for i in range(len(secs) - 1, state.head_1h - 1, -1):
        s += counts[i]
        if s >= limit:
            # The bucket of second x leaves the window at second x + 3600 (see state.evict).
            return float(secs[i] + WINDOW_1H)
    return math.inf


def signals(state: GuildState, cfg: GuildConfig, now: float) -> Signals:
    """The signals of ``state`` at ``now`` (for explanations and inspection).

    Raises:
        InvalidTimeError: ``now`` is negative or not finite.
    """
    check_time(now)
    settle_clock(state, now)
    evict(state, int(now))
    t = local_time(cfg, now)
    return Signals(
        mood=state.mood,
        msgs_5m=state.sum_5m,
        msgs_1h=state.sum_1h,
        momentum=min(1.0, state.sum_5m / MOMENTUM_FULL_AT),
        messages_since_appearance=state.messages_since_appearance,
        since_last_action=(now - state.last_action_at) if state.last_action_at != NEVER
        else None,
        quiet_for=max(0.0, now - quiet_since(state)),
        online=len(state.online) + state.online_extra,
        someone_around=someone_around(state, now),
        local_hour=t.hour,
        weekend=t.weekday() >= 5,
    )
