"""Snapshot schema 3: the largest snapshot the bounds allow stays under 64 KB (ENGINE.md), the
buckets go on the wire as gaps without those that left the hour, and version 2 snapshots
(seconds whole, up to 4,096 online ids) are migrated."""

from __future__ import annotations

from pathlib import Path

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    MAX_ONLINE,
    decide,
    decode_state,
    encode_state,
    msgs_5m,
    new_state,
    observe_message,
    observe_messages,
    observe_presence,
    record_action,
    seed_online,
    signals,
)
from engine.affinity import MAX_AFFINITY, MAX_IGNORED_ROW, MAX_SCORE
from engine.presence import online_count
from engine.signals import someone_around
from engine.state import SCHEMA_VERSION, msgs_1h
from engine.tone import MAX_TONE, Tone
from tests.kit.enginekit import CFG, GID, T0, events, replay

DATA = Path(__file__).parent / "data"


def test_the_largest_snapshot_the_bounds_allow_is_under_64_kb() -> None:
    """Every bound at once: a week of learned hours, 3,600 seconds of a flood, 100k humans
    online, 300 huge activity names, 300 engagements (256 people's affinity, at its widest),
    a day's 1,000 actions. The snapshot
    stays under 64 KB and decodes to the same state."""
    state = new_state(GID, T0 - 8 * 86400, mood="bubbly")
    for h in range(8 * 24):  # a message an hour for 8 days: every hour of the week seen
        observe_message(state, T0 - 8 * 86400 + h * 3600 + 1)
    seed_online(state, tuple(800_000_000_000_000_000 + i * 7_919 for i in range(100_000)))
    start = T0 - 3599
    for s in range(3600):  # a flood: 1,000 messages in each second of the hour
        observe_messages(state, 1000, start + s, start + s + 0.5)
    for i in range(1000):
        record_action(state, T0 - 80000 + i * 50, "break_silence")
    for u in range(300):
        observe_presence(state, T0 + u * 0.001, 900_000_000_000_000_000 + u, "online",
                         f"{u}" + "x" * 1_000_000, False, CFG)
        record_action(state, T0 + 1 + u * 0.001, "engage_user", 910_000_000_000_000_000 + u,
                      f"{u}" + "y" * 1000)
    assert len(state.b_secs) >= 3600 and len(state.online) == MAX_ONLINE
    assert len(state.day_actions) == 1000 and len(state.engaged) == 256
    # Affinity at its bound, every record at its widest: 64-bit ids, the largest scores, a
    # long run of ignores, an open engage.
    assert len(state.affinity) == MAX_AFFINITY
    for p in state.affinity.values():
        p.warmth = p.cold = MAX_SCORE
        p.ignored_row, p.ignored_at = MAX_IGNORED_ROW, int(T0)
    assert len(state.hours) == 168 and state.hours_seen == 168
    state.tone = Tone(-MAX_TONE - 0.0, MAX_TONE, T0 + 0.123456789)  # the tone at its widest
    data = encode_state(state)
    assert len(data) < 64 * 1024, len(data)
    assert decode_state(data) == state


def test_buckets_go_on_the_wire_as_gaps_without_those_that_left_the_hour() -> None:
    """The first second, then the gaps (a byte each); buckets older than the hour are not
    written; the windows read the same after decoding."""
    state = new_state(GID, T0)
    for i in range(400):
        observe_message(state, T0 + i * 10)  # the first ones leave the hour
    now = T0 + 4000
    observe_message(state, now)
    decide(state, CFG, now, 1)  # as the actor does after each batch: the windows move on
    assert state.head_1h > 0
    raw = msgspec.msgpack.decode(encode_state(state))
    secs = raw["b_secs"]
    assert raw["version"] == SCHEMA_VERSION == 3
    assert raw["head_1h"] == 0 and len(secs) == len(raw["b_counts"])
    assert secs[0] > T0 + 390 and all(0 < gap <= 10 for gap in secs[1:])
    back = decode_state(encode_state(state))
    assert msgs_1h(back, now) == msgs_1h(state, now) and msgs_5m(back, now) == msgs_5m(state, now)
    assert back.b_secs == state.b_secs


def test_a_version_2_snapshot_is_migrated_its_extra_online_ids_into_the_bitmap() -> None:
    """A snapshot written by schema 2 (``data/snapshot_v2.msgpack``: 3,005 humans online by
    id, 514 buckets of whole seconds) decodes as schema 3: the same windows, the first 2,048
    ids kept, the others counted in the bitmap (a lower bound: two ids may share a bit), and
    it encodes again in schema 3."""
    data = (DATA / "snapshot_v2.msgpack").read_bytes()
    assert msgspec.msgpack.decode(data)["version"] == 2
    state = decode_state(data)
    assert state.version == SCHEMA_VERSION
    assert len(state.online) == MAX_ONLINE
    assert 2_900 <= online_count(state) <= 3_005
    written_at = 1772409600.0  # when data/snapshot_v2.msgpack was made (by 399f030)
    assert someone_around(state, written_at)
    assert signals(state, CFG, written_at).msgs_1h == 514
    assert len(state.opportunities) == 5
    again = encode_state(state)
    assert msgspec.msgpack.decode(again)["version"] == SCHEMA_VERSION
    assert decode_state(again) == state


def test_a_state_whose_buckets_all_left_the_hour_encodes_with_none() -> None:
    """Messages an hour and more ago: every bucket has left the hour; the snapshot holds
    none and decodes to the same empty windows."""
    state = new_state(GID, T0)
    for i in range(5):
        observe_message(state, T0 + i)
    decide(state, CFG, T0 + 7200, 1)
    assert state.head_1h == len(state.b_secs) == 5
    data = encode_state(state)
    assert msgspec.msgpack.decode(data)["b_secs"] == []
    back = decode_state(data)
    assert back.b_secs == [] and msgs_1h(back, T0 + 7200) == 0 == back.sum_1h


@settings(max_examples=100, deadline=None)
@given(history=events(max_size=80), later=st.floats(0.0, 3.0 * 3600.0),
       each=st.booleans())
def test_any_state_at_any_later_time_round_trips(history: list[tuple[str, int, int]],
                                                  later: float, each: bool) -> None:
    """Whatever happened, and however long after (some buckets or all of them gone from
    the hour), deciding then encoding gives bytes that decode to the same state, which
    decides the same."""
    state, t = replay(history, CFG,
                      each=(lambda s, at: decide(s, CFG, at, 1)) if each else None)
    decide(state, CFG, t + later, 1)
    back = decode_state(encode_state(state))
    state.counted.clear()  # live only: written empty (engine.deletions, engine.tone)
    state.reacted.clear()
    assert back == state
    assert decide(back, CFG, t + later, 1) == decide(state, CFG, t + later, 1)
