"""Learned activity hours: when people usually talk in a guild, to time unprompted posts.

A guild keeps 168 numbers, one per UTC hour of the week (UTC, so counting needs no time
zone; a guild's week is the same week shifted). Each is a decayed share of those hours in
which people talked: an hour counts the share of its six 10-minute slots that had a human
message (0 for a silent hour, 1 when people talked in every slot), folded in as
``v += (x - v) / 4`` (a week's hour weighs a quarter; the first sight of an hour sets it).
Numbers are kept in thousandths, -1 for an hour not seen yet; no content, no ids. Hours are
folded on the first human message of a new hour, silent hours in between counting 0. The
count and sum of the hours seen are kept beside them, so the factor costs a few lookups.

The factor (``hours_factor``) for a moment says whether people usually talk in the next 30
minutes: the expected share over the half hour ahead (this hour, then the next, weighed by
the time left in this one), each hour of the week blended with the same hour of the other
days (a quarter its own, three quarters the day's: a guild learns its day in a day, and one
week's sight of an hour is mostly noise), against a bar: the higher of 0.8 times the guild's
mean over the hours seen and 0.35 (people talk in a little over one 10-minute slot in
three). At or above the bar the factor is 1.5 (the chance is capped at 1 where it
multiplies); below it, the ratio to the 40th power, floored at 0.001 (a tenth below the bar:
0.015; a sixth: 0.001). It is a threshold rather than a gentle power because the factor
multiplies a per-minute chance while a silence waits, often for hours: any factor much above
1/60 lets the post out within the hour anyway, so only a steep edge moves a post from a poor
hour to a good one. The absolute part of the bar keeps a guild that is rarely lively from
being posted into in its "best" hours when those are still mostly empty; the floor still
lets a post out now and then (over a waking day of silence, with a chance of roughly a quarter
to two thirds, by mood).

It multiplies the chances of the unprompted posts (break_silence, share_tweet); it is 1 until
a day of hours has been seen. Measured on the simulator's traffic
(``bench/bench_chattiness.py --guilds 100 --warmup 7 --days 7 --learning-only``, details in
docs/BENCHMARKS.md): the share of posts a human answers within 30 minutes goes from 60.2% to
78.0% (1.30x) on traffic seed 1 and from 59.9% to 72.3% (1.21x) on seed 2, with about half
the posts.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["HOURS_MIN_SEEN", "HoursState", "fold_hours", "hours_factor"]


class HoursState(Protocol):
    """The learned-hours fields of a guild's state (``engine.state.GuildState``, which
    imports this module: a Protocol here, not that class, keeps the imports one-way)."""

    hours: list[int]
    hours_at: int
    hours_seen: int
    hours_sum: int
    hours_slots: int

HOURS_IN_WEEK = 168
#: Hours that must have been seen before the profile is used.
HOURS_MIN_SEEN = 24
_ALPHA_NUM = 1        # decay: a week's hour weighs 1/4
_ALPHA_DEN = 4
#: The bar: the higher of this times the guild's mean hour, and an absolute share.
BAR_OF_MEAN = 0.8
BAR_MIN = 350         # thousandths: people talk in a little over one 10-minute slot in three
#: Below the bar the factor is (share / bar) to this power: a steep edge, not a gate.
FACTOR_POWER = 40
FACTOR_MIN = 0.001
FACTOR_MAX = 1.5
#: An hour's own weight against the same hour of the other days.
OWN_WEIGHT = 0.25


def fold_hours(state: HoursState, sec: int) -> None:
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


def _fold(state: HoursState, hours: list[int], i: int, slots: int) -> None:
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
    """The share for hour of week ``h``: a quarter itself, three quarters the same hour of
    every day seen (itself included), or the day's alone for an hour not seen yet."""
    same = [v for v in hours[h % 24::24] if v >= 0]
    if not same:
        return None
    day = sum(same) / len(same)
    own = hours[h]
    return day if own < 0 else OWN_WEIGHT * own + (1.0 - OWN_WEIGHT) * day


def hours_factor(state: HoursState, now: float) -> float:
    """The chance factor for an unprompted post at ``now`` (see the module docstring).

    Returns:
        1.5 when the expected share of 10-minute slots with talk over the 30 minutes after
        ``now`` reaches the bar (the higher of 0.8 times the guild's mean and 0.35), else
        (share / bar) ** 40 floored at 0.001; 1.0 until ``HOURS_MIN_SEEN`` hours were seen.
    """
    hours = state.hours
    seen = state.hours_seen
    if seen < HOURS_MIN_SEEN or len(hours) != HOURS_IN_WEEK:
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
    bar = max(BAR_OF_MEAN * mean, BAR_MIN)
    ratio = (w * cur + (1.0 - w) * nxt) / bar
    if ratio >= 1.0:
        return FACTOR_MAX
    return max(FACTOR_MIN, ratio ** FACTOR_POWER)
