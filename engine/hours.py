"""Learned activity hours: when people usually talk in a guild, to time unprompted posts.

A guild keeps 168 numbers, one per UTC hour of the week (UTC, so counting needs no time
zone; a guild's week is the same week shifted). Each is a decayed share of those hours in
which people talked: an hour with ``n`` human messages counts ``min(1, n / 6)``, folded in as
``v += (x - v) / 4`` (a week's hour weighs a quarter; the first sight of an hour sets it).
Numbers are kept in thousandths, -1 for an hour not seen yet; no content, no ids. Hours are
folded on the first human message of a new hour, silent hours in between counting 0.

The factor (``hours_factor``) for a moment is how likely people are to talk in the next
30 minutes, relative to the guild's usual: the expected share over the half hour ahead
(this hour, then the next), each hour of the week blended with the same hour of the other
days (so a guild learns its day in a day, its week in a week), divided by the mean over the
hours seen, squared and clamped to [0.05, 1.5]. It multiplies the chances of the unprompted
posts (break_silence, share_tweet): likelier when people are usually around, rarer when not.
It is 1 until a day of hours has been seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # engine.state calls fold_hours, so no import at run time
    from engine.state import GuildState

__all__ = ["HOURS_MIN_SEEN", "fold_hours", "hours_factor"]

HOURS_IN_WEEK = 168
#: Hours that must have been seen before the profile is used.
HOURS_MIN_SEEN = 24
_FULL_AT = 6          # messages that make an hour count as fully active
_ALPHA_NUM = 1        # decay: a week's hour weighs 1/4
_ALPHA_DEN = 4
FACTOR_MIN = 0.05
FACTOR_MAX = 1.5


def fold_hours(state: GuildState, sec: int) -> None:
    """Fold the hours ended by ``sec`` (the first human message of a new hour) into the
    profile: the hour being counted with its messages, the silent ones after it with 0."""
    now_h = sec // 3600
    at = state.hours_at
    if at < 0 or now_h <= at:  # the first message ever (or a clock stepped back)
        state.hours_at = max(at, now_h)
        state.hours_mark = state.human_messages
        return
    hours = state.hours
    if len(hours) != HOURS_IN_WEEK:
        hours[:] = [-1] * HOURS_IN_WEEK
    n = state.human_messages - state.hours_mark
    _fold(hours, at % HOURS_IN_WEEK, n)
    for k in range(1, min(now_h - at, HOURS_IN_WEEK)):
        _fold(hours, (at + k) % HOURS_IN_WEEK, 0)
    state.hours_at = now_h
    state.hours_mark = state.human_messages


def _fold(hours: list[int], i: int, n: int) -> None:
    x = 1000 if n >= _FULL_AT else n * 1000 // _FULL_AT
    v = hours[i]
    hours[i] = x if v < 0 else v + ((x - v) * _ALPHA_NUM) // _ALPHA_DEN


def _expected(hours: list[int], h: int) -> float | None:
    """The share for hour of week ``h``: itself blended with the same hour of other days."""
    same = [v for v in hours[h % 24::24] if v >= 0]
    if not same:
        return None
    day = sum(same) / len(same)
    own = hours[h]
    return day if own < 0 else 0.5 * (own + day)


def hours_factor(state: GuildState, now: float) -> float:
    """How much likelier than usual people are to talk in the 30 minutes after ``now``,
    squared and clamped to [0.05, 1.5]; 1.0 until ``HOURS_MIN_SEEN`` hours were seen."""
    hours = state.hours
    if len(hours) != HOURS_IN_WEEK:
        return 1.0
    seen = [v for v in hours if v >= 0]
    if len(seen) < HOURS_MIN_SEEN:
        return 1.0
    mean = sum(seen) / len(seen)
    if mean <= 0:
        return 1.0
    h = int(now // 3600)
    w = min(1.0, (3600.0 - now % 3600.0) / 1800.0)  # of the half hour ahead, in this hour
    cur = _expected(hours, h % HOURS_IN_WEEK)
    nxt = _expected(hours, (h + 1) % HOURS_IN_WEEK)
    if cur is None and nxt is None:
        return 1.0
    if cur is None:
        cur = nxt
    if nxt is None:
        nxt = cur
    assert cur is not None and nxt is not None
    ratio = (w * cur + (1.0 - w) * nxt) / mean
    return min(FACTOR_MAX, max(FACTOR_MIN, ratio * ratio))
