"""Learned activity hours: a bounded profile of when people talk, used to time unprompted
posts, named in explanations, off with ``learn_hours = false``."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine import (
    GuildConfig,
    decide,
    decode_state,
    encode_state,
    new_state,
    observe_message,
    seed_online,
)
from engine.hours import hours_factor
from engine.rules import BREAK_SILENCE
from engine.state import GuildState
from tests.kit.enginekit import GID

MONDAY = 1795392000.0  # 2026-11-23 00:00 UTC, a Monday
WEEK = 7 * 86400


def _evening_guild(weeks: int = 2, every_min: int = 7) -> GuildState:
    """People talk from 18:00 to 23:00 UTC every day (a message every ``every_min``
    minutes from the hour's start), never otherwise."""
    state = new_state(GID, MONDAY, mood="bubbly")
    for day in range(7 * weeks):
        for hour in range(18, 23):
            for m in range(0, 60, every_min):
                observe_message(state, MONDAY + day * 86400 + hour * 3600 + m * 60)
    return state


def _profile(values: list[int]) -> GuildState:
    """A guild whose learned hours are ``values`` (168, thousandths, -1 unseen)."""
    state = new_state(GID, MONDAY)
    state.hours = list(values)
    state.hours_seen = sum(v >= 0 for v in values)
    state.hours_sum = sum(v for v in values if v >= 0)
    state.hours_at = (MONDAY + 2 * WEEK) // 3600
    return state


def _with_ten_oclock(share: int, others: int = 500) -> GuildState:
    """Every hour of the week at ``others``, except 10:00 UTC of every day at ``share``."""
    return _profile([share if h % 24 == 10 else others for h in range(168)])


def test_the_profile_learns_the_evening_and_stays_bounded() -> None:
    """After two weeks the factor is high in the evening and near zero at 10:00, the
    profile has 168 numbers, and it survives a snapshot."""
    state = _evening_guild()
    end = MONDAY + 2 * WEEK
    assert hours_factor(state, end + 19 * 3600) >= 1.0
    assert hours_factor(state, end + 10 * 3600) < 0.01
    assert len(state.hours) == 168
    back = decode_state(encode_state(state))
    assert hours_factor(back, end + 10 * 3600) == hours_factor(state, end + 10 * 3600)


def test_a_new_guild_has_no_learned_factor() -> None:
    """With less than a day of hours seen the factor is 1."""
    state = new_state(GID, MONDAY)
    for h in range(10):
        observe_message(state, MONDAY + h * 3600)
    assert hours_factor(state, MONDAY + 11 * 3600) == 1.0


def _silence_breaks(cfg: GuildConfig, hour: int) -> int:
    hits = 0
    for seed in range(40):
        state = _evening_guild()
        seed_online(state, [1])
        t = MONDAY + 2 * WEEK + hour * 3600  # the last message was yesterday 22:56
        d = decide(state, cfg, t, seed, explain=seed == 0)
        hits += d.action == BREAK_SILENCE
        if seed == 0:
            check = next(c for c in d.checks if c.action == BREAK_SILENCE)
            names = {c.name: c.value for c in check.conditions}
            assert "learned_hours" in names
            assert (names["learned_hours"] == 1.0) == (not cfg.learn_hours)
    return hits


def test_learning_holds_unprompted_posts_back_in_hours_nobody_talks() -> None:
    """A long silence at 10:00, when this guild never talks, is broken in far fewer seeds
    with learning than without; at 19:00 learning holds nothing back."""
    on = GuildConfig(rotate_moods=False, quiet_hours=None)
    off = GuildConfig(rotate_moods=False, quiet_hours=None, learn_hours=False)
    assert _silence_breaks(on, 10) <= 2 < _silence_breaks(off, 10)
    assert _silence_breaks(on, 19) >= _silence_breaks(off, 19) > 20


def test_a_guild_never_lively_is_held_back_even_in_its_best_hours() -> None:
    """One 10-minute slot of talk per evening hour (a sixth) stays under the absolute bar
    (0.35), so even its evening gets the floor; three slots an hour (a half) clear it."""
    thin = _evening_guild(every_min=60)
    busy = _evening_guild(every_min=20)
    at = MONDAY + 2 * WEEK + 19 * 3600
    assert hours_factor(thin, at) == 0.001
    assert hours_factor(busy, at) == 1.5


def test_the_factor_has_a_steep_edge_below_the_bar() -> None:
    """Against a bar of 0.8 times the guild's mean: a hundredth or so a tenth below it,
    the floor a fifth below, the cap above it (10:00 sharp, so only that hour counts)."""
    at = MONDAY + 2 * WEEK + 10 * 3600
    assert hours_factor(_with_ten_oclock(420), at) == 1.5   # 1.06x the bar
    assert 0.01 < hours_factor(_with_ten_oclock(360), at) < 0.04  # 0.91x
    assert hours_factor(_with_ten_oclock(320), at) == 0.001  # 0.81x


def test_an_hours_own_share_weighs_a_quarter_against_the_days() -> None:
    """One silent Monday 10:00 in a guild busy at 10:00 every other day still clears the
    bar (the day's 10:00 weighs three quarters), and a busy Monday 10:00 in a guild silent
    at 10:00 on the other days does not."""
    at = MONDAY + 2 * WEEK + 10 * 3600  # a Monday
    quiet_monday = [500 if h % 24 == 10 else 200 for h in range(168)]
    quiet_monday[10] = 0
    assert hours_factor(_profile(quiet_monday), at) == 1.5
    busy_monday = [0 if h % 24 == 10 else 200 for h in range(168)]
    busy_monday[10] = 1000
    assert hours_factor(_profile(busy_monday), at) < 0.01


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(-1, 1000), min_size=168, max_size=168),
       hour=st.integers(0, 167), low=st.integers(0, 1000), more=st.integers(0, 1000),
       into=st.floats(0.0, 3599.0))
@example(values=[0] * 168, hour=10, low=0, more=10, into=0.0)  # a profile gone all silent
def test_a_livelier_hour_ahead_never_lowers_the_factor(values: list[int], hour: int, low: int,
                                                       more: int, into: float) -> None:
    """Raising the same hour of every day, the hour ahead, never lowers the factor for it
    (the mean rises with it, but slower), and the factor stays in [0.001, 1.5]."""
    at = MONDAY + 2 * WEEK + hour * 3600 + into
    high = min(1000, low + more)
    lo = [low if h % 24 == hour % 24 or h % 24 == (hour + 1) % 24 else v
          for h, v in enumerate(values)]
    hi = [high if h % 24 == hour % 24 or h % 24 == (hour + 1) % 24 else v
          for h, v in enumerate(values)]
    f_lo, f_hi = hours_factor(_profile(lo), at), hours_factor(_profile(hi), at)
    assert f_lo <= f_hi
    assert all(f == 1.0 or 0.001 <= f <= 1.5 for f in (f_lo, f_hi))
