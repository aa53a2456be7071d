"""The snapshot stores: SQLite (a real temporary file) and the in-memory twin behave alike."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from engine import GuildState, decode_state, encode_state, new_state, observe_message
from runtime.store import (
    MemoryStore,
    NotAStoreError,
    SnapshotStore,
    SQLiteStore,
    StoreError,
    StoreMissingError,
    read_dead_letters,
    read_put_aside,
    read_snapshots,
)

NOW = 1_800_000_000.0


def _state(guild_id: int, messages: int = 0) -> GuildState:
    state = new_state(guild_id, NOW)
    for i in range(messages):
        observe_message(state, NOW + i)
    return state


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SnapshotStore]:
    if request.param == "sqlite":
        async with SQLiteStore(tmp_path / "store.db", clock=lambda: NOW) as s:
            yield s
    else:
        async with MemoryStore(clock=lambda: NOW) as m:
            yield m


@pytest.mark.anyio
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


@pytest.mark.anyio
async def test_save_overwrites(store: SnapshotStore) -> None:
    """A second save of a guild replaces the first."""
    await store.save_many([(1, b"old")])
    await store.save_many([(1, b"new"), (2, b"two")])
    assert await store.load(1) == b"new"


@pytest.mark.anyio
async def test_wakeups(store: SnapshotStore) -> None:
    """Passivated guilds keep their next wake-up; a live save clears it."""
    await store.passivate_many([(1, b"a", NOW + 60), (2, b"b", float("inf"))])
    await store.save_many([(3, b"c")])
    assert await store.load_wakeups() == [(1, NOW + 60), (2, float("inf")), (3, None)]
    await store.save_many([(1, b"a2")])
    assert (await store.load_wakeups())[0] == (1, None)
    with pytest.raises(ValueError, match="nan"):
        await store.passivate_many([(4, b"d", float("nan"))])
    assert await store.load(4) is None


@pytest.mark.anyio
async def test_put_aside_keeps_the_bad_row(store: SnapshotStore) -> None:
    """A bad row moves aside with its error; a newer save of the guild is not touched."""
    await store.save_many([(7, b"\xffgarbage"), (8, b"\xffbad")])
    await store.put_aside(7, b"\xffgarbage", "cannot restore guild state: corrupt")
    assert await store.load(7) is None
    await store.put_aside(8, b"\xffolder bytes", "stale")
    assert await store.load(8) == b"\xffbad"
    rows = (store.put_aside_rows() if isinstance(store, MemoryStore)
            else read_put_aside(store.path))
    assert [(r.guild_id, r.data, r.error, r.at) for r in rows] == [
        (7, b"\xffgarbage", "cannot restore guild state: corrupt", NOW),
        (8, b"\xffolder bytes", "stale", NOW),
    ]


@pytest.mark.anyio
async def test_dead_letters_recorded(store: SnapshotStore) -> None:
    """Dead letters keep guild, event type, traceback and time, oldest first."""
    await store.dead_letter(5, "MessageSeen", "Traceback ...\nZeroDivisionError", NOW)
    await store.dead_letter(6, "PresenceChanged", "Traceback ...", NOW + 1)
    rows = (store.dead_letters() if isinstance(store, MemoryStore)
            else read_dead_letters(store.path))
    assert [(r.guild_id, r.event_type, r.at) for r in rows] == [
        (5, "MessageSeen", NOW), (6, "PresenceChanged", NOW + 1)]
    assert "ZeroDivisionError" in rows[0].traceback


@pytest.mark.anyio
async def test_closed_store_raises(store: SnapshotStore) -> None:
    """Any call after close raises StoreError; closing twice is fine."""
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.load(1)


@pytest.mark.anyio
async def test_batch_of_100k_in_one_transaction(tmp_path: Path) -> None:
    """100,000 snapshots land in one transaction; a bad row in a batch saves none of it."""
    path = tmp_path / "big.db"
    async with SQLiteStore(path) as store:
        await store.save_many([(g, encode_state(_state(g))) for g in range(1, 100_001)])
        assert store.statistics().batches == 1
        bad: list[tuple[int, bytes]] = [(g, b"x") for g in range(200_000, 200_010)]
        bad.append((200_010, object()))  # type: ignore[arg-type]
        with pytest.raises(StoreError):
            await store.save_many(bad)
        assert await store.load(200_000) is None
        assert len(await store.load_all_ids()) == 100_000
    rows = read_snapshots(path)
    assert len(rows) == 100_000
    assert decode_state(rows[-1].data).guild_id == 100_000


@pytest.mark.anyio
async def test_dead_letters_are_bounded(tmp_path: Path) -> None:
    """Only the newest max_dead_letters are kept."""
    async with SQLiteStore(tmp_path / "s.db", max_dead_letters=3) as store:
        for i in range(10):
            await store.dead_letter(1, f"E{i}", "tb", NOW + i)
    assert [d.event_type for d in read_dead_letters(tmp_path / "s.db")] == ["E7", "E8", "E9"]


@pytest.mark.anyio
async def test_concurrent_calls_are_serialised(tmp_path: Path) -> None:
    """Many tasks using one store at once all succeed on the one connection."""
    async with SQLiteStore(tmp_path / "s.db") as store:
        async with anyio.create_task_group() as tg:
            for t in range(20):
                tg.start_soon(store.save_many, [(t * 100 + i, b"x") for i in range(100)])
                tg.start_soon(store.load, t)
        assert len(await store.load_all_ids()) == 2000


@pytest.mark.anyio
async def test_reader_while_writer_open(tmp_path: Path) -> None:
    """The read-only helpers read a store another connection holds open (WAL)."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path, clock=lambda: NOW) as store:
        await store.save_many([(1, b"one")])
        assert read_snapshots(path)[0].data == b"one"
        assert read_snapshots(path, guild_id=2) == []
        await store.save_many([(2, b"two")])
        assert [r.guild_id for r in read_snapshots(path)] == [1, 2]


@pytest.mark.anyio
async def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    """A missing or foreign file gives a clear error naming it, for readers and the store."""
    missing = tmp_path / "nope.db"
    with pytest.raises(StoreMissingError, match=r"nope\.db: no such file"):
        read_snapshots(missing)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(NotAStoreError, match="not a snapshot store"):
        read_snapshots(garbage)
    with pytest.raises(NotAStoreError, match="not a snapshot store"):
        await SQLiteStore(garbage).open()
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(NotAStoreError, match="application_id"):
        await SQLiteStore(other).open()
    conn = sqlite3.connect(other)
    try:  # refused without a change: still in its own journal mode
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    with pytest.raises(NotAStoreError):
        read_dead_letters(other)
    with pytest.raises(StoreError, match="cannot open"):
        await SQLiteStore(tmp_path / "no" / "dir" / "s.db").open()
    assert not missing.exists()  # the readers never create a file


@pytest.mark.anyio
async def test_truncated_file(tmp_path: Path) -> None:
    """A store whose file was cut short is reported, not half-read."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.save_many([(g, b"x" * 500) for g in range(2000)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(NotAStoreError):
        read_snapshots(path)


@pytest.mark.anyio
async def test_reopen_keeps_data(tmp_path: Path) -> None:
    """A closed store opens again with its rows."""
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    await store.open()
    await store.passivate_many([(1, b"a", NOW)])
    await store.close()
    async with SQLiteStore(path) as again:
        assert await again.load_wakeups() == [(1, NOW)]


@pytest.mark.anyio
async def test_bad_wakeup_in_a_batch_saves_nothing(tmp_path: Path) -> None:
    """A NaN wake-up in the middle of a passivation batch rolls the whole batch back, and the
    store takes the next batch."""
    async with SQLiteStore(tmp_path / "s.db") as store:
        batch = [(g, b"x", NOW) for g in range(100)]
        batch[50] = (50, b"x", float("nan"))
        with pytest.raises(ValueError, match="nan"):
            await store.passivate_many(batch)
        assert await store.load_all_ids() == []
        await store.passivate_many([(1, b"y", NOW)])
        assert await store.load_wakeups() == [(1, NOW)]


def test_public_names() -> None:
    """__all__ names exist, and both stores satisfy the protocol."""
    import runtime.store as mod

    assert all(hasattr(mod, name) for name in mod.__all__)
    assert isinstance(MemoryStore(), SnapshotStore)
    assert isinstance(SQLiteStore("unused.db"), SnapshotStore)  # the constructor does no I/O
    assert not Path("unused.db").exists()


@pytest.mark.anyio
async def test_store_file_is_wal_and_marked(tmp_path: Path) -> None:
    """A new store is in WAL mode and carries the store's application id."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path):
        pass
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x4D696B75
    finally:
        conn.close()
