"""The embedded store: one SQLite file in WAL mode, written off the event loop.

The store moves opaque bytes (``engine.encode_state``); decoding and the version check are the
caller's (``engine.restore_state``), which hands a row it cannot read to ``put_aside``.

Besides the snapshot, each guild's row may carry its next wake-up (``passivate_many``): a
passivated guild is known by its id and one float, so a restarted supervisor learns every
known guild's next wake-up with one read (``load_wakeups``) instead of restoring them all.

SQLite's columns take any type, so a row edited by hand (a TEXT ``wake_at``) is possible: the
loaders read only well-typed rows, and opening the store puts the others aside. Over 500
lines: the whole store contract (snapshots, settings, opt-outs, leases) for one backend.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import anyio
import anyio.to_thread

from runtime.store.contract import (
    LeaseLostError,
    RowsRefusedError,
    StoreError,
    StoreUnavailableError,
    bad_id,
    check_id,
)
from runtime.store.leases import (
    HeldLeases,
    Lease,
    LeaseGrant,
    Standing,
    check_request,
    plan_acquire,
)
from runtime.store.rows import Refused, batch_rows
from runtime.store.sqlite_schema import open_rw
from runtime.store.threaded import Rows, ThreadedStore

__all__ = ["GOOD_ROW", "SQLiteStore"]

_T = TypeVar("_T")

_UPSERT = (
    "INSERT INTO snapshots (guild_id, data, saved_at, wake_at, removed_at) "
    "VALUES (?, ?, ?, ?, NULL) "
    "ON CONFLICT (guild_id) DO UPDATE SET data = excluded.data, "
    "saved_at = excluded.saved_at, wake_at = excluded.wake_at, removed_at = NULL"
)
#: A row the loaders can use: every column of its type, a positive guild id, not removed.
GOOD_ROW = ("typeof(data) = 'blob' AND typeof(saved_at) IN ('real', 'integer') "
            "AND (wake_at IS NULL OR typeof(wake_at) IN ('real', 'integer')) AND guild_id > 0")
_LIVE = f"removed_at IS NULL AND {GOOD_ROW}"
#: Ids per ``IN (...)`` query: under SQLite's default limit of host parameters.
_CHUNK = 500


class SQLiteStore(ThreadedStore):
    """The embedded store: one SQLite file in WAL mode, written off the event loop.

    Every call runs in a worker thread on one connection; a capacity limiter of one (and a
    lock, for the thread side) serialises them, so a batch is never interleaved with another
    call. A cancelled call still finishes its transaction before the cancellation is seen.

    Args:
        path: the file; created (with its tables) if missing, upgraded if older.
        clock: epoch seconds for ``saved_at`` and put-aside times (the runtime's clock).
        lease_clock: epoch seconds for lease expiry (the wall clock: one host); called in
            worker threads.
        max_dead_letters, max_put_aside: only the newest this many are kept, so a guild
            crashing in a loop cannot fill the disk.

    Use ``async with SQLiteStore(path) as store:`` or ``await store.open()`` … ``close()``.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time,
                 lease_clock: Callable[[], float] = time.time,
                 max_dead_letters: int = 10_000, max_put_aside: int = 1_000) -> None:
        self.path = os.fspath(path)
        self._clock = clock
        self._lease_clock = lease_clock
        self._max_dead = max_dead_letters
        self._max_put_aside = max_put_aside
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None
        self._closed = False
        self._held: HeldLeases | None = None
        super().__init__()

    async def open(self) -> SQLiteStore:
        """Open (and if need be create or upgrade) the file, and put aside the rows whose
        columns have the wrong types. Raises ``StoreError`` / ``NotAStoreError``."""
        if self._conn is not None or self._closed:
            raise StoreError(self.path, "already opened")
        self._limiter = anyio.CapacityLimiter(1)
        at = self._clock()  # on the loop: the runtime's clock may read the loop's time

        def open_and_sweep() -> sqlite3.Connection:
            conn = open_rw(self.path)
            try:
                self._put_aside_count += _sweep_bad_rows(conn, at)
            except sqlite3.Error as exc:
                conn.close()
                raise StoreError(self.path, f"{type(exc).__name__}: {exc}") from None
            return conn

        # Shielded: a cancellation arriving while the thread opens would lose the connection.
        with anyio.CancelScope(shield=True):
            self._conn = await anyio.to_thread.run_sync(open_and_sweep, limiter=self._limiter)
        return self

    async def __aenter__(self) -> SQLiteStore:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the file (idempotent); further calls raise ``StoreError``."""
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
                    if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                        raise StoreUnavailableError(self.path, f"{type(exc).__name__}: {exc}"
                                                    ) from exc
                    if isinstance(exc, sqlite3.Error):
                        raise StoreError(self.path, f"{type(exc).__name__}: {exc}") from exc
                    raise

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    # --- snapshots ----------------------------------------------------------------------

    async def load(self, guild_id: int) -> bytes | None:
        """The guild's snapshot, or None (none, removed, or a row put aside at open)."""
        self._loads += 1
        if bad_id(guild_id) is not None:  # no such row can exist (and SQLite cannot bind it)
            return None

        def load(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(f"SELECT data FROM snapshots WHERE guild_id = ? AND {_LIVE}",
                               (guild_id,)).fetchone()
            return None if row is None else bytes(row[0])

        return await self._run(load)

    async def load_many(self, guild_ids: Sequence[int]) -> dict[int, bytes]:
        """The snapshots of those guilds that have one."""
        ids = [g for g in guild_ids if bad_id(g) is None]
        self._loads += len(ids)

        def load_many(conn: sqlite3.Connection) -> dict[int, bytes]:
            out: dict[int, bytes] = {}
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i:i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for g, d in conn.execute(
                        f"SELECT guild_id, data FROM snapshots WHERE guild_id IN ({marks}) "
                        f"AND {_LIVE}", chunk):
                    out[g] = bytes(d)
            return out

        return await self._run(load_many)

    def _write_batch(self, conn: sqlite3.Connection, items: Rows, passivate: bool,
                     now: float, held: HeldLeases | None, refused: Refused) -> None:
        conn.execute("BEGIN IMMEDIATE")
        standing = _standing(conn, held, self._lease_clock())
        # Rows are made one at a time as SQLite binds them (a generator): 100,000 tuples
        # built up front would trigger full garbage collections, holding the GIL (and so
        # the event loop) for tens of milliseconds. The caller is awaiting: ``items``
        # holds still.
        conn.executemany(_UPSERT, batch_rows(items, passivate, now, held, standing, refused))
        conn.execute("COMMIT")

    async def load_all_ids(self) -> list[int]:
        """Every guild with a snapshot, not removed."""
        def ids(conn: sqlite3.Connection) -> list[int]:
            return [r[0] for r in conn.execute(
                f"SELECT guild_id FROM snapshots WHERE {_LIVE} ORDER BY 1")]

        return await self._run(ids)

    async def load_wakeups(self) -> list[tuple[int, float | None]]:
        """Every guild with a snapshot and its wake-up, by guild id."""
        def wakeups(conn: sqlite3.Connection) -> list[tuple[int, float | None]]:
            return conn.execute(
                f"SELECT guild_id, wake_at FROM snapshots WHERE {_LIVE} "
                "ORDER BY guild_id").fetchall()

        return await self._run(wakeups)

    async def put_aside(self, guild_id: int, data: bytes, error: str) -> None:
        """Keep a snapshot that cannot be restored; the very bytes leave the snapshots.
        Raises ``StoreError`` for a bad id."""
        check_id(guild_id, "put_aside", self.path)
        at = self._clock()

        def put_aside(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            _put_aside(conn, guild_id, data, error, at, self._max_put_aside)
            # Only the very bytes that failed leave the snapshots: a newer save stays.
            conn.execute("DELETE FROM snapshots WHERE guild_id = ? AND data = ?",
                         (guild_id, data))
            conn.execute("COMMIT")

        await self._run(put_aside)
        self._put_aside_count += 1

    async def dead_letter(self, guild_id: int, event_type: str, traceback: str,
                          at: float) -> None:
        """Record an event that crashed the guild's actor (the newest are kept). Raises
        ``StoreError`` for a bad id."""
        check_id(guild_id, "dead_letter", self.path)

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

    async def mark_removed(self, guild_id: int, at: float) -> None:
        """Flag the guild's row removed (kept for inspection). Raises ``StoreError`` for a bad
        id, ``RowsRefusedError`` when its shard is not leased to this store."""
        check_id(guild_id, "mark_removed", self.path)
        held = self._held

        def mark(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            why = None if held is None else held.problem(
                guild_id, _standing(conn, held, self._lease_clock()))
            if why is not None:
                conn.execute("ROLLBACK")
                raise RowsRefusedError(self.path, {guild_id: why[1]}, 1, {guild_id: why[0]})
            conn.execute("UPDATE snapshots SET removed_at = ? "
                         "WHERE guild_id = ? AND removed_at IS NULL", (float(at), guild_id))
            conn.execute("COMMIT")

        await self._run(mark)

    async def purge_removed(self, before: float) -> int:
        """Delete the rows removed before ``before``; returns how many."""
        def purge(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM snapshots WHERE removed_at < ?",
                                (float(before),)).rowcount

        return await self._run(purge)

    # --- settings and opt-outs ----------------------------------------------------------

    async def load_settings(self) -> dict[int, bytes]:
        """Every guild's admin settings (rows of the wrong type are skipped)."""
        def load(conn: sqlite3.Connection) -> dict[int, bytes]:
            return {g: bytes(d) for g, d in conn.execute(
                "SELECT guild_id, data FROM settings WHERE typeof(data) = 'blob' "
                "AND guild_id > 0")}

        return await self._run(load)

    async def save_settings(self, guild_id: int, data: bytes | None) -> None:
        """Replace a guild's settings; None deletes them. Raises ``StoreError`` for a bad id
        or data that is not bytes."""
        check_id(guild_id, "save_settings", self.path)
        if data is not None and not isinstance(data, bytes | bytearray | memoryview):
            raise StoreError(self.path, "save_settings: data must be bytes or None, got "
                                        f"{type(data).__name__}")
        at = self._clock()

        def save(conn: sqlite3.Connection) -> None:
            if data is None:
                conn.execute("DELETE FROM settings WHERE guild_id = ?", (guild_id,))
            else:
                conn.execute(
                    "INSERT INTO settings (guild_id, data, saved_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (guild_id) DO UPDATE SET data = excluded.data, "
                    "saved_at = excluded.saved_at", (guild_id, bytes(data), at))

        await self._run(save)

    async def load_optouts(self) -> set[int]:
        """The user ids that opted out."""
        def load(conn: sqlite3.Connection) -> set[int]:
            return {u for (u,) in conn.execute("SELECT user_id FROM optouts WHERE user_id > 0")}

        return await self._run(load)

    async def set_optout(self, user_id: int, opted_out: bool, at: float) -> None:
        """Record an opt-out (True) or opt-in (False). Raises ``StoreError`` for a bad id."""
        check_id(user_id, "set_optout", self.path)

        def set_(conn: sqlite3.Connection) -> None:
            if opted_out:
                conn.execute("INSERT INTO optouts (user_id, at) VALUES (?, ?) "
                             "ON CONFLICT (user_id) DO UPDATE SET at = excluded.at",
                             (user_id, float(at)))
            else:
                conn.execute("DELETE FROM optouts WHERE user_id = ?", (user_id,))

        await self._run(set_)

    # --- shard leases (runtime.store.leases) --------------------------------------------

    async def acquire_leases(self, owner: str, shard_ids: Sequence[int], shard_count: int,
                             ttl_s: float) -> LeaseGrant:
        """Take the leases of ``shard_ids`` of ``shard_count`` for ``owner`` if every one is
        free (one attempt, all or nothing; ``open_leases`` waits). From then on every write
        of this store is conditional on them. Raises ``StoreError`` for a bad request."""
        ids = check_request(owner, shard_ids, shard_count, ttl_s, self.path)

        def acquire(conn: sqlite3.Connection) -> LeaseGrant:
            conn.execute("BEGIN IMMEDIATE")
            now = self._lease_clock()
            rows = [Lease(*r) for r in conn.execute(
                "SELECT shard_id, shard_count, owner, fence, expires_at FROM leases")]
            blocked, writes = plan_acquire(rows, owner, ids, shard_count, ttl_s, now)
            if blocked:
                conn.execute("ROLLBACK")
                return LeaseGrant((), tuple(blocked), now)
            conn.executemany(
                "INSERT INTO leases (shard_id, shard_count, owner, fence, expires_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (shard_id) DO UPDATE SET "
                "shard_count = excluded.shard_count, owner = excluded.owner, "
                "fence = excluded.fence, expires_at = excluded.expires_at",
                [(r.shard_id, r.shard_count, r.owner, r.fence, r.expires_at) for r in writes])
            conn.execute("COMMIT")
            return LeaseGrant(tuple(r for r in writes if r.owner == owner), (), now)

        grant = await self._run(acquire)
        if grant.ok:
            self._held = HeldLeases(owner, shard_count,
                                    {r.shard_id: r.fence for r in grant.granted})
        return grant

    async def renew_leases(self, ttl_s: float) -> tuple[Lease, ...]:
        """Extend every held lease to ``ttl_s`` from now. Raises ``LeaseLostError`` naming
        the shards that are no longer ours (the others are renewed)."""
        held = self._held
        if held is None:
            return ()

        def renew(conn: sqlite3.Connection) -> tuple[list[Lease], list[int]]:
            conn.execute("BEGIN IMMEDIATE")
            expires = self._lease_clock() + ttl_s
            renewed, lost = [], []
            for sid, fence in sorted(held.fences.items()):
                n = conn.execute(
                    "UPDATE leases SET expires_at = ? WHERE shard_id = ? AND owner = ? "
                    "AND fence = ? AND shard_count = ?",
                    (expires, sid, held.owner, fence, held.shard_count)).rowcount
                if n:
                    renewed.append(Lease(sid, held.shard_count, held.owner, fence, expires))
                else:
                    lost.append(sid)
            conn.execute("COMMIT")
            return renewed, lost

        renewed, lost = await self._run(renew)
        if lost:
            for sid in lost:
                held.fences.pop(sid, None)
                held.lost.add(sid)
            raise LeaseLostError(self.path, lost, held.shard_count)
        return tuple(renewed)

    async def release_leases(self) -> None:
        """Give the held leases up; from then on every write of this store is refused."""
        held = self._held
        if held is None:
            return
        self._held = HeldLeases(held.owner, held.shard_count, {})

        def release(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE leases SET owner = '', expires_at = 0 "
                "WHERE shard_id = ? AND owner = ? AND fence = ?",
                [(sid, held.owner, fence) for sid, fence in held.fences.items()])

        await self._run(release)



def _busy(exc: sqlite3.OperationalError) -> bool:
    """The file is locked by another connection past the busy timeout: a later try may
    succeed (the data is not at fault)."""
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) \
        or "locked" in str(exc)


def _standing(conn: sqlite3.Connection, held: HeldLeases | None, now: float) -> Standing:
    if held is None:
        return Standing()
    return held.standing(conn.execute(
        "SELECT shard_id, fence, expires_at FROM leases WHERE owner = ? AND shard_count = ?",
        (held.owner, held.shard_count)), now)


def _put_aside(conn: sqlite3.Connection, guild_id: int, data: bytes, error: str, at: float,
               keep: int) -> None:
    cur = conn.execute("INSERT INTO put_aside (guild_id, data, error, at) VALUES (?, ?, ?, ?)",
                       (guild_id, data, error, at))
    conn.execute("DELETE FROM put_aside WHERE id <= ?", ((cur.lastrowid or 0) - keep,))


def _sweep_bad_rows(conn: sqlite3.Connection, at: float) -> int:
    """Put aside every snapshot row whose columns have the wrong types; returns how many."""
    bad = conn.execute(
        "SELECT guild_id, CAST(data AS BLOB), typeof(data), typeof(saved_at), "
        f"typeof(wake_at) FROM snapshots WHERE removed_at IS NULL AND NOT ({GOOD_ROW})"
    ).fetchall()
    if not bad:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    for g, data, t_data, t_saved, t_wake in bad:
        error = bad_row_error(g, t_data, t_saved, t_wake)
        _put_aside(conn, g, b"" if data is None else bytes(data), error, at, 1_000_000)
        conn.execute("DELETE FROM snapshots WHERE guild_id = ?", (g,))
    conn.execute("COMMIT")
    return len(bad)


def bad_row_error(guild_id: int, t_data: str, t_saved: str, t_wake: str) -> str:
    """What is wrong with a snapshot row, from its columns' SQLite types."""
    problems = []
    if guild_id <= 0:
        problems.append(f"guild_id {guild_id} out of range (need 0 < id < 2**63)")
    if t_data != "blob":
        problems.append(f"data is {t_data}, not blob")
    if t_saved not in ("real", "integer"):
        problems.append(f"saved_at is {t_saved}, not real")
    if t_wake not in ("null", "real", "integer"):
        problems.append(f"wake_at is {t_wake}, not real or null")
    return "bad snapshot row: " + "; ".join(problems)
