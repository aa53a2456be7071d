"""The snapshot store: where guild states, bad rows and dead letters outlive the process.

``SnapshotStore`` is the interface the supervisor is written against; ``SQLiteStore`` is the
embedded default (one file, WAL), ``MemoryStore`` the same behaviour in a dict for tests. A
shared server store can replace them when shards move between hosts.

The store moves opaque bytes (``engine.encode_state``); decoding and the version check are the
caller's (``engine.restore_state``), which hands a row it cannot read to ``put_aside``.

Besides the snapshot, each guild's row may carry its next wake-up (``passivate_many``): a
passivated guild is known by its id and one float, so a restarted supervisor learns every
known guild's next wake-up with one read (``load_wakeups``) instead of restoring them all.

Exceptions::

    RuntimeError
    └── StoreError            the store cannot do what was asked (I/O, locked, closed)
        ├── StoreMissingError   no store file at the path (read-only helpers)
        └── NotAStoreError      the file is not a snapshot store, or is corrupt
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio
import anyio.lowlevel
import anyio.to_thread
import msgspec

__all__ = [
    "APPLICATION_ID",
    "STORE_SCHEMA_VERSION",
    "DeadLetter",
    "MemoryStore",
    "NotAStoreError",
    "PutAside",
    "SQLiteStore",
    "SnapshotStore",
    "StoreError",
    "StoreMissingError",
    "StoreStatistics",
    "StoredSnapshot",
    "iter_snapshots",
    "read_dead_letters",
    "read_put_aside",
    "read_snapshots",
]

#: Written into the SQLite header (``PRAGMA application_id``): "Miku". A file without it is not
#: ours, and the store refuses to write into it.
APPLICATION_ID = 0x4D696B75
#: The layout of the tables (``PRAGMA user_version``), not of the state bytes.
STORE_SCHEMA_VERSION = 1

_T = TypeVar("_T")


class StoreError(RuntimeError):
    """The store cannot do what was asked."""

    def __init__(self, path: object, detail: str) -> None:
        self.path = str(path)
        self.detail = detail
        super().__init__(f"snapshot store {self.path}: {detail}")


class StoreMissingError(StoreError):
    """No store file where one was expected."""

    def __init__(self, path: object) -> None:
        super().__init__(path, "no such file")


class NotAStoreError(StoreError):
    """The file exists but is not a snapshot store (another database, or corrupt)."""

    def __init__(self, path: object, detail: str) -> None:
        super().__init__(path, f"not a snapshot store ({detail})")


class StoredSnapshot(msgspec.Struct, frozen=True, gc=False):
    """One guild's row. ``wake_at`` is None for a guild that was live when saved."""

    guild_id: int
    data: bytes
    saved_at: float
    wake_at: float | None = None


class PutAside(msgspec.Struct, frozen=True, gc=False):
    """A snapshot the caller could not restore, kept for inspection."""

    id: int
    guild_id: int
    data: bytes
    error: str
    at: float


class DeadLetter(msgspec.Struct, frozen=True, gc=False):
    """An event that crashed its guild's actor, with the traceback."""

    id: int
    guild_id: int
    event_type: str
    traceback: str
    at: float


class StoreStatistics(msgspec.Struct, frozen=True, gc=False):
    """Counters since the store was opened; ``last_save_s`` is the last batch's duration."""

    batches: int
    rows_saved: int
    last_save_s: float
    loads: int
    put_aside: int
    dead_letters: int


@runtime_checkable
class SnapshotStore(Protocol):
    """What the supervisor needs from a store (``docs/CONTRACTS.md``)."""

    async def load(self, guild_id: int) -> bytes | None:
        """The guild's last snapshot, or None if it has none."""
        ...

    async def load_many(self, guild_ids: Sequence[int]) -> dict[int, bytes]:
        """The snapshots of those guilds that have one."""
        ...

    async def save_many(self, items: Sequence[tuple[int, bytes]]) -> None:
        """Save snapshots of live guilds in one transaction: all of them or none."""
        ...

    async def passivate_many(self, items: Sequence[tuple[int, bytes, float]]) -> None:
        """Save ``(guild_id, data, wake_at)`` of guilds being stopped, in one transaction."""
        ...

    async def load_all_ids(self) -> list[int]:
        """Every guild with a snapshot."""
        ...

    async def load_wakeups(self) -> list[tuple[int, float | None]]:
        """Every guild with a snapshot and its wake-up (None: it was live when saved)."""
        ...

    async def put_aside(self, guild_id: int, data: bytes, error: str) -> None:
        """Keep a snapshot that cannot be restored, and take it out of the snapshots."""
        ...

    async def dead_letter(self, guild_id: int, event_type: str, traceback: str,
                          at: float) -> None:
        """Record an event that crashed the guild's actor."""
        ...

    async def close(self) -> None:
        """Release the store; further calls raise ``StoreError``. Idempotent."""
        ...


def _check_wake(wake_at: float) -> float:
    wake_at = float(wake_at)
    if math.isnan(wake_at):
        raise ValueError("wake_at must be a number of epoch seconds (inf: never), got nan")
    return wake_at


# --- the in-memory store -----------------------------------------------------------------

class MemoryStore:
    """The ``SnapshotStore`` behaviour in dicts, for tests. No I/O, no threads."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._rows: dict[int, StoredSnapshot] = {}
        self._put_aside: list[PutAside] = []
        self._dead: list[DeadLetter] = []
        self._closed = False
        self._batches = self._rows_saved = self._loads = 0

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("<memory>", "closed")

    async def load(self, guild_id: int) -> bytes | None:
        await anyio.lowlevel.checkpoint()
        self._check_open()
        self._loads += 1
        row = self._rows.get(guild_id)
        return None if row is None else row.data

    async def load_many(self, guild_ids: Sequence[int]) -> dict[int, bytes]:
        await anyio.lowlevel.checkpoint()
        self._check_open()
        self._loads += len(guild_ids)
        return {g: self._rows[g].data for g in guild_ids if g in self._rows}

    async def save_many(self, items: Sequence[tuple[int, bytes]]) -> None:
        await self._save([(g, d, None) for g, d in items])

    async def passivate_many(self, items: Sequence[tuple[int, bytes, float]]) -> None:
        await self._save([(g, d, _check_wake(w)) for g, d, w in items])

    async def _save(self, rows: list[tuple[int, bytes, float | None]]) -> None:
        await anyio.lowlevel.checkpoint()
        self._check_open()
        now = self._clock()
        for g, d, _ in rows:  # validate everything first: all or nothing
            if not isinstance(g, int) or not isinstance(d, bytes | bytearray | memoryview):
                raise StoreError("<memory>", f"bad row for guild {g!r}: need (int, bytes)")
        for g, d, w in rows:
            self._rows[g] = StoredSnapshot(g, bytes(d), now, w)
        self._batches += 1
        self._rows_saved += len(rows)

    async def load_all_ids(self) -> list[int]:
        await anyio.lowlevel.checkpoint()
        self._check_open()
        return sorted(self._rows)

    async def load_wakeups(self) -> list[tuple[int, float | None]]:
        await anyio.lowlevel.checkpoint()
        self._check_open()
        return [(g, self._rows[g].wake_at) for g in sorted(self._rows)]

    async def put_aside(self, guild_id: int, data: bytes, error: str) -> None:
        await anyio.lowlevel.checkpoint()
        self._check_open()
        self._put_aside.append(PutAside(len(self._put_aside) + 1, guild_id, bytes(data), error,
                                        self._clock()))
        row = self._rows.get(guild_id)
        if row is not None and row.data == data:
            del self._rows[guild_id]

    async def dead_letter(self, guild_id: int, event_type: str, traceback: str,
                          at: float) -> None:
        await anyio.lowlevel.checkpoint()
        self._check_open()
        self._dead.append(DeadLetter(len(self._dead) + 1, guild_id, event_type, traceback, at))

    async def close(self) -> None:
        self._closed = True

    def snapshots(self) -> list[StoredSnapshot]:
        """Every row, by guild id (what ``read_snapshots`` gives for a file)."""
        return [self._rows[g] for g in sorted(self._rows)]

    def put_aside_rows(self) -> list[PutAside]:
        """The rows put aside, oldest first."""
        return list(self._put_aside)

    def dead_letters(self) -> list[DeadLetter]:
        """The dead letters, oldest first."""
        return list(self._dead)

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(self._batches, self._rows_saved, 0.0, self._loads,
                               len(self._put_aside), len(self._dead))


# --- SQLite ------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE snapshots (
    guild_id INTEGER PRIMARY KEY,
    data BLOB NOT NULL,
    saved_at REAL NOT NULL,
    wake_at REAL
);
CREATE TABLE put_aside (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL,
    data BLOB NOT NULL,
    error TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX put_aside_guild ON put_aside (guild_id);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    traceback TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX dead_letters_guild ON dead_letters (guild_id);
"""

_UPSERT = (
    "INSERT INTO snapshots (guild_id, data, saved_at, wake_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (guild_id) DO UPDATE SET "
    "data = excluded.data, saved_at = excluded.saved_at, wake_at = excluded.wake_at"
)
#: Ids per ``IN (...)`` query: under SQLite's default limit of host parameters.
_CHUNK = 500


def _check_store(conn: sqlite3.Connection, path: str, *, create: bool) -> None:
    """Check that ``conn`` is a store of this layout; create the tables in an empty file."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise NotAStoreError(path, str(exc)) from None
    if app_id == 0 and not tables and create:
        conn.executescript(
            "BEGIN IMMEDIATE;" + _SCHEMA
            + f"PRAGMA application_id = {APPLICATION_ID};"
            + f"PRAGMA user_version = {STORE_SCHEMA_VERSION};COMMIT;")
        return
    if app_id != APPLICATION_ID:
        detail = "an empty database" if not tables else f"application_id {app_id:#x}"
        raise NotAStoreError(path, detail)
    if version != STORE_SCHEMA_VERSION:
        raise NotAStoreError(
            path, f"store layout version {version}, this build reads {STORE_SCHEMA_VERSION}")


def _open_rw(path: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(path, f"cannot open ({exc})") from None
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        _check_store(conn, path, create=True)  # first: a file that is not ours stays untouched
        # WAL: readers (ops/inspect.py) never block the writer; NORMAL: a commit is durable
        # against a process crash, and at worst the last commits are lost on a power cut.
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = NORMAL")
        if mode.lower() != "wal":
            raise StoreError(path, f"cannot use WAL mode (journal_mode is {mode})")
    except BaseException:
        conn.close()
        raise
    return conn


def _open_ro(path: str | os.PathLike[str]) -> sqlite3.Connection:
    p = Path(path)
    if not p.exists():
        raise StoreMissingError(p)
    if not p.is_file():
        raise NotAStoreError(p, "not a regular file")
    try:
        conn = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(p, f"cannot open ({exc})") from None
    try:
        _check_store(conn, str(p), create=False)
    except BaseException:
        conn.close()
        raise
    return conn


class SQLiteStore:
    """The embedded store: one SQLite file in WAL mode, written off the event loop.

    Every call runs in a worker thread on one connection; a capacity limiter of one (and a
    lock, for the thread side) serialises them, so a batch is never interleaved with another
    call. A cancelled call still finishes its transaction before the cancellation is seen.

    Args:
        path: the file; created (with its tables) if missing.
        clock: epoch seconds for ``saved_at`` and put-aside times (the runtime's clock).
        max_dead_letters, max_put_aside: only the newest this many are kept, so a guild
            crashing in a loop cannot fill the disk.

    Use ``async with SQLiteStore(path) as store:`` or ``await store.open()`` … ``close()``.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time,
                 max_dead_letters: int = 10_000, max_put_aside: int = 1_000) -> None:
        self.path = os.fspath(path)
        self._clock = clock
        self._max_dead = max_dead_letters
        self._max_put_aside = max_put_aside
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None
        self._closed = False
        self._batches = self._rows_saved = self._loads = 0
        self._put_aside_count = self._dead_count = 0
        self._last_save_s = 0.0

    async def open(self) -> SQLiteStore:
        """Open (and if need be create) the file. Raises ``StoreError`` / ``NotAStoreError``."""
        if self._conn is not None or self._closed:
            raise StoreError(self.path, "already opened")
        self._limiter = anyio.CapacityLimiter(1)
        # Shielded: a cancellation arriving while the thread opens would lose the connection.
        with anyio.CancelScope(shield=True):
            self._conn = await anyio.to_thread.run_sync(_open_rw, self.path,
                                                        limiter=self._limiter)
        return self

    async def __aenter__(self) -> SQLiteStore:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is None:
            return

        def close() -> None:
            with self._lock:
                conn.close()

        # Shielded: close is called from finally blocks of cancelled scopes too.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(close, limiter=self._limiter)

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._conn is None or self._limiter is None:
            raise StoreError(self.path, "closed" if self._closed else "not opened")

        def call() -> _T:
            conn = self._conn
            if conn is None:  # closed while this call waited for the limiter
                raise StoreError(self.path, "closed")
            with self._lock:
                try:
                    return fn(conn)
                except BaseException as exc:
                    if conn.in_transaction:  # all or nothing, whatever went wrong
                        conn.rollback()
                    if isinstance(exc, sqlite3.Error):
                        raise StoreError(self.path, f"{type(exc).__name__}: {exc}") from exc
                    raise

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def load(self, guild_id: int) -> bytes | None:
        self._loads += 1

        def load(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute("SELECT data FROM snapshots WHERE guild_id = ?",
                               (guild_id,)).fetchone()
            return None if row is None else bytes(row[0])

        return await self._run(load)

    async def load_many(self, guild_ids: Sequence[int]) -> dict[int, bytes]:
        ids = list(guild_ids)
        self._loads += len(ids)

        def load_many(conn: sqlite3.Connection) -> dict[int, bytes]:
            out: dict[int, bytes] = {}
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i:i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for g, d in conn.execute(
                        f"SELECT guild_id, data FROM snapshots WHERE guild_id IN ({marks})",
                        chunk):
                    out[g] = bytes(d)
            return out

        return await self._run(load_many)

    async def save_many(self, items: Sequence[tuple[int, bytes]]) -> None:
        await self._save(items, passivate=False)

    async def passivate_many(self, items: Sequence[tuple[int, bytes, float]]) -> None:
        await self._save(items, passivate=True)

    async def _save(self, items: Sequence[tuple[int, bytes]] | Sequence[tuple[int, bytes, float]],
                    *, passivate: bool) -> None:
        if not items:
            return
        now = self._clock()

        def save(conn: sqlite3.Connection) -> float:
            # Rows are made one at a time as SQLite binds them (a generator): 100,000 tuples
            # built up front would trigger full garbage collections, holding the GIL (and so
            # the event loop) for tens of milliseconds. The caller is awaiting: ``items``
            # holds still.
            params: Iterable[tuple[int, bytes, float, float | None]]
            if passivate:
                params = ((g, d, now, _check_wake(w)) for g, d, w in items)  # type: ignore[misc]
            else:
                params = ((g, d, now, None) for g, d in items)  # type: ignore[misc]
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_UPSERT, params)
            conn.execute("COMMIT")
            return time.perf_counter() - t0

        self._last_save_s = await self._run(save)
        self._batches += 1
        self._rows_saved += len(items)

    async def load_all_ids(self) -> list[int]:
        def ids(conn: sqlite3.Connection) -> list[int]:
            return [r[0] for r in conn.execute("SELECT guild_id FROM snapshots ORDER BY 1")]

        return await self._run(ids)

    async def load_wakeups(self) -> list[tuple[int, float | None]]:
        def wakeups(conn: sqlite3.Connection) -> list[tuple[int, float | None]]:
            return conn.execute(
                "SELECT guild_id, wake_at FROM snapshots ORDER BY guild_id").fetchall()

        return await self._run(wakeups)

    async def put_aside(self, guild_id: int, data: bytes, error: str) -> None:
        at = self._clock()

        def put_aside(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute(
                "INSERT INTO put_aside (guild_id, data, error, at) VALUES (?, ?, ?, ?)",
                (guild_id, data, error, at))
            # Only the very bytes that failed leave the snapshots: a newer save stays.
            conn.execute("DELETE FROM snapshots WHERE guild_id = ? AND data = ?",
                         (guild_id, data))
            conn.execute("DELETE FROM put_aside WHERE id <= ?",
                         ((cur.lastrowid or 0) - self._max_put_aside,))
            conn.execute("COMMIT")

        await self._run(put_aside)
        self._put_aside_count += 1

    async def dead_letter(self, guild_id: int, event_type: str, traceback: str,
                          at: float) -> None:
        def dead_letter(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute(
                "INSERT INTO dead_letters (guild_id, event_type, traceback, at) "
                "VALUES (?, ?, ?, ?)", (guild_id, event_type, traceback, at))
            conn.execute("DELETE FROM dead_letters WHERE id <= ?",
                         ((cur.lastrowid or 0) - self._max_dead,))
            conn.execute("COMMIT")

        await self._run(dead_letter)
        self._dead_count += 1

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(self._batches, self._rows_saved, self._last_save_s, self._loads,
                               self._put_aside_count, self._dead_count)


# --- read-only helpers (ops/inspect.py) --------------------------------------------------

def _read(path: str | os.PathLike[str], sql: str,
          args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    conn = _open_ro(path)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.DatabaseError as exc:
        raise NotAStoreError(path, str(exc)) from None
    finally:
        conn.close()


def iter_snapshots(path: str | os.PathLike[str]) -> Iterator[StoredSnapshot]:
    """Every snapshot row of a store file, one at a time (blocking, read-only): a million
    guilds are read without holding all their bytes at once. Raises as ``read_snapshots``,
    the open errors on the first ``next``."""
    conn = _open_ro(path)
    try:
        cur = conn.execute(
            "SELECT guild_id, data, saved_at, wake_at FROM snapshots ORDER BY guild_id")
        while rows := cur.fetchmany(1000):
            for g, d, s, w in rows:
                yield StoredSnapshot(g, bytes(d), s, w)
    except sqlite3.DatabaseError as exc:
        raise NotAStoreError(path, str(exc)) from None
    finally:
        conn.close()


def read_snapshots(path: str | os.PathLike[str],
                   guild_id: int | None = None) -> list[StoredSnapshot]:
    """Read the snapshot rows of a store file without writing to it (blocking).

    Args:
        path: the store file.
        guild_id: only this guild's row (an empty list if it has none).

    Raises:
        StoreMissingError: there is no file at ``path``.
        NotAStoreError: the file is not a snapshot store, or is corrupt.
    """
    if guild_id is None:
        return list(iter_snapshots(path))
    rows = _read(path, "SELECT guild_id, data, saved_at, wake_at FROM snapshots "
                       "WHERE guild_id = ?", (guild_id,))
    return [StoredSnapshot(g, bytes(d), s, w) for g, d, s, w in rows]


def read_dead_letters(path: str | os.PathLike[str],
                      guild_id: int | None = None) -> list[DeadLetter]:
    """The dead letters of a store file, oldest first (optionally of one guild). Raises as
    ``read_snapshots``."""
    sql = "SELECT id, guild_id, event_type, traceback, at FROM dead_letters"
    rows = (_read(path, sql + " ORDER BY id") if guild_id is None
            else _read(path, sql + " WHERE guild_id = ? ORDER BY id", (guild_id,)))
    return [DeadLetter(*r) for r in rows]


def read_put_aside(path: str | os.PathLike[str], guild_id: int | None = None) -> list[PutAside]:
    """The snapshots put aside in a store file, oldest first (optionally of one guild).
    Raises as ``read_snapshots``."""
    sql = "SELECT id, guild_id, data, error, at FROM put_aside"
    rows = (_read(path, sql + " ORDER BY id") if guild_id is None
            else _read(path, sql + " WHERE guild_id = ? ORDER BY id", (guild_id,)))
    return [PutAside(i, g, bytes(d), e, a) for i, g, d, e, a in rows]
