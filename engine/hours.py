"""Learned activity hours: when people usually talk in a guild, to time unprompted posts.

A guild keeps 168 numbers, one per UTC hour of the week (UTC, so counting needs no time
zone; a guild's week is the same week shifted). Each is a decayed share of those hours in
which people talked: an hour counts the share of its six 10-minute slots that had a human
message (0 for a silent hour, 1 when people talked in every slot), folded in as
``v += (x - v) / 4`` (a week's hour weighs a quarter; the first sight of an hour sets it).
Numbers are kept in thousandths, -1 for an hour not seen yet; no content, no ids. Hours are
folded on the first human message of a new hour, silent hours in between counting 0. The
count and sum of the hours seen are kept beside them, so the factor costs a few lookups.

The factor (``hours_factor``) for a moment is how likely people are to talk in the next
30 minutes, relative to the guild's usual: the expected share over the half hour ahead
(this hour, then the next), each hour of the week blended with the same hour of the other
days (so a guild learns its day in a day, its week in a week), divided by the mean over the
hours seen, to the 8th power and clamped to [0.001, 1.5]: close to a gate, so an hour when
people usually talk less than the guild's average all but holds her unprompted posts back,
and a busier one lets them out at their usual chance (capped at 1). It multiplies the
chances of the unprompted posts (break_silence, share_tweet); it is 1 until a day of hours
has been seen. Measured on the simulator's traffic (``bench/bench_chattiness.py``, 100
guilds, a week of history, a week counted): the share of posts a human answers within 30
minutes goes from 60.2% to 69.2% (1.15x), with a third fewer posts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # engine.state calls fold_hours, so no import at run time
    from engine.state import GuildState

__all__ = ["HOURS_MIN_SEEN", "fold_hours", "hours_factor"]

HOURS_IN_WEEK = 168
#: Hours that must have been seen before the profile is used.
HOURS_MIN_SEEN = 24
_ALPHA_NUM = 1        # decay: a week's hour weighs 1/4
_ALPHA_DEN = 4
FACTOR_POWER = 8
FACTOR_MIN = 0.001
FACTOR_MAX = 1.5


def fold_hours(state: GuildState, sec: int) -> None:
    """Fold the hours ended by ``sec`` (the first human message of a new hour) into the
    profile: the hour being counted with its slots, the silent ones after it with 0."""
    now_h = sec // 3600
    at = state.hours_at
    if at < 0 or now_h <= at:  # the first message ever (or a clock stepped back)
        state.hours_at = max(at, now_h)
        return
    hours = state.hours
    if len(hours) != HOURS_IN_WEEK:
        hours[:] = [-1] * HOURS_IN_WEEK
        state.hours_seen = state.hours_sum = 0
    # The slot of the message that ends the hour is counted after this, for the new hour.
    _fold(state, hours, at % HOURS_IN_WEEK, state.hours_slots)
    state.hours_slots = 0
    for k in range(1, min(now_h - at, HOURS_IN_WEEK)):
        _fold(state, hours, (at + k) % HOURS_IN_WEEK, 0)
    state.hours_at = now_h


def _fold(state: GuildState, hours: list[int], i: int, slots: int) -> None:
    x = min(1000, slots * 1000 // 6)
    v = hours[i]
    if v < 0:
        hours[i] = x
        state.hours_seen += 1
        state.hours_sum += x
    else:
        hours[i] = v + ((x - v) * _ALPHA_NUM) // _ALPHA_DEN
        state.hours_sum += hours[i] - v


def _expected(hours: list[int], h: int) -> float | None:
    """The share for hour of week ``h``: itself blended with the same hour of other days."""
    same = [v for v in hours[h % 24::24] if v >= 0]
    if not same:
        return None
    day = sum(same) / len(same)
    own = hours[h]
    return day if own < 0 else 0.5 * (own + day)


def hours_factor(state: GuildState, now: float) -> float:
    """How much likelier than usual people are to talk in the 30 minutes after ``now``, to
    the 8th power, clamped to [0.001, 1.5]; 1.0 until ``HOURS_MIN_SEEN`` hours were seen."""
    hours = state.hours
    seen = state.hours_seen
    if seen < HOURS_MIN_SEEN or len(hours) != HOURS_IN_WEEK or state.hours_sum <= 0:
        return 1.0
    mean = state.hours_sum / seen
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
    return min(FACTOR_MAX, max(FACTOR_MIN, ratio ** FACTOR_POWER))
