"""Deleted messages stop counting as conversation (issue 20; ``engine.deletions``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    GuildConfig,
    decide,
    decode_state,
    encode_state,
    msgs_5m,
    new_state,
    observe_deletions,
    observe_message,
    record_action,
)
from engine.deletions import snowflake_time
from engine.state import MAX_COUNTED, msgs_1h
from tests.kit.enginekit import GID, NO_QUIET, T0, events, replay, snowflake


def _raided(ids: list[int] | None = None) -> tuple[object, list[int]]:
    """A bubbly guild whose room was quiet; a raid of 40 messages in the last 2 minutes."""
    state = new_state(GID, T0 - 3 * 3600, mood="bubbly")
    record_action(state, T0 - 1800, "join_conversation")
    made: list[int] = []
    for i in range(40):
        t = T0 - 120 + i * 3
        mid = snowflake(t, i)
        made.append(mid)
        observe_message(state, t + 0.2, author_id=500 + i, message_id=mid)
    return state, made


def test_snowflake_time_reads_discords_epoch() -> None:
    """Discord's documented example: 175928847299117063 was made 2016-04-30 11:18:25.796 UTC."""
    assert snowflake_time(175928847299117063) == 1462015105.796
    assert abs(snowflake_time(snowflake(T0, 5)) - T0) < 0.001


def test_a_raid_counted_then_deleted_no_longer_makes_her_join() -> None:
    """Before: the raid makes a bubbly guild join. After the moderators bulk-delete it: the
    windows and messages since her appearance are as before the raid, and she does not."""
    state, ids = _raided()
    assert msgs_5m(state, T0) == 40
    assert any(decide(state, NO_QUIET, T0 + m * 60, s).action == "join_conversation"
               for s in range(5) for m in range(3))
    state, ids = _raided()
    assert observe_deletions(state, T0, ids) == 40
    assert (msgs_5m(state, T0), msgs_1h(state, T0), state.messages_since_appearance) == (0, 0, 0)
    assert all(decide(state, NO_QUIET, T0 + m * 60, s).action != "join_conversation"
               for s in range(20) for m in range(10))


def test_uncounted_ids_and_a_second_deletion_change_nothing() -> None:
    """An id never counted (a bot's, her own, another channel's: the actor gives the engine
    none of those), or one taken back already, leaves every count as it was."""
    state, ids = _raided()
    bot_id, own_id = snowflake(T0 - 10, 900), snowflake(T0 - 9, 901)
    observe_message(state, T0 - 10, is_bot=True, message_id=bot_id)
    observe_message(state, T0 - 9, is_self=True, message_id=own_id)
    assert observe_deletions(state, T0, [bot_id, own_id, snowflake(T0 - 8, 902)]) == 0
    assert observe_deletions(state, T0, ids[:10]) == 10
    before = (msgs_5m(state, T0), state.messages_since_appearance, state.human_messages)
    assert observe_deletions(state, T0, ids[:10]) == 0
    assert observe_deletions(state, T0, [ids[10], ids[10]]) == 1
    assert (msgs_5m(state, T0), state.messages_since_appearance,
            state.human_messages) == (before[0] - 1, 0, before[2] - 1)  # (she spoke after)


def test_a_message_from_before_her_appearance_leaves_her_count_alone() -> None:
    """Deleting a message made before she last spoke takes it out of the windows, not out of
    the messages since her appearance."""
    state, ids = _raided()
    observe_message(state, T0 - 1, is_self=True)
    observe_message(state, T0, message_id=snowflake(T0, 77))
    assert state.messages_since_appearance == 1
    observe_deletions(state, T0 + 1, ids[:5])
    assert state.messages_since_appearance == 1 and msgs_5m(state, T0 + 1) == 36


def test_the_counted_ids_are_bounded_and_not_snapshotted() -> None:
    """At most MAX_COUNTED ids (the oldest go first); a snapshot writes none and decodes."""
    state = new_state(GID, T0)
    for i in range(MAX_COUNTED + 500):
        observe_message(state, T0 + i * 0.5, message_id=snowflake(T0 + i * 0.5, i))
    assert len(state.counted) == MAX_COUNTED
    assert snowflake(T0, 0) not in state.counted
    back = decode_state(encode_state(state))
    assert back.counted == {} and len(state.counted) == MAX_COUNTED
    assert observe_deletions(back, T0 + 1000, [snowflake(T0 + 999.5, 1999)]) == 0
    # Two hours of a message every 10 s: about the last hour's ids are kept, not 720.
    calm = new_state(GID, T0)
    for i in range(720):
        t = T0 + i * 10.0
        observe_message(calm, t, message_id=snowflake(t, i))
    assert 355 <= len(calm.counted) <= 362
    assert snowflake(T0 + 7190.0, 719) in calm.counted


@settings(max_examples=60, deadline=None)
@given(events(max_size=80), st.integers(0, 2**16))
def test_deletions_never_make_a_count_negative_or_the_windows_disagree(history: list,
                                                                       seed: int) -> None:
    """Whatever the history (deletions included), the windows match their buckets and no
    count goes below zero; the snapshot decodes."""
    state, t = replay(history, GuildConfig(rotate_moods=False))
    decide(state, NO_QUIET, t + 1, seed)
    assert min(state.b_counts, default=0) >= 0 and state.sum_5m >= 0
    assert state.messages_since_appearance >= 0
    assert sum(state.b_counts[state.head_5m:]) == state.sum_5m
    assert sum(state.b_counts[state.head_1h:]) == state.sum_1h
    decode_state(encode_state(state))
