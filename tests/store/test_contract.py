"""The store contract, held by every store alike (``store`` fixture: SQLite file, memory, and
PostgreSQL when a server is there)."""

from __future__ import annotations

import anyio
import pytest

from engine import GuildState, decode_state, encode_state, new_state, observe_message
from runtime.store import (
    MemoryStore,
    PutAside,
    Refusal,
    RowsRefusedError,
    SnapshotStore,
    StoreError,
    read_dead_letters,
    read_put_aside,
    read_snapshots,
)
from tests.kit.store import NOW

pytestmark = pytest.mark.anyio


def _state(guild_id: int, messages: int = 0) -> GuildState:
    state = new_state(guild_id, NOW)
    for i in range(messages):
        observe_message(state, NOW + i)
    return state


def put_aside_rows(store: SnapshotStore) -> list[PutAside]:
    return (store.put_aside_rows() if isinstance(store, MemoryStore)
            else read_put_aside(store.path))  # type: ignore[attr-defined]


async def test_round_trip(store: SnapshotStore) -> None:
    """What is saved loads back byte for byte, and decodes to the same state."""
    states = [_state(g, messages=g % 5) for g in range(1, 51)]
    await store.save_many([(s.guild_id, encode_state(s)) for s in states])
    assert await store.load_all_ids() == list(range(1, 51))
    for s in states:
        data = await store.load(s.guild_id)
        assert data == encode_state(s)
        assert decode_state(data) == s
    assert await store.load(999) is None
    many = await store.load_many([1, 2, 999, 50])
    assert sorted(many) == [1, 2, 50]


async def test_save_overwrites(store: SnapshotStore) -> None:
    """A second save of a guild replaces the first."""
    await store.save_many([(1, b"old")])
    await store.save_many([(1, b"new"), (2, b"two")])
    assert await store.load(1) == b"new"


async def test_wakeups(store: SnapshotStore) -> None:
    """Passivated guilds keep their next wake-up; a live save clears it; a NaN is refused."""
    await store.passivate_many([(1, b"a", NOW + 60), (2, b"b", float("inf"))])
    await store.save_many([(3, b"c")])
    assert await store.load_wakeups() == [(1, NOW + 60), (2, float("inf")), (3, None)]
    await store.save_many([(1, b"a2")])
    assert (await store.load_wakeups())[0] == (1, None)
    with pytest.raises(RowsRefusedError, match="nan") as info:
        await store.passivate_many([(4, b"d", float("nan"))])
    assert list(info.value.refused) == [4]
    assert info.value.reasons == {4: Refusal.BAD_ROW}  # the row itself: typed, not words
    assert await store.load(4) is None


async def test_bad_rows_are_refused_and_the_rest_written(store: SnapshotStore) -> None:
    """Ids out of 0 < id < 2**63, bytes that are not bytes and NaN wake-ups are refused with
    an error naming the guild; every other row of the batch is written."""
    bad_ids = [0, -5, 2**63, 2**64 + 3]
    batch = [(g, b"ok") for g in range(1, 101)]
    batch[10:10] = [(g, b"x") for g in bad_ids]
    batch.append((500, "not bytes"))  # type: ignore[arg-type]
    with pytest.raises(RowsRefusedError) as info:
        await store.save_many(batch)
    assert sorted(info.value.refused) == sorted([*bad_ids, 500])
    assert "2**63" in info.value.refused[2**64 + 3]
    assert "guild 0" in str(info.value) and "the others are written" in str(info.value)
    assert await store.load_all_ids() == list(range(1, 101))
    with pytest.raises(RowsRefusedError) as info:
        await store.passivate_many([(7, b"p", NOW), (2**63, b"p", NOW),
                                    (8, b"q", float("nan"))])
    assert sorted(info.value.refused) == [8, 2**63]
    assert (7, NOW) in await store.load_wakeups()


async def test_put_aside_keeps_the_bad_row(store: SnapshotStore) -> None:
    """A bad row moves aside with its error; a newer save of the guild is not touched."""
    await store.save_many([(7, b"\xffgarbage"), (8, b"\xffbad")])
    await store.put_aside(7, b"\xffgarbage", "cannot restore guild state: corrupt")
    assert await store.load(7) is None
    await store.put_aside(8, b"\xffolder bytes", "stale")
    assert await store.load(8) == b"\xffbad"
    rows = put_aside_rows(store)
    assert [(r.guild_id, r.data, r.error, r.at) for r in rows] == [
        (7, b"\xffgarbage", "cannot restore guild state: corrupt", NOW),
        (8, b"\xffolder bytes", "stale", NOW),
    ]


async def test_dead_letters_recorded(store: SnapshotStore) -> None:
    """Dead letters keep guild, event type, traceback and time, oldest first."""
    await store.dead_letter(5, "MessageSeen", "Traceback ...\nZeroDivisionError", NOW)
    await store.dead_letter(6, "PresenceChanged", "Traceback ...", NOW + 1)
    rows = (store.dead_letters() if isinstance(store, MemoryStore)
            else read_dead_letters(store.path))  # type: ignore[attr-defined]
    assert [(r.guild_id, r.event_type, r.at) for r in rows] == [
        (5, "MessageSeen", NOW), (6, "PresenceChanged", NOW + 1)]
    assert "ZeroDivisionError" in rows[0].traceback


async def test_closed_store_raises(store: SnapshotStore) -> None:
    """Any call after close raises StoreError; closing twice is fine."""
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.load(1)
    with pytest.raises(StoreError, match="closed"):
        await store.load_settings()


async def test_removed_guild_is_hidden_then_purged(store: SnapshotStore) -> None:
    """A removed guild's row is kept but neither loaded nor woken, and is purged after the
    cut-off; the other guilds are untouched."""
    await store.passivate_many([(1, b"one", NOW + 5), (2, b"two", NOW + 9)])
    await store.save_many([(3, b"three")])
    await store.mark_removed(2, NOW + 100)
    await store.mark_removed(3, NOW + 200)
    await store.mark_removed(77, NOW)  # no row: nothing to flag, no error
    assert await store.load(2) is None
    assert await store.load_many([1, 2, 3]) == {1: b"one"}
    assert await store.load_wakeups() == [(1, NOW + 5)]
    assert await store.load_all_ids() == [1]
    rows = (store.snapshots() if isinstance(store, MemoryStore)
            else read_snapshots(store.path))  # type: ignore[attr-defined]
    assert [(r.guild_id, r.removed_at) for r in rows] == [
        (1, None), (2, NOW + 100), (3, NOW + 200)]
    assert await store.purge_removed(NOW + 150) == 1
    assert await store.purge_removed(NOW + 150) == 0
    assert [r.guild_id for r in (store.snapshots() if isinstance(store, MemoryStore)
                                 else read_snapshots(store.path))] == [1, 3]  # type: ignore
    assert await store.load_wakeups() == [(1, NOW + 5)]


async def test_save_after_removal_comes_back_fresh(store: SnapshotStore) -> None:
    """Invited again: a save of a removed guild clears the flag and is what loads."""
    await store.save_many([(4, b"old")])
    await store.mark_removed(4, NOW)
    await store.mark_removed(4, NOW + 50)  # a second removal keeps the first time
    await store.save_many([(4, b"fresh")])
    assert await store.load(4) == b"fresh"
    assert await store.load_wakeups() == [(4, None)]
    assert await store.purge_removed(NOW + 10**6) == 0


async def test_settings_round_trip(store: SnapshotStore) -> None:
    """Settings bytes are kept per guild, replaced by a later save, deleted by None."""
    assert await store.load_settings() == {}
    await store.save_settings(1, b"\x01a")
    await store.save_settings(2, b"b")
    await store.save_settings(1, b"\x01c")
    assert await store.load_settings() == {1: b"\x01c", 2: b"b"}
    await store.save_settings(2, None)
    await store.save_settings(3, None)  # deleting what is not there is fine
    assert await store.load_settings() == {1: b"\x01c"}
    with pytest.raises(StoreError, match=r"save_settings: id 0 out of range"):
        await store.save_settings(0, b"x")
    with pytest.raises(StoreError, match="bytes"):
        await store.save_settings(5, "text")  # type: ignore[arg-type]
    assert await store.load_settings() == {1: b"\x01c"}


async def test_optouts(store: SnapshotStore) -> None:
    """Opting out and back in is recorded per user; a bad user id is refused."""
    await store.set_optout(10, True, NOW)
    await store.set_optout(11, True, NOW)
    await store.set_optout(10, True, NOW + 1)  # twice: still one opt-out
    assert await store.load_optouts() == {10, 11}
    await store.set_optout(10, False, NOW + 2)
    await store.set_optout(12, False, NOW + 2)
    assert await store.load_optouts() == {11}
    with pytest.raises(StoreError, match=r"set_optout: id 18446744073709551616 out of range"):
        await store.set_optout(2**64, True, NOW)


async def test_concurrent_calls_are_serialised(store: SnapshotStore) -> None:
    """Many tasks using one store at once all succeed."""
    async with anyio.create_task_group() as tg:
        for t in range(20):
            tg.start_soon(store.save_many, [(t * 100 + i + 1, b"x") for i in range(100)])
            tg.start_soon(store.load, t + 1)
    assert len(await store.load_all_ids()) == 2000


def test_public_names() -> None:
    """__all__ names exist, and every store satisfies the protocol."""
    from pathlib import Path

    import runtime.store as mod

    assert all(hasattr(mod, name) for name in mod.__all__)
    assert isinstance(MemoryStore(), SnapshotStore)
    assert isinstance(mod.SQLiteStore("unused.db"), SnapshotStore)  # no I/O in the constructor
    assert not Path("unused.db").exists()


async def test_bad_ids_elsewhere_are_clear_errors(store: SnapshotStore) -> None:
    """Loading an impossible id finds nothing; putting aside or dead-lettering one is a
    StoreError naming the call, never an OverflowError."""
    assert await store.load(2**64) is None
    assert await store.load_many([2**64, -1]) == {}
    with pytest.raises(StoreError, match=r"put_aside: id 18446744073709551616 out of range"):
        await store.put_aside(2**64, b"x", "bad")
    with pytest.raises(StoreError, match=r"dead_letter: id 0 out of range"):
        await store.dead_letter(0, "MessageSeen", "tb", NOW)
