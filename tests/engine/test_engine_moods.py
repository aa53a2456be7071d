"""Mood profiles and rotation: hourly, never the same mood twice in a row, asleep in quiet
hours and a waking mood after; and the quiet hours' end across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    ASLEEP,
    MOOD_NAMES,
    MOODS,
    WAKING_MOODS,
    GuildConfig,
    in_quiet_hours,
    new_state,
    rotate_mood,
    set_mood,
)
from engine.localtime import local_time
from engine.moods import next_mood
from tests.kit.enginekit import GID, T0

ORIG_MOODS = ("neutral", "bubbly", "sleepy", "curious", "shy", "serious", "excited", "silly",
              "melancholy", "flirty", "romantic", "irritated", "angry", "asleep")


def test_every_mood_of_the_original_bot_has_a_profile() -> None:
    """All fourteen moods have traits in 0..1; the seed's and the original's values hold."""
    assert set(MOOD_NAMES) == set(ORIG_MOODS)
    for p in MOODS.values():
        assert all(0.0 <= x <= 1.0 for x in (p.energy, p.sociability, p.impulsiveness))
    assert (MOODS["bubbly"].energy, MOODS["bubbly"].sociability,
            MOODS["bubbly"].impulsiveness) == (0.9, 0.95, 0.8)
    assert (MOODS["shy"].energy, MOODS["shy"].sociability,
            MOODS["shy"].impulsiveness) == (0.4, 0.2, 0.2)
    assert MOODS["silly"].impulsiveness == 0.95 and MOODS["serious"].impulsiveness == 0.3
    assert {m for m, p in MOODS.items() if p.shares} == {"curious", "excited"}
    assert ASLEEP not in WAKING_MOODS and len(WAKING_MOODS) == 13


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York",
                                  "Asia/Kolkata"])
def test_rotation_over_two_weeks(zone: str) -> None:
    """Asked every ten minutes for two weeks: the mood changes at most hourly, never to the
    same waking mood, is asleep whenever it is quiet hours and wakes after them."""
    cfg = GuildConfig(timezone=zone, quiet_hours=(1, 7))
    state = new_state(GID, T0)
    seen = [state.mood]
    for step in range(14 * 24 * 6):
        t = T0 + 600 * step
        before = state.mood
        new = rotate_mood(state, cfg, t, 5)
        quiet, _ = in_quiet_hours(cfg, t)
        if quiet:
            assert state.mood == ASLEEP, t
        elif state.mood == ASLEEP:  # she wakes at the first rotation after quiet hours
            assert in_quiet_hours(cfg, t - 3600)[0], t
        if new is not None:
            assert new == state.mood != before
            seen.append(new)
            if before == ASLEEP:
                assert new in WAKING_MOODS
    changes = len(seen) - 1
    # hourly while awake (18 h a day), plus falling asleep and waking: 19 a day
    assert abs(changes - 14 * 19) <= 1  # give or take where the fortnight cuts a day
    assert set(seen) == set(MOOD_NAMES)


def test_rotation_is_hourly_and_first_call_only_schedules() -> None:
    """The first call schedules the next hour; nothing changes before it; then a new mood."""
    cfg = GuildConfig(quiet_hours=None)
    state = new_state(GID, T0 + 120, mood="shy")
    assert rotate_mood(state, cfg, T0 + 120, 1) is None
    assert state.next_rotation_at == T0 + 3600
    assert rotate_mood(state, cfg, T0 + 3599, 1) is None
    new = rotate_mood(state, cfg, T0 + 3600, 1)
    assert new is not None and new != "shy"
    assert state.next_rotation_at == T0 + 7200


def test_a_mood_set_by_hand_holds_until_the_next_rotation() -> None:
    """An operator's mood holds until the next rotation, except that quiet hours put her
    to sleep."""
    cfg = GuildConfig(quiet_hours=(1, 7))
    state = new_state(GID, T0)
    rotate_mood(state, cfg, T0, 1)
    set_mood(state, "angry")
    assert rotate_mood(state, cfg, T0 + 1800, 1) is None and state.mood == "angry"
    night = datetime(2026, 11, 24, 2, 30, tzinfo=UTC).timestamp()
    state.next_rotation_at = night + 1800
    assert rotate_mood(state, cfg, night, 1) == ASLEEP


def test_no_rotation_when_disabled() -> None:
    """A guild whose moods do not rotate keeps its mood, even in quiet hours."""
    cfg = GuildConfig(rotate_moods=False)
    state = new_state(GID, T0, mood="bubbly")
    for h in range(48):
        assert rotate_mood(state, cfg, T0 + 3600 * h, 1) is None
    assert state.mood == "bubbly"


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**62), every=st.sampled_from([600, 3600, 5 * 3600, 13 * 3600]),
       zone=st.sampled_from(["UTC", "Asia/Kolkata", "America/New_York"]))
def test_mood_sequence_does_not_depend_on_how_often_she_looks(seed: int, every: int,
                                                              zone: str) -> None:
    """A guild asked every ten minutes and one asked rarely (passivated) have the same mood
    whenever both look: rotation is a function of the seed, the guild and the hour."""
    cfg = GuildConfig(timezone=zone, quiet_hours=(23, 6))
    often, rarely = new_state(GID, T0), new_state(GID, T0)
    rotate_mood(often, cfg, T0, seed)
    rotate_mood(rarely, cfg, T0, seed)
    for step in range(1, 3 * 24 * 6):
        t = T0 + 600 * step
        rotate_mood(often, cfg, t, seed)
        if (600 * step) % every == 0:
            rotate_mood(rarely, cfg, t, seed)
            assert rarely.mood == often.mood, t


@given(current=st.sampled_from(MOOD_NAMES), hour=st.integers(0, 10**7),
       seed=st.integers(0, 2**62))
def test_next_mood_never_repeats_and_sleeps_in_quiet_hours(current: str, hour: int,
                                                           seed: int) -> None:
    """``next_mood`` is never the current mood outside quiet hours, and always asleep in them."""
    awake = next_mood(current, hour_index=hour, in_quiet_hours=False, seed=seed, guild_id=GID)
    assert awake != current and awake in WAKING_MOODS
    assert next_mood(current, hour_index=hour, in_quiet_hours=True, seed=seed,
                     guild_id=GID) == ASLEEP


# --- quiet hours and daylight saving ---------------------------------------------------------

DST_NIGHTS = [
    ("America/New_York", datetime(2026, 3, 8, 4, 0, tzinfo=UTC)),    # spring forward
    ("America/New_York", datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),   # fall back
    ("Europe/Berlin", datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 14, 0, tzinfo=UTC)),  # a 30-minute shift
    ("Asia/Kolkata", datetime(2026, 6, 1, 20, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("zone", "night"), DST_NIGHTS)
@pytest.mark.parametrize("quiet", [(1, 7), (2, 3), (22, 6), (0, 24)])
def test_quiet_hours_end_is_exact_across_daylight_saving(zone: str, night: datetime,
                                                         quiet: tuple[int, int]) -> None:
    """Inside quiet hours the reported end is the first second outside them, checked second
    by second around it, on nights when the clocks change."""
    cfg = GuildConfig(timezone=zone, quiet_hours=quiet)
    start = int(night.timestamp())
    for t in range(start - 6 * 3600, start + 12 * 3600, 997):
        inside, ends = in_quiet_hours(cfg, t + 0.25)
        if not inside:
            assert ends == 0.0
            continue
        if quiet == (0, 24):
            assert ends > t + 20 * 3600  # quiet all day: look again tomorrow
            continue
        assert ends > t
        assert not in_quiet_hours(cfg, ends)[0]
        assert in_quiet_hours(cfg, ends - 1)[0]
        assert local_time(cfg, ends).minute == 0 or zone == "Australia/Lord_Howe"
        # and nothing in between was already outside
        for probe in range(t + 1, int(ends), 600):
            assert in_quiet_hours(cfg, probe)[0]
