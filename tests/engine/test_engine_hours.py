"""Learned activity hours: a bounded profile of when people talk, used to time unprompted
posts, named in explanations, off with ``learn_hours = false``."""

from __future__ import annotations

from engine import (
    BREAK_SILENCE,
    GuildConfig,
    decide,
    decode_state,
    encode_state,
    hours_factor,
    new_state,
    observe_message,
    seed_online,
)
from tests.engine.enginekit import GID

MONDAY = 1795392000.0  # 2026-11-23 00:00 UTC, a Monday
WEEK = 7 * 86400


def _evening_guild(weeks: int = 2) -> object:
    """People talk from 18:00 to 23:00 UTC every day, never otherwise."""
    state = new_state(GID, MONDAY, mood="bubbly")
    for day in range(7 * weeks):
        for hour in range(18, 23):
            for m in range(0, 60, 7):
                observe_message(state, MONDAY + day * 86400 + hour * 3600 + m * 60)
    return state


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
