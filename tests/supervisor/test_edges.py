"""Edges that must not break the whole process: ids out of range, one guild's bad snapshot,
set_mood for a guild this process does not run, and the statistics metrics read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog.testing

from actors.clock import LoopClock
from actors.events import GuildReady, MemberJoined, MessageSeen, MoodSet, PresenceChanged
from engine import GuildConfig, decode_state, encode_state, new_state
from runtime.store import SQLiteStore
from runtime.supervisor import UnknownGuildError
from runtime.supervisor.admission import bad_id
from runtime.supervisor.records import COUNTERS
from runtime.supervisor.snapshots import SnapshotWriter
from tests.kit.actors import RecordingSink
from tests.kit.supervisor_doubles import T0, RemovingStore, make_supervisor


def test_every_id_field_is_checked() -> None:
    """Each id of each event type, and each id of a GuildReady's online list, must be in
    0 < id < 2**63; a message id of 0 means "none"."""
    assert bad_id(MessageSeen(1, 2, 3, T0)) is None
    assert bad_id(MessageSeen(1, 2, 3, T0, message_id=2**63 - 1)) is None
    assert bad_id(MessageSeen(1, 2, 3, T0, message_id=2**63)) == f"message_id={2**63}"
    assert bad_id(MessageSeen(1, 0, 3, T0)) == "channel_id=0"
    assert bad_id(MessageSeen(1, 2, "3", T0)) == "author_id='3'"  # type: ignore[arg-type]
    assert bad_id(MessageSeen(-1, 2, 3, T0)) == "guild_id=-1"
    assert bad_id(MemberJoined(1, 2**64, T0)) == f"user_id={2**64}"
    assert bad_id(PresenceChanged(1, True, T0)) == "user_id=True"  # type: ignore[arg-type]
    assert bad_id(GuildReady(1, T0, (5, 2**63))) == f"online_user_ids[1]={2**63}"
    assert bad_id(MoodSet(2**63, "shy", T0)) == f"guild_id={2**63}"


@pytest.mark.anyio
async def test_ids_out_of_range_are_refused_at_the_router_and_snapshots_go_on(
        tmp_path: Path) -> None:
    """A GUILD_MEMBER_ADD with a user id >= 2**64, a guild id in [2**63, 2**64) and a
    MoodSet with a guild id >= 2**64 are refused, logged and counted; every other guild is
    snapshotted to a real SQLite file as before (today: the process died at the next
    snapshot, or every later batch failed)."""
    clock = LoopClock(T0)
    async with SQLiteStore(tmp_path / "s.sqlite3", clock=clock.now) as store:
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock)
        with structlog.testing.capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                await tg.start(sup.run, sink)
                assert sup.deliver(MessageSeen(1, 9, 10, clock.now()))
                assert not sup.deliver(MemberJoined(1, 2**64, clock.now()))
                assert not sup.deliver(MessageSeen(2**63, 9, 10, clock.now()))
                assert not sup.deliver(MoodSet(2**64, "shy", clock.now()))
                await anyio.wait_all_tasks_blocked()
                written = await sup.snapshot()
                stats = sup.statistics()
                await sup.shutdown()
        data = await store.load(1)
    assert written == 1 and data is not None and decode_state(data).human_messages == 1
    assert stats.refused_bad_id == 3 and stats.snapshot_errors == 0 and stats.live == 1
    refused = [x for x in logs if x["event"] == "event_refused"]
    assert [x["field"] for x in refused] == [f"user_id={2**64}", f"guild_id={2**63}",
                                             f"guild_id={2**64}"]
    assert all("0 < id < 2**63" in x["reason"] and x["log_level"] == "warning"
               for x in refused)


@pytest.mark.anyio
async def test_a_guild_whose_state_cannot_be_encoded_never_fails_the_batch() -> None:
    """A state holding an id >= 2**64 (past msgpack) is logged once and skipped, and stays
    dirty; every other guild's snapshot is written, periodically and at shutdown."""
    store = RemovingStore()
    sink = RecordingSink()
    clock = LoopClock(T0)
    sup = make_supervisor(store, sink, clock)
    with structlog.testing.capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            for g in (1, 2, 3):
                sup.deliver(MessageSeen(g, 9, 10, clock.now()))
            await anyio.wait_all_tasks_blocked()
            [bad] = [a for a in sup.live_actors() if a.guild_id == 2]
            bad.state.online.add(2**64)
            first = await sup.snapshot()
            second = await sup.snapshot(only_dirty=False)
            await sup.shutdown()
            stats = sup.statistics()
    assert first == 2 and second == 2
    assert {s.guild_id for s in store.snapshots()} == {1, 3}
    assert bad.dirty and stats.snapshot_encode_errors == 3  # two snapshots and the final one
    assert len([x for x in logs if x["event"] == "snapshot_encode_failed"]) == 1


@pytest.mark.anyio
async def test_a_row_the_store_refuses_is_put_aside_and_the_others_are_written(
        tmp_path: Path) -> None:
    """A batch with one row the store refuses (a guild id of 2**63) still writes the
    others; the bad one is counted, logged and put aside; a store that takes nothing keeps
    the whole batch for the next try."""
    good = encode_state(new_state(1, T0))
    stats: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    stats["snapshot_seconds"] = 0.0
    async with SQLiteStore(tmp_path / "s.sqlite3") as store:
        writer = SnapshotWriter(store, stats)
        writer.put(1, good)
        writer.put(2**63, good)
        writer.put(3, good, T0 + 60)
        with structlog.testing.capture_logs() as logs:
            assert await writer.write() == 2
        assert await store.load(1) == good and await store.load(3) == good
    assert stats["snapshot_guild_errors"] == 1
    assert stats["snapshot_bytes"] == 2 * len(good) and stats["snapshot_seconds"] > 0
    assert [x["guild_id"] for x in logs if x["event"] == "snapshot_refused"] == [2**63]
    assert writer.unsaved == {}
    closed = SnapshotWriter(store, stats)  # closed now: the store takes nothing
    closed.put(1, good)
    closed.put(4, good)
    assert await closed.write() == 0
    assert set(closed.unsaved) == {1, 4}


@pytest.mark.anyio
async def test_set_mood_refuses_a_guild_it_does_not_run_and_says_how_long_a_mood_holds(
        ) -> None:
    """set_mood for an unknown guild creates nothing and says so; for a known guild the
    answer says until when the mood holds (the next rotation, or "until set again")."""
    store = RemovingStore()
    sink = RecordingSink()
    clock = LoopClock(T0)
    sup = make_supervisor(store, sink, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, sink)
        with pytest.raises(UnknownGuildError, match="unknown guild 77"):
            sup.set_mood(77, "shy")
        with pytest.raises(ValueError, match="bubbly"):
            sup.set_mood(77, "grumpy")
        await anyio.wait_all_tasks_blocked()
        assert sup.statistics().spawned == 0 and await sup.guild_detail(77) is None
        sup.deliver(GuildReady(5, clock.now(), ()))
        answer = sup.set_mood(5, "shy")
        await anyio.wait_all_tasks_blocked()
        [actor] = sup.live_actors()
        await sup.shutdown()
    assert actor.state.mood == "shy"
    assert answer["holds_until"] is None and "rotation is off" in answer["holds"]
    assert store.snapshots()[0].guild_id == 5  # nothing stored for 77


def test_mood_holds_until_the_next_rotation_or_not_at_all_in_quiet_hours() -> None:
    """With rotation on, a hand-set mood holds to the next rotation boundary; in quiet hours
    she falls asleep at once."""
    from runtime.supervisor.records import mood_holds

    at = 1_700_000_000.0 - 1_700_000_000.0 % 3600 + 600  # ten past a UTC hour
    hours = mood_holds(GuildConfig(quiet_hours=None), at)
    assert hours["holds_until"] == at + 3000 and hours["holds_for_s"] == 3000
    hour = int(at // 3600 % 24)
    asleep = mood_holds(GuildConfig(quiet_hours=(hour, (hour + 2) % 24)), at)
    assert asleep["holds_for_s"] == 0.0 and "asleep" in asleep["holds"]


@pytest.mark.anyio
async def test_statistics_count_events_decisions_guild_states_and_snapshot_batches() -> None:
    """Events by type, decisions by policy and action, guilds by state and snapshot batch
    sums come out of statistics() as plain numbers."""
    store = RemovingStore()
    sink = RecordingSink()
    clock = LoopClock(T0)
    sup = make_supervisor(store, sink, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, sink)
        sup.deliver(GuildReady(1, clock.now(), (10,)))
        sup.deliver(GuildReady(2, clock.now(), (20,), can_speak=False))
        sup.deliver(MoodSet(1, "bubbly", clock.now()))
        sup.deliver(PresenceChanged(1, 10, clock.now(), activity="Project DIVA"))
        sup.deliver(MessageSeen(1, 9, 11, clock.now(), addresses_self=True, message_id=3))
        await anyio.wait_all_tasks_blocked()
        await sup.snapshot()
        stats = sup.statistics()
        await sup.shutdown()
    assert stats.events_by_type == {"GuildReady": 2, "MoodSet": 1, "PresenceChanged": 1,
                                    "MessageSeen": 1, "ActionFinished": 2}
    assert stats.decisions == {"v2": {"engage_user": 1, "reply": 1}}
    assert (stats.live, stats.ready, stats.silent, stats.removed) == (2, 2, 1, 0)
    assert stats.snapshot_batches == 1 and stats.snapshots_written == 2
    assert stats.snapshot_bytes > 0 and stats.snapshot_seconds > 0
