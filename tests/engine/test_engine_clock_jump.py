"""Issue 22 part 5: a clock that jumps far ahead for one event and comes back does not freeze
the guild's windows. ENGINE.md: a time in the state later than ``now`` counts as ``now``, so
the jumped event counts once, at the return, and leaves the windows like any other."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    GuildConfig,
    decide,
    decode_state,
    encode_state,
    new_state,
    observe_message,
    signals,
)
from engine.state import observe_messages
from tests.kit.enginekit import GID, T0

YEAR = 365 * 86400.0
CFG = GuildConfig(rotate_moods=False, quiet_hours=None)


def _hour_of_chat(*, jump: float, ask: bool, coalesced: bool = False,
                  snapshot_at: int | None = None) -> tuple[int, int, int]:
    """One message ``jump`` seconds ahead, then the clock is back: a message a minute for an
    hour (asking for a decision after each if ``ask``). Returns the 5-minute and hour windows
    30 s after the last message, and the hour's a minute later."""
    state = new_state(GID, T0 - 7200, mood="bubbly")
    observe_message(state, T0 + jump)
    for i in range(1, 61):
        t = T0 + 60 * i
        if coalesced:
            observe_messages(state, 1, t, t)
        else:
            observe_message(state, t)
        if ask:
            decide(state, CFG, t, 1)
        if snapshot_at == i:
            state = decode_state(encode_state(state))
    s = signals(state, CFG, T0 + 3600 + 30)
    later = signals(state, CFG, T0 + 3600 + 90)
    return s.msgs_5m, s.msgs_1h, later.msgs_1h


def test_an_hour_of_a_message_a_minute_after_a_year_jump_reads_as_five_in_five_minutes() -> None:
    """The issue's case: after the jump and the return, an hour of one message a minute reads
    as 5 messages in the last 5 minutes (not 61), and 61 in the hour: the jumped one counts
    at the return (T0 + 60), so a minute later it has left the hour with that minute's (59)."""
    assert _hour_of_chat(jump=YEAR, ask=False) == (5, 61, 59)


def test_the_same_holds_when_asked_coalesced_or_snapshotted_on_the_way() -> None:
    """Asking after every message, counting through the mailbox's coalesced path, or a
    snapshot round trip in the middle: the same windows."""
    assert _hour_of_chat(jump=YEAR, ask=True) == (5, 61, 59)
    assert _hour_of_chat(jump=YEAR, ask=False, coalesced=True) == (5, 61, 59)
    assert _hour_of_chat(jump=YEAR, ask=False, snapshot_at=1) == (5, 61, 59)


def test_a_clock_a_few_seconds_ahead_still_counts_in_the_newest_bucket() -> None:
    """Within the minute of slack, a late event counts in the newest bucket as before (no
    settling for ordinary skew between clocks)."""
    state = new_state(GID, T0 - 7200, mood="bubbly")
    observe_message(state, T0 + 20)
    observe_message(state, T0 + 5)
    assert state.b_secs == [int(T0 + 20)] and state.b_counts == [2]


@settings(max_examples=150, deadline=None)
@given(jump=st.floats(62.0, 50 * YEAR), before=st.integers(0, 30),
       ahead=st.integers(1, 5), gap=st.integers(1, 240), n=st.integers(1, 80),
       ask=st.booleans())
def test_after_a_jump_and_back_the_windows_match_a_clean_clock(
        jump: float, before: int, ahead: int, gap: int, n: int, ask: bool) -> None:
    """Any jump ahead (a minute to decades) for a few events, then the clock back: once an
    hour has passed since the return, both windows equal those of the same traffic without
    the jumped events, however often a decision was asked."""
    jumped = new_state(GID, T0 - 7200, mood="bubbly")
    clean = new_state(GID, T0 - 7200, mood="bubbly")
    t = T0
    for _ in range(before):
        for state in (jumped, clean):
            observe_message(state, t)
        t += gap
    for k in range(ahead):
        observe_message(jumped, min(t + jump + k, 253402300799.0))
    back = t
    for _ in range(n):
        for state in (jumped, clean):
            observe_message(state, t)
            if ask:
                decide(state, CFG, t, 1)
        t += gap
    t = max(t, back + 3601)
    for _ in range(3):
        a, b = signals(jumped, CFG, t), signals(clean, CFG, t)
        assert (a.msgs_5m, a.msgs_1h) == (b.msgs_5m, b.msgs_1h)
        t += 150
