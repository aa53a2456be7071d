"""Guild state: exact windows, bounded memory under floods, snapshots and their errors, and
clear errors for bad moods and bad times."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    MAX_ONLINE,
    MOOD_NAMES,
    AutonomousEngine,
    GuildConfig,
    GuildState,
    InvalidTimeError,
    SnapshotError,
    SnapshotVersionError,
    UnknownMoodError,
    UnknownTimezoneError,
    decide,
    decide_v1,
    decode_state,
    encode_state,
    mark_pending,
    msgs_5m,
    new_state,
    observe_join,
    observe_message,
    observe_messages,
    observe_presence,
    profile_for,
    record_action,
    record_failure,
    restore_state,
    rotate_mood,
    set_mood,
    signals,
)
from engine.presence import engaged_key
from engine.signals import count_drops_below_at
from engine.state import MAX_ENGAGED, MAX_OPPORTUNITIES, SCHEMA_VERSION, msgs_1h
from tests.kit.enginekit import CFG, GID, T0, FakeClock, copy_state, events, replay

# --- windows -------------------------------------------------------------------------------

def test_windows_are_exact_to_the_second() -> None:
    """A message counts in the 5-minute window for 300 s and in the hour for 3600 s."""
    state = new_state(GID, T0)
    observe_message(state, T0 + 0.5)
    assert (msgs_5m(state, T0 + 299.9), msgs_1h(state, T0 + 299.9)) == (1, 1)
    assert (msgs_5m(state, T0 + 300), msgs_1h(state, T0 + 300)) == (0, 1)
    assert msgs_1h(state, T0 + 3599.9) == 1
    assert msgs_1h(state, T0 + 3600) == 0


@settings(max_examples=100, deadline=None)
@given(times=st.lists(st.floats(0, 20_000, allow_nan=False), max_size=300),
       probe=st.floats(0, 25_000, allow_nan=False))
def test_window_counts_match_a_brute_force_count(times: list[float], probe: float) -> None:
    """Whatever the arrival times (in order), the window counts equal a brute-force count of
    the messages whose second lies inside each window."""
    times.sort()
    state = new_state(GID, T0)
    for t in times:
        observe_message(state, T0 + t)
    now = T0 + max(probe, times[-1] if times else 0.0)
    sec = int(now)
    want_5m = sum(1 for t in times if int(T0 + t) > sec - 300)
    want_1h = sum(1 for t in times if int(T0 + t) > sec - 3600)
    sig = signals(state, CFG, now)
    assert (sig.msgs_5m, sig.msgs_1h) == (want_5m, want_1h)
    assert sig.momentum == min(1.0, want_5m / 20)


def test_coalesced_messages_count_like_single_ones() -> None:
    """A coalesced run of messages counts exactly as many single messages in that second."""
    one, many = new_state(GID, T0), new_state(GID, T0)
    for _ in range(37):
        observe_message(one, T0 + 5.5)
    observe_messages(many, 37, T0 + 5.0, T0 + 5.5)
    observe_messages(many, 0, T0 + 5.0, T0 + 5.5)
    assert encode_state(one) == encode_state(many)
    with pytest.raises(ValueError, match="count"):
        observe_messages(many, -1, T0, T0)


def test_time_going_backwards_counts_in_the_newest_second() -> None:
    """A late event (time going backwards) still counts, without corrupting the windows."""
    state = new_state(GID, T0)
    observe_message(state, T0 + 100)
    observe_message(state, T0 + 50)
    assert msgs_5m(state, T0 + 100) == 2
    assert msgs_5m(state, T0 + 400) == 0


# --- bounded memory ----------------------------------------------------------------------------

def test_a_flood_of_two_million_messages_in_half_an_hour_keeps_state_small() -> None:
    """Two million human messages in half an hour (with decisions along the way) leave the
    state's lists bounded and its snapshot a few tens of KB, and it stays so an hour on."""
    state = new_state(GID, T0, mood="bubbly")
    n = 2_000_000
    step = 1800.0 / n
    for i in range(n):
        observe_message(state, T0 + i * step)
        if i % 10_000 == 0:
            decide(state, CFG, T0 + i * step, 1)
    size = len(encode_state(state))
    assert state.human_messages == n
    assert msgs_1h(state, T0 + 1800) == n
    assert len(state.b_secs) == len(state.b_counts) <= 3600 + 256
    assert size < 64 * 1024, size
    for i in range(7200):  # a steady trickle for two more hours: old buckets are compacted
        observe_message(state, T0 + 1800 + i)
    assert msgs_1h(state, T0 + 9000) == 3600 - 1
    assert len(state.b_secs) <= 3600 + 256
    assert len(encode_state(state)) < 64 * 1024


def test_presence_joins_and_engagements_are_capped() -> None:
    """Floods of presence updates, activity starts, joins and engagements stay within their
    caps, and the snapshot stays well under a megabyte."""
    state = new_state(GID, T0, mood="bubbly")
    for uid in range(50_000):
        observe_presence(state, T0 + uid * 0.01, uid, "online", f"Game {uid}", False, CFG)
        observe_join(state, T0 + uid * 0.01, 10**6 + uid, False)
        record_action(state, T0 + uid * 0.01, "engage_user", uid, f"Game {uid}")
    assert len(state.online) == MAX_ONLINE
    assert len(state.opportunities) <= MAX_OPPORTUNITIES  # engaging closes them
    assert len(state.engaged) == MAX_ENGAGED
    for uid in range(1000):
        observe_join(state, T0 + 600, 2 * 10**6 + uid, False)
    assert len(state.opportunities) == MAX_OPPORTUNITIES
    assert len(encode_state(state)) < 1024 * 1024
    observe_presence(state, T0 + 600, 0, "offline", None, False, CFG)
    assert len(state.online) == MAX_ONLINE - 1


# --- snapshots ---------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(history=events(max_size=100))
def test_snapshot_round_trips_any_state(history: list[tuple[str, int, int]]) -> None:
    """Any state built from events encodes and decodes to an equal state."""
    state, _ = replay(history, CFG)
    data = encode_state(state)
    assert isinstance(data, bytes)
    state.counted.clear()  # live only: written empty (engine.deletions, engine.tone)
    state.reacted.clear()
    assert decode_state(data) == state
    assert msgspec.msgpack.decode(data)["version"] == SCHEMA_VERSION


def test_snapshot_of_another_version_is_refused_clearly() -> None:
    """A snapshot written by another schema version is refused, naming both versions."""
    state = new_state(GID, T0)
    state.version = SCHEMA_VERSION + 1
    with pytest.raises(SnapshotVersionError, match=f"version {SCHEMA_VERSION + 1}.*version "
                                                   f"{SCHEMA_VERSION}"):
        decode_state(encode_state(state))
    with pytest.raises(SnapshotError):
        restore_state(encode_state(state), T0)
    raw = msgspec.msgpack.encode({"guild_id": 1})
    with pytest.raises(SnapshotVersionError, match="None"):
        decode_state(raw)


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\xff\x00garbage", b"\x93\x01\x02\x03",
                                  b"\x81\xa7version\x01", b"not msgpack at all"])
def test_corrupt_snapshot_bytes_are_a_snapshot_error(data: bytes) -> None:
    """Corrupt bytes raise ``SnapshotError`` saying why, never another exception."""
    with pytest.raises(SnapshotError, match="cannot restore guild state"):
        decode_state(data)


def test_truncated_snapshot_is_a_snapshot_error() -> None:
    """Every truncation of a real snapshot is refused as a ``SnapshotError``."""
    state, _ = replay([("human", 1, 0)] * 20 + [("online", 1, 3), ("related", 5, 4)], CFG)
    data = encode_state(state)
    for cut in range(len(data)):
        with pytest.raises(SnapshotError):
            decode_state(data[:cut])


@settings(max_examples=300)
@given(data=st.binary(max_size=300))
def test_decoding_random_bytes_raises_only_snapshot_error(data: bytes) -> None:
    """Random bytes either decode to a state or raise ``SnapshotError``; nothing else."""
    try:
        decode_state(data)
    except SnapshotError:
        pass


def _mutated(**changes: object) -> bytes:
    state, _ = replay([("human", 1, 0)] * 10 + [("human", 400, 0)], CFG)
    raw = msgspec.msgpack.decode(encode_state(state))
    raw.update(changes)
    return msgspec.msgpack.encode(raw)


@pytest.mark.parametrize(("changes", "why"), [
    ({"mood": "grumpy"}, "unknown mood"),
    ({"last_action_at": math.nan}, "last_action_at"),
    ({"pending_deadline": math.inf}, "pending_deadline"),
    ({"observed_since": -5.0}, "observed_since"),
    ({"b_counts": [1]}, "differ in length"),
    ({"head_5m": 99}, "heads out of range"),
    ({"sum_5m": 12345}, "sums do not match"),
    ({"b_secs": [5, 4]}, "differ in length|out of order"),
    ({"engaged": {str(i): 0 for i in range(MAX_ENGAGED + 1)}}, "longer than its bound"),
    ({"sum_1h": "ten"}, "Expected `int`"),
])
def test_a_snapshot_that_decodes_but_cannot_be_used_is_refused(changes: dict[str, object],
                                                               why: str) -> None:
    """A snapshot with an unknown mood, a non-finite time, inconsistent buckets or an
    over-long list is refused as a ``SnapshotError`` saying what is wrong."""
    with pytest.raises(SnapshotError, match=why):
        decode_state(_mutated(**changes))


def test_snapshot_bytes_are_what_the_seed_api_restores() -> None:
    """The seed API's snapshot is ``encode_state`` of the guild, restorable elsewhere."""
    clock = FakeClock()
    eng = AutonomousEngine(clock=clock, seed=1)
    eng.update_mood(GID, "shy")
    eng.track_message(GID)
    data = eng.snapshot(GID)
    state, cleared = restore_state(data, T0 + 5)
    assert (state.mood, state.human_messages, cleared) == ("shy", 1, None)
    assert copy_state(state) == state


# --- errors --------------------------------------------------------------------------------

def test_unknown_mood_is_an_error_listing_the_valid_names() -> None:
    """An unknown mood name is a ValueError whose message lists all fourteen moods, wherever
    it enters."""
    state = new_state(GID, T0)
    calls = [
        lambda: profile_for("grumpy"),
        lambda: set_mood(state, "grumpy"),
        lambda: new_state(GID, T0, mood="grumpy"),
        lambda: AutonomousEngine(clock=FakeClock(), seed=1).update_mood(GID, "grumpy"),
    ]
    for call in calls:
        with pytest.raises(UnknownMoodError) as info:
            call()
        assert isinstance(info.value, ValueError)
        message = str(info.value)
        assert "'grumpy'" in message
        assert all(name in message for name in MOOD_NAMES)
    assert len(MOOD_NAMES) == 14
    state.mood = "grumpy"  # a state corrupted by hand
    with pytest.raises(UnknownMoodError):
        decide(state, CFG, T0, 1)


BAD_TIMES = [-1.0, -1e-9, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", BAD_TIMES)
def test_negative_or_non_finite_time_is_an_error_everywhere(bad: float) -> None:
    """A negative, NaN or infinite time is an ``InvalidTimeError`` (a ValueError) naming the
    value, in every function that takes one."""
    state = new_state(GID, T0)
    calls = [
        lambda: new_state(GID, bad),
        lambda: observe_message(state, bad),
        lambda: observe_message(state, bad, is_bot=True),
        lambda: observe_messages(state, 3, bad, T0),
        lambda: observe_messages(state, 3, T0, bad),
        lambda: observe_presence(state, bad, 1, "online", None, False, CFG),
        lambda: observe_join(state, bad, 1, False),
        lambda: decide(state, CFG, bad, 1),
        lambda: decide(state, CFG, bad, 1, explain=True),
        lambda: decide_v1(state, CFG, bad, 1),
        lambda: signals(state, CFG, bad),
        lambda: msgs_5m(state, bad),
        lambda: mark_pending(state, "join_conversation", 1, bad),
        lambda: record_action(state, bad, "join_conversation"),
        lambda: record_failure(state, bad, "join_conversation", "x"),
        lambda: rotate_mood(state, CFG, bad, 1),
        lambda: restore_state(encode_state(state), bad),
    ]
    for call in calls:
        with pytest.raises(InvalidTimeError, match="finite, non-negative"):
            call()
    assert encode_state(state) == encode_state(new_state(GID, T0))  # nothing half-applied


@pytest.mark.parametrize("bad", [*BAD_TIMES, "soon", None])
def test_a_clock_giving_a_bad_time_is_an_error_in_the_seed_api(bad: object) -> None:
    """A clock that returns a negative, non-finite or non-numeric time makes the seed API
    raise ``InvalidTimeError`` rather than corrupt a guild."""
    clock = FakeClock()
    eng = AutonomousEngine(clock=clock, seed=1)
    eng.track_message(GID)
    clock.t = bad  # type: ignore[assignment]
    for call in (lambda: eng.track_message(GID), lambda: eng.should_take_action(GID),
                 lambda: eng.track_presence(GID, user_id=1), lambda: eng.record_action(GID, "x"),
                 lambda: eng.track_member_join(GID, user_id=2)):
        with pytest.raises(InvalidTimeError):
            call()
    with pytest.raises(InvalidTimeError):
        AutonomousEngine(clock=lambda: bad, seed=1)  # type: ignore[arg-type, return-value]


def test_bad_settings_are_errors() -> None:
    """Impossible settings (an unknown time zone among them) are refused when made and when
    decoded, not when a rule first reads them."""
    with pytest.raises(ValueError, match="quiet_hours"):
        GuildConfig(quiet_hours=(25, 3))
    with pytest.raises(ValueError, match="min_gap_s"):
        GuildConfig(min_gap_s=-1)
    with pytest.raises(ValueError, match="rotation_period_s"):
        GuildConfig(rotation_period_s=0)
    with pytest.raises(msgspec.ValidationError, match="min_gap_s"):
        msgspec.convert({"min_gap_s": math.nan}, GuildConfig)
    with pytest.raises(ValueError, match="startup_grace_s"):
        AutonomousEngine(clock=FakeClock(), startup_grace_s=-1)
    with pytest.raises(UnknownTimezoneError, match="Mars/Olympus"):
        GuildConfig(timezone="Mars/Olympus")
    with pytest.raises(msgspec.ValidationError, match="Mars/Olympus"):
        msgspec.convert({"timezone": "Mars/Olympus"}, GuildConfig)
    with pytest.raises(TypeError, match="guild_id"):
        AutonomousEngine(clock=FakeClock()).track_message("123")  # type: ignore[arg-type]


def test_a_new_state_is_plain_data() -> None:
    """A guild's state is a msgspec Struct kept out of the garbage collector."""
    state = new_state(GID, T0)
    assert isinstance(state, GuildState)
    assert GuildState.__struct_config__.gc is False


@settings(max_examples=150, deadline=None)
@given(gaps=st.lists(st.tuples(st.integers(0, 120), st.integers(1, 5)), min_size=1,
                     max_size=200),
       limit=st.integers(1, 12), later=st.integers(0, 4000))
def test_when_the_hour_count_drops_below_a_limit(gaps: list[tuple[int, int]], limit: int,
                                                 later: int) -> None:
    """``count_drops_below_at`` is the exact second the hour's count falls below the limit
    with no new message (checked against the counts a second before and at that moment)."""
    state = new_state(GID, T0)
    t = T0
    for gap, n in gaps:
        t += gap
        observe_messages(state, n, t, t)
    now = t + later
    if msgs_1h(state, now) < limit:
        assert count_drops_below_at(state, limit) == math.inf
        return
    at = count_drops_below_at(state, limit)
    assert at > now
    assert msgs_1h(copy_state(state), at - 1) >= limit
    assert msgs_1h(copy_state(state), at) < limit


def test_engaging_closes_the_opportunity_for_good() -> None:
    """Once a user is engaged for an activity, its opportunity is gone, a re-announcement
    (in any letter case) does not reopen it, and other opportunities stay open."""
    state = new_state(GID, T0, mood="bubbly")
    observe_presence(state, T0, 5, "online", "Project DIVA", False, CFG)
    observe_presence(state, T0, 6, "online", "Tetris", False, CFG)
    record_action(state, T0 + 1, "engage_user", 5, "Project DIVA")
    assert [o.user_id for o in state.opportunities] == [6]
    observe_presence(state, T0 + 2, 5, "online", "PROJECT DIVA", False, CFG)
    assert [o.user_id for o in state.opportunities] == [6]
    observe_presence(state, T0 + 2, 5, "online", "Minecraft", False, CFG)
    assert [o.user_id for o in state.opportunities] == [6, 5]


def test_a_snapshot_with_an_engaged_opportunity_still_open_is_closed_on_decode() -> None:
    """A snapshot written while engaged opportunities stayed in the list decodes with them
    closed, so nobody is engaged twice for one thing."""
    state = new_state(GID, T0, mood="bubbly")
    observe_presence(state, T0, 5, "online", "Project DIVA", False, CFG)
    state.engaged[engaged_key(5, "Project DIVA")] = int(T0)
    assert decode_state(encode_state(state)).opportunities == []
