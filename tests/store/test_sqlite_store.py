"""The SQLite store's own behaviour: one real file, its layout and upgrades, hand-edited rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from engine import decode_state, encode_state, new_state
from runtime.store import (
    STORE_SCHEMA_VERSION,
    NotAStoreError,
    RowsRefusedError,
    SQLiteStore,
    StoreError,
    StoreMissingError,
    iter_snapshots,
    read_dead_letters,
    read_put_aside,
    read_snapshots,
)
from runtime.store.sqlite_schema import _V1, APPLICATION_ID
from tests.kit.store import NOW

pytestmark = pytest.mark.anyio


def _v1_file(path: Path, rows: list[tuple[int, bytes, float, float | None]]) -> None:
    """A store as the previous build (layout 1) wrote it."""
    conn = sqlite3.connect(path)
    conn.executescript(_V1 + f"PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;")
    conn.executemany("INSERT INTO snapshots VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


async def test_batch_of_100k_in_one_transaction(tmp_path: Path) -> None:
    """100,000 snapshots land in one transaction and read back."""
    path = tmp_path / "big.db"
    async with SQLiteStore(path) as store:
        await store.save_many([(g, encode_state(new_state(g, NOW))) for g in range(1, 100_001)])
        assert store.statistics().batches == 1
        assert len(await store.load_all_ids()) == 100_000
    rows = read_snapshots(path)
    assert len(rows) == 100_000
    assert decode_state(rows[-1].data).guild_id == 100_000


async def test_dead_letters_are_bounded(tmp_path: Path) -> None:
    """Only the newest max_dead_letters are kept."""
    async with SQLiteStore(tmp_path / "s.db", max_dead_letters=3) as store:
        for i in range(10):
            await store.dead_letter(1, f"E{i}", "tb", NOW + i)
    assert [d.event_type for d in read_dead_letters(tmp_path / "s.db")] == ["E7", "E8", "E9"]


async def test_reader_while_writer_open(tmp_path: Path) -> None:
    """The read-only helpers read a store another connection holds open (WAL)."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path, clock=lambda: NOW) as store:
        await store.save_many([(1, b"one")])
        assert read_snapshots(path)[0].data == b"one"
        assert read_snapshots(path, guild_id=2) == []
        await store.save_many([(2, b"two")])
        assert [r.guild_id for r in read_snapshots(path)] == [1, 2]


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


async def test_truncated_file(tmp_path: Path) -> None:
    """A store whose file was cut short is reported, not half-read."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.save_many([(g, b"x" * 500) for g in range(1, 2001)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(NotAStoreError):
        read_snapshots(path)


async def test_reopen_keeps_data(tmp_path: Path) -> None:
    """A closed store opens again with its rows, settings and opt-outs."""
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    await store.open()
    await store.passivate_many([(1, b"a", NOW)])
    await store.save_settings(1, b"s")
    await store.set_optout(9, True, NOW)
    await store.close()
    async with SQLiteStore(path) as again:
        assert await again.load_wakeups() == [(1, NOW)]
        assert await again.load_settings() == {1: b"s"}
        assert await again.load_optouts() == {9}


async def test_store_file_is_wal_and_marked(tmp_path: Path) -> None:
    """A new store is in WAL mode and carries the store's application id and layout."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path):
        pass
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x4D696B75
        assert conn.execute("PRAGMA user_version").fetchone()[0] == STORE_SCHEMA_VERSION
    finally:
        conn.close()


async def test_older_layout_is_upgraded_in_place(tmp_path: Path) -> None:
    """A layout-1 file (before removal, settings, opt-outs, leases) is read as it is by the
    readers, and upgraded in place by the store with every row kept."""
    path = tmp_path / "v1.db"
    _v1_file(path, [(1, b"one", NOW, None), (2, b"two", NOW, NOW + 60)])
    assert [(r.guild_id, r.wake_at, r.removed_at) for r in read_snapshots(path)] == [
        (1, None, None), (2, NOW + 60, None)]
    async with SQLiteStore(path) as store:
        assert await store.load_wakeups() == [(1, None), (2, NOW + 60)]
        await store.mark_removed(1, NOW)
        await store.save_settings(2, b"s")
        assert await store.load_wakeups() == [(2, NOW + 60)]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        conn.close()
    async with SQLiteStore(path) as again:  # a second open finds nothing to do
        assert await again.load_settings() == {2: b"s"}


async def test_newer_layout_is_refused(tmp_path: Path) -> None:
    """A file of a newer layout is refused with a line saying so, and left untouched."""
    path = tmp_path / "new.db"
    async with SQLiteStore(path) as store:
        await store.save_many([(1, b"x")])
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {STORE_SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(NotAStoreError, match=r"version 3 is newer than this build's 2"):
        await SQLiteStore(path).open()
    with pytest.raises(NotAStoreError, match="newer"):
        read_snapshots(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == STORE_SCHEMA_VERSION + 1
    finally:
        conn.close()


def _edit(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


async def test_rows_of_wrong_types_are_put_aside(tmp_path: Path) -> None:
    """Hand-edited rows (a TEXT wake_at, data or saved_at, a bad guild id) are reported by the
    offline readers without a traceback, then put aside when the store opens; start-up reads
    the good rows."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path, clock=lambda: NOW) as store:
        await store.passivate_many([(g, b"ok%d" % g, NOW + g) for g in range(1, 7)])
    _edit(path,
          "UPDATE snapshots SET wake_at = 'tomorrow' WHERE guild_id = 2",
          "UPDATE snapshots SET data = 'text, not bytes' WHERE guild_id = 3",
          "UPDATE snapshots SET saved_at = 'yesterday' WHERE guild_id = 4",
          "UPDATE snapshots SET guild_id = -5 WHERE guild_id = 5")
    rows = {r.guild_id: r for r in iter_snapshots(path)}
    assert rows[1].error is None and rows[6].error is None
    assert "wake_at is text" in (rows[2].error or "")
    assert "data is text" in (rows[3].error or "")
    assert "saved_at is text" in (rows[4].error or "")
    assert "guild_id -5 out of range" in (rows[-5].error or "")
    assert read_snapshots(path, 3)[0].error is not None
    async with SQLiteStore(path, clock=lambda: NOW) as store:
        assert await store.load_wakeups() == [(1, NOW + 1), (6, NOW + 6)]
        assert await store.load_many([1, 2, 3, 4, 6]) == {1: b"ok1", 6: b"ok6"}
        assert store.statistics().put_aside == 4
    aside = read_put_aside(path)
    assert sorted(a.guild_id for a in aside) == [-5, 2, 3, 4]
    by_guild = {a.guild_id: a for a in aside}
    assert by_guild[3].data == b"text, not bytes" and "data is text" in by_guild[3].error
    assert [r.guild_id for r in read_snapshots(path)] == [1, 6]


async def test_loaders_skip_bad_rows_written_while_open(tmp_path: Path) -> None:
    """A row broken while the store is open never makes a loader raise: it is skipped."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.passivate_many([(1, b"a", NOW), (2, b"b", NOW)])
        _edit(path, "UPDATE snapshots SET wake_at = x'00' WHERE guild_id = 2")
        assert await store.load_wakeups() == [(1, NOW)]
        assert await store.load(2) is None


async def test_a_failing_batch_is_rolled_back(tmp_path: Path) -> None:
    """A batch the database itself rejects writes nothing, and the store takes the next."""
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.save_many([(1, b"a")])
        _edit(path, "CREATE TRIGGER no_big BEFORE INSERT ON snapshots WHEN NEW.guild_id > 50 "
                    "BEGIN SELECT RAISE(ABORT, 'too big'); END")
        with pytest.raises(StoreError, match="too big"):
            await store.save_many([(g, b"x") for g in range(2, 100)])
        assert await store.load_all_ids() == [1]
        with pytest.raises(RowsRefusedError):
            await store.save_many([(3, b"y"), (0, b"z")])
        assert await store.load_all_ids() == [1, 3]


async def test_two_opens_of_a_new_file_race_cleanly(tmp_path: Path) -> None:
    """Stores creating the same new file at once all open it (the header is read in one
    transaction: never "no application id" next to the other's new tables)."""
    path = tmp_path / "race.db"
    stores = [SQLiteStore(path) for _ in range(6)]
    async with anyio.create_task_group() as tg:
        for s in stores:
            tg.start_soon(s.open)
    for s in stores:
        await s.close()
