"""A guild's state is never replaced by an older or empty one (issue 19): woken while the
batch carrying its passivation snapshot is in flight, woken while the store is down, and
rows of a batch that met a transient failure or a lapsed lease."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
import trio

from actors.clock import LoopClock
from actors.events import GuildReady, MessageSeen
from engine import decode_state, encode_state, new_state
from runtime.store import MemoryStore, SQLiteStore, StoreError, read_put_aside
from runtime.supervisor.records import COUNTERS
from runtime.supervisor.snapshots import SnapshotWriter
from tests.kit.actors import RecordingSink
from tests.kit.store import FakeClock
from tests.kit.store_faults import FaultyStore
from tests.kit.supervisor_doubles import T0, make_supervisor, run_virtual


def _state_with(gid: int, messages: int) -> bytes:
    state = new_state(gid, T0)
    state.human_messages = messages
    return encode_state(state)


async def _stored_messages(store: MemoryStore, gid: int) -> int:
    data = await store.load(gid)
    assert data is not None
    return decode_state(data).human_messages


def test_a_guild_woken_while_its_passivation_batch_is_in_flight_starts_from_it() -> None:
    """The store is slow (its writes wait): a guild passivated with 10 messages is woken by
    an 11th while the batch carrying its snapshot is still being written. It starts from
    that snapshot (not the older stored row of 6), and the store ends with 11."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        store = FaultyStore(clock=clock.now)
        await store.save_many([(3, _state_with(3, 6))])
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock, passivate_after_s=300.0,
                              snapshot_interval_s=60.0, cache_passivated=False)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            sup.deliver(GuildReady(3, clock.now(), (30,)))
            for _ in range(4):
                sup.deliver(MessageSeen(3, 9, 30, clock.now()))
            await trio.sleep(1)
            store.hold_writes()
            with trio.fail_after(3600):
                await store.writes_waiting.wait()  # the batch with its passivation waits
            assert sup.statistics().passivated == 1
            sup.deliver(MessageSeen(3, 9, 30, clock.now()))
            await trio.sleep(1)
            seen["live"] = {a.guild_id: a.state.human_messages for a in sup.live_actors()}
            store.release_writes()
            await sup.shutdown()
            seen["stored"] = await _stored_messages(store, 3)

    run_virtual(body)
    assert seen["live"] == {3: 11}
    assert seen["stored"] == 11


def test_a_guild_woken_while_the_store_is_down_waits_with_its_events_then_restores() -> None:
    """The store is down when a passivated guild's event comes: the guild waits (its events
    kept in its mailbox), retries with back-off, says so once, and restores its real state
    when the store is back: 20 stored messages become 22, never 1 or 2."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        store = FaultyStore(clock=clock.now)
        await store.passivate_many([(3, _state_with(3, 20), T0 + 10**6)])
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock, passivate_after_s=3600.0,
                              snapshot_interval_s=30.0)
        with structlog.testing.capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                await tg.start(sup.run, sink)
                store.down = True
                sup.deliver(GuildReady(3, clock.now(), (30,)))
                sup.deliver(MessageSeen(3, 9, 30, clock.now()))
                await trio.sleep(120)
                seen["during"] = sup.statistics()
                seen["live_during"] = [a.guild_id for a in sup.live_actors()]
                seen["refused"] = store.loads_refused
                sup.deliver(MessageSeen(3, 9, 30, clock.now()))
                store.down = False
                await trio.sleep(120)
                await sup.shutdown()
        seen["stored"] = await _stored_messages(store, 3)
        seen["logs"] = [x for x in logs if x["event"].startswith("restore_")]

    run_virtual(body)
    assert seen["live_during"] == []  # not run from nothing meanwhile
    assert seen["during"].starting == 1
    assert 3 <= seen["refused"] <= 10  # retried with back-off, not in a busy loop
    assert seen["stored"] == 22
    events = [x["event"] for x in seen["logs"]]
    assert events == ["restore_waiting", "restore_recovered"]
    assert seen["logs"][0]["guild_id"] == 3 and "retry_in_s" in seen["logs"][0]


def test_a_guild_the_store_has_no_row_of_starts_fresh_even_while_it_is_down() -> None:
    """A guild the store listed no row for at start is new: it starts at once, store down
    or not (nothing of it can be lost)."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        store = FaultyStore(clock=clock.now)
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            store.down = True
            sup.deliver(MessageSeen(5, 9, 50, clock.now()))
            await trio.sleep(1)
            seen["live"] = {a.guild_id: a.state.human_messages for a in sup.live_actors()}
            store.down = False
            await sup.shutdown()

    run_virtual(body)
    assert seen["live"] == {5: 1}


def _writer(store: Any) -> tuple[SnapshotWriter, dict[str, Any]]:
    stats: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    stats["snapshot_seconds"] = 0.0
    return SnapshotWriter(store, stats), stats


class _FlappingStore(FaultyStore):
    """Fails every batch of more than one row (an error that is not an outage: the rows are
    tried one by one), and is down for every second single row: the store went away
    between the calls of the one-by-one retry."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)
        self.calls = 0

    async def save_many(self, items: Any) -> None:
        self.calls += 1
        if len(items) > 1:
            raise StoreError(self.path, "the batch failed")
        self.down = self.calls % 2 == 1
        try:
            await super().save_many(items)
        finally:
            self.down = False


@pytest.mark.anyio
async def test_a_batch_that_meets_an_outage_is_kept_whole_and_said_once() -> None:
    """The store is unreachable: the batch is kept whole for the next try (not tried row by
    row, nothing put aside), said once however many tries fail, and once when written."""
    store = FaultyStore()
    writer, stats = _writer(store)
    rows = {g: _state_with(g, g) for g in (1, 2, 3)}
    for g, data in rows.items():
        writer.put(g, data)
    store.down = True
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            assert await writer.write() == 0
        store.down = False
        assert await writer.write() == 3
    assert [x["event"] for x in logs] == ["snapshot_waiting", "snapshot_written_again"]
    assert store.put_aside_rows() == [] and stats["snapshot_guild_errors"] == 0
    assert {g: await store.load(g) for g in rows} == rows


@pytest.mark.anyio
async def test_a_row_that_met_an_outage_is_kept_for_the_next_try_not_put_aside() -> None:
    """A batch fails (the store is unreachable), then guild by guild some rows go through and
    others meet the outage again: those are kept for the next try, never put aside as bad."""
    store = _FlappingStore()
    writer, stats = _writer(store)
    rows = {g: _state_with(g, g) for g in (1, 2, 3, 4)}
    for g, data in rows.items():
        writer.put(g, data)
    written = await writer.write()
    assert 0 < written < 4
    assert store.put_aside_rows() == []
    assert stats["snapshot_guild_errors"] == 0
    kept = set(writer.unsaved)
    assert kept and kept | {g for g in rows if await store.load(g) == rows[g]} == set(rows)
    store.calls = 1  # the next single write goes through
    while writer.unsaved:
        await writer.write()
    assert {g: await store.load(g) for g in rows} == rows


@pytest.mark.anyio
async def test_rows_of_a_lapsed_lease_are_kept_and_rows_of_a_taken_shard_are_dropped(
        tmp_path: Path) -> None:
    """The lease lapsed during an outage and nobody took the shard: its rows are refused for
    an expired lease (a typed reason), said once however many tries, and kept until the
    lease is renewed, then written. Once another process took the shard, its rows are
    dropped (not put aside)."""
    clock = FakeClock(T0)
    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path, lease_clock=clock) as store, \
            SQLiteStore(path, lease_clock=clock) as other:
        await store.acquire_leases("a", [0], 1, 30.0)
        writer, stats = _writer(store)
        writer.put(1, _state_with(1, 5))
        clock.now += 31.0
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):  # every snapshot interval while the lease is lapsed
                assert await writer.write() == 0
        assert set(writer.unsaved) == {1}
        assert [x.get("refusal") for x in logs if x["event"] == "snapshot_refused"] == [
            "lease_expired"]
        await store.renew_leases(30.0)
        assert await writer.write() == 1
        assert decode_state(await store.load(1) or b"").human_messages == 5
        writer.put(1, _state_with(1, 6))
        clock.now += 31.0
        assert (await other.acquire_leases("b", [0], 1, 30.0)).ok
        assert await writer.write() == 0
        assert writer.unsaved == {}
        assert decode_state(await store.load(1) or b"").human_messages == 5
    assert read_put_aside(path) == []
    assert stats["snapshot_guild_errors"] == 4  # three lapsed tries, one taken
