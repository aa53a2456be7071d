"""The shared store: PostgreSQL, for shard sets run as several processes on several hosts.

psycopg 3 with its connection pool. psycopg's async API runs only on asyncio, and the runtime
runs on trio too, so every call is a blocking psycopg call in a worker thread
(``anyio.to_thread.run_sync``), at most ``max_size`` at a time (one pooled connection each).
Each call is one transaction. Snapshot batches go through COPY into a temporary table, then one
upsert: 100,000 rows in one statement instead of 100,000 round trips.

Lease expiry uses the database server's clock (``lease_clock=None``): processes on hosts whose
clocks disagree still agree on when a lease ends. Over 500 lines: the whole store contract
(snapshots, settings, opt-outs, leases, read-only helpers) for one backend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import msgspec

from runtime.store.contract import (
    LeaseLostError,
    RowsRefusedError,
    StoreError,
    StoreStatistics,
    StoreUnavailableError,
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
from runtime.store.outage import OutageLog
from runtime.store.pg_schema import check_url, ensure_schema, redact_url
from runtime.store.pg_side import (
    CHANGES_CHANNEL,
    Listener,
    SideConnection,
    connection_options,
    describe,
)
from runtime.store.rows import Refused, batch_rows
from runtime.store.threaded import Rows, ThreadedStore

__all__ = ["PostgresStore"]

_T = TypeVar("_T")

_UPSERT = (
    "INSERT INTO snapshots (guild_id, data, saved_at, wake_at, removed_at) "
    "SELECT guild_id, data, %s, wake_at, NULL FROM incoming "
    "ON CONFLICT (guild_id) DO UPDATE SET data = excluded.data, saved_at = excluded.saved_at, "
    "wake_at = excluded.wake_at, removed_at = NULL"
)


def _psycopg_error() -> type[BaseException]:
    import psycopg

    return psycopg.Error


class PostgresStore(ThreadedStore):
    """The ``SnapshotStore`` on a PostgreSQL database, with shard leases.

    Args:
        url: ``postgresql://user@host:port/dbname`` (or with ``?host=/socket/dir``); no
            password in it (libpq's ``PGPASSWORD``, ``PGPASSFILE`` or ``passfile=`` give it).
        clock: epoch seconds for ``saved_at`` and put-aside times (the runtime's clock).
        lease_clock: epoch seconds for lease expiry; None uses the server's clock.
        min_size, max_size: pooled connections (``max_size`` calls at once).
        connect_timeout_s: how long ``open`` waits for the first connection.
        statement_timeout_s: the longest a pooled call may take (server side; a silent
            server is given up on as soon, by TCP keepalives and ``tcp_user_timeout``).
        lease_timeout_s: the same for the lease calls and the readiness probe, which run on
            a connection of their own (``pg_side``), never behind the pool.
        max_dead_letters, max_put_aside: only the newest this many are kept.

    Raises:
        StoreError: (from the constructor) a URL that is not PostgreSQL's or carries a password.
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time,
                 lease_clock: Callable[[], float] | None = None, min_size: int = 1,
                 max_size: int = 4, connect_timeout_s: float = 10.0,
                 statement_timeout_s: float = 60.0, lease_timeout_s: float = 5.0,
                 max_dead_letters: int = 10_000, max_put_aside: int = 1_000) -> None:
        self._url = check_url(url)
        self.path = redact_url(url)
        self._clock = clock
        self._lease_clock = lease_clock
        self._min, self._max = min_size, max_size
        self._connect_timeout = connect_timeout_s
        self._statement_timeout = statement_timeout_s
        self._side = SideConnection(self._url, self.path, lease_timeout_s)
        self._outage = OutageLog(self.path)
        self._listener = Listener(self._url, self.path, CHANGES_CHANNEL, connect_timeout_s)
        self._max_dead = max_dead_letters
        self._max_put_aside = max_put_aside
        self._pool: Any = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._closed = False
        self._held: HeldLeases | None = None
        super().__init__()

    async def open(self) -> PostgresStore:
        """Connect, and create or upgrade the tables. Raises ``StoreError`` (cannot connect:
        libpq's reason) or ``NotAStoreError`` (a newer layout, foreign tables)."""
        if self._pool is not None or self._closed:
            raise StoreError(self.path, "already opened")
        self._limiter = anyio.CapacityLimiter(self._max)
        # psycopg_pool says every failed reconnection in a multi-line warning; an outage is
        # said once each way by the store (store.unreachable / store.back) instead.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

        def open_pool() -> Any:
            import psycopg_pool

            pool = psycopg_pool.ConnectionPool(
                self._url, min_size=self._min, max_size=self._max, open=False,
                timeout=self._connect_timeout, name="miku-store",
                # A pooled connection broken by an outage is replaced before it is handed
                # out, so the first calls after the store came back do not fail on it.
                check=psycopg_pool.ConnectionPool.check_connection,
                kwargs=connection_options(self._connect_timeout, self._statement_timeout))
            try:
                pool.open(wait=False)
                # The first connection is waited for in short steps (a getconn timeout
                # leaves the pool open, unlike ``wait``), so an abandoned open (its caller
                # cancelled) ends at once instead of holding the interpreter's exit.
                give_up = time.monotonic() + self._connect_timeout
                while True:
                    try:
                        step = max(0.01, min(0.25, give_up - time.monotonic()))
                        with pool.connection(timeout=step) as conn:
                            ensure_schema(conn, self.path)
                        break
                    except psycopg_pool.PoolTimeout:
                        if abandoned.is_set():
                            pool.close(timeout=0.1)
                            raise StoreError(self.path, "open abandoned") from None
                        if time.monotonic() >= give_up:
                            raise
            except psycopg_pool.PoolTimeout:
                reason = _connect_reason(self._url)
                pool.close()
                raise StoreUnavailableError(self.path, f"cannot connect: {reason}") from None
            except StoreError:
                raise
            except _psycopg_error() as exc:
                pool.close()
                raise _store_error(self.path, exc) from None
            except BaseException:
                pool.close()
                raise
            if abandoned.is_set():  # its caller is gone (a SIGTERM at start): nobody owns it
                pool.close()
            return pool

        # Abandoned, not waited for, when the caller is cancelled: a stop while the server
        # does not answer must not wait out the connect timeout.
        abandoned = threading.Event()
        try:
            self._pool = await anyio.to_thread.run_sync(open_pool, limiter=self._limiter,
                                                        abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            abandoned.set()
            raise
        return self

    async def __aenter__(self) -> PostgresStore:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pool (idempotent); further calls raise ``StoreError``."""
        if self._closed:
            return
        self._closed = True
        pool, self._pool = self._pool, None
        with anyio.move_on_after(self._connect_timeout, shield=True):
            await anyio.to_thread.run_sync(self._side.close, abandon_on_cancel=True)
            await anyio.to_thread.run_sync(self._listener.close, abandon_on_cancel=True)
        if pool is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(pool.close)

    async def _run(self, fn: Callable[[Any], _T]) -> _T:
        """Run ``fn(conn)`` in a worker thread, in one transaction (committed when it returns,
        rolled back when it raises).

        A blocking call cannot be cancelled, so a caller's deadline (``move_on_after``: the
        final snapshot at shutdown) is handed to the server instead: the wait for a pooled
        connection and the statement (``SET LOCAL statement_timeout``, lock waits included)
        end by then, and the call fails with ``StoreUnavailableError``."""
        pool = self._pool
        if pool is None or self._limiter is None:
            raise StoreError(self.path, "closed" if self._closed else "not opened")
        left = anyio.current_effective_deadline() - anyio.current_time()
        timeout_s = max(0.05, min(left, self._statement_timeout))
        local = f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}" \
            if timeout_s < self._statement_timeout else None

        def call() -> _T:
            try:
                with pool.connection(timeout=min(timeout_s, self._connect_timeout)) as conn:
                    if local is not None:
                        conn.execute(local)
                    return fn(conn)
            except (StoreError, ValueError, TypeError):
                raise
            except Exception as exc:
                raise _store_error(self.path, exc) from exc

        return await self._tracked(anyio.to_thread.run_sync(call, limiter=self._limiter))

    async def _tracked(self, call: Awaitable[_T]) -> _T:
        """``call``'s result, with the outage log told whether the store answered."""
        try:
            result = await call
        except (StoreUnavailableError, TimeoutError) as exc:
            self._outage.failed(str(exc) or "timed out")
            raise
        self._outage.ok()
        return result

    def _lease_now(self, conn: Any) -> float:
        if self._lease_clock is not None:
            return self._lease_clock()
        row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        if row is None:  # never: a SELECT of one value returns one row
            raise StoreError(self.path, "the server did not say what time it is")
        return float(row[0])

    def _standing(self, conn: Any, held: HeldLeases | None) -> Standing:
        if held is None:
            return Standing()
        # FOR SHARE: a process taking the shard over waits until this transaction ends, so it
        # reads what this one wrote, and this one can never write after it took over.
        now = self._lease_now(conn)
        return held.standing(conn.execute(
            "SELECT shard_id, fence, expires_at FROM leases WHERE owner = %s "
            "AND shard_count = %s FOR SHARE", (held.owner, held.shard_count)).fetchall(), now)

    # --- snapshots ----------------------------------------------------------------------

    async def load(self, guild_id: int) -> bytes | None:
        """The guild's snapshot, or None (none, or removed)."""
        self._loads += 1

        def load(conn: Any) -> bytes | None:
            row = conn.execute("SELECT data FROM snapshots WHERE guild_id = %s "
                               "AND removed_at IS NULL", (guild_id,)).fetchone()
            return None if row is None else bytes(row[0])

        if not 0 < guild_id < 2**63:
            return None
        return await self._run(load)

    async def load_many(self, guild_ids: Sequence[int]) -> dict[int, bytes]:
        """The snapshots of those guilds that have one."""
        ids = [g for g in guild_ids if isinstance(g, int) and 0 < g < 2**63]
        self._loads += len(ids)

        def load_many(conn: Any) -> dict[int, bytes]:
            return {g: bytes(d) for g, d in conn.execute(
                "SELECT guild_id, data FROM snapshots WHERE guild_id = ANY(%s) "
                "AND removed_at IS NULL", (ids,))}

        return await self._run(load_many) if ids else {}

    def _write_batch(self, conn: Any, items: Rows, passivate: bool, now: float,
                     held: HeldLeases | None, refused: Refused) -> None:
        standing = self._standing(conn, held)
        conn.execute("CREATE TEMP TABLE incoming (guild_id BIGINT, data BYTEA, "
                     "wake_at DOUBLE PRECISION) ON COMMIT DROP")
        with conn.cursor() as cur:
            with cur.copy("COPY incoming (guild_id, data, wake_at) FROM STDIN "
                          "(FORMAT BINARY)") as copy:
                copy.set_types(["int8", "bytea", "float8"])
                # One row at a time, in this thread: no 100,000 tuples built on the loop
                # (they would set off full garbage collections there).
                for g, d, _, w in batch_rows(items, passivate, 0.0, held, standing, refused):
                    copy.write_row((g, d, w))
            cur.execute(_UPSERT, (now,))

    async def load_all_ids(self) -> list[int]:
        """Every guild with a snapshot, not removed."""
        def ids(conn: Any) -> list[int]:
            return [r[0] for r in conn.execute(
                "SELECT guild_id FROM snapshots WHERE removed_at IS NULL ORDER BY 1")]

        return await self._run(ids)

    async def load_wakeups(self) -> list[tuple[int, float | None]]:
        """Every guild with a snapshot and its wake-up, by guild id."""
        def wakeups(conn: Any) -> list[tuple[int, float | None]]:
            with conn.cursor() as cur:
                cur.execute("SELECT guild_id, wake_at FROM snapshots WHERE removed_at IS NULL "
                            "ORDER BY guild_id")
                return [(g, w) for g, w in cur]

        return await self._run(wakeups)

    async def put_aside(self, guild_id: int, data: bytes, error: str) -> None:
        """Keep a snapshot that cannot be restored; the very bytes leave the snapshots.
        Raises ``StoreError`` for a bad id."""
        check_id(guild_id, "put_aside", self.path)
        at = self._clock()

        def put_aside(conn: Any) -> None:
            conn.execute("INSERT INTO put_aside (guild_id, data, error, at) "
                         "VALUES (%s, %s, %s, %s)", (guild_id, bytes(data), error, at))
            conn.execute("DELETE FROM snapshots WHERE guild_id = %s AND data = %s",
                         (guild_id, bytes(data)))
            _trim(conn, "put_aside", self._max_put_aside)

        await self._run(put_aside)
        self._put_aside_count += 1

    async def dead_letter(self, guild_id: int, event_type: str, traceback: str,
                          at: float) -> None:
        """Record an event that crashed the guild's actor (the newest are kept). Raises
        ``StoreError`` for a bad id."""
        check_id(guild_id, "dead_letter", self.path)

        def dead_letter(conn: Any) -> None:
            conn.execute("INSERT INTO dead_letters (guild_id, event_type, traceback, at) "
                         "VALUES (%s, %s, %s, %s)", (guild_id, event_type, traceback, at))
            _trim(conn, "dead_letters", self._max_dead)

        await self._run(dead_letter)
        self._dead_count += 1

    async def mark_removed(self, guild_id: int, at: float) -> None:
        """Flag the guild's row removed (kept for inspection). Raises ``StoreError`` for a bad
        id, ``RowsRefusedError`` when its shard is not leased to this store."""
        check_id(guild_id, "mark_removed", self.path)
        held = self._held

        def mark(conn: Any) -> None:
            why = None if held is None else held.problem(guild_id,
                                                         self._standing(conn, held))
            if why is not None:
                raise RowsRefusedError(self.path, {guild_id: why[1]}, 1, {guild_id: why[0]})
            conn.execute("UPDATE snapshots SET removed_at = %s "
                         "WHERE guild_id = %s AND removed_at IS NULL", (float(at), guild_id))

        await self._run(mark)

    async def purge_removed(self, before: float) -> int:
        """Delete the rows removed before ``before``; returns how many."""
        def purge(conn: Any) -> int:
            return int(conn.execute("DELETE FROM snapshots WHERE removed_at < %s",
                                    (float(before),)).rowcount)

        return await self._run(purge)

    # --- settings and opt-outs ----------------------------------------------------------

    async def load_settings(self) -> dict[int, bytes]:
        """Every guild's admin settings."""
        def load(conn: Any) -> dict[int, bytes]:
            return {g: bytes(d) for g, d in conn.execute("SELECT guild_id, data FROM settings")}

        return await self._run(load)

    async def save_settings(self, guild_id: int, data: bytes | None) -> None:
        """Replace a guild's settings; None deletes them. Raises ``StoreError`` for a bad id
        or data that is not bytes."""
        check_id(guild_id, "save_settings", self.path)
        if data is not None and not isinstance(data, bytes | bytearray | memoryview):
            raise StoreError(self.path, "save_settings: data must be bytes or None, got "
                                        f"{type(data).__name__}")
        at = self._clock()

        def save(conn: Any) -> None:
            if data is None:
                conn.execute("DELETE FROM settings WHERE guild_id = %s", (guild_id,))
            else:
                conn.execute(
                    "INSERT INTO settings (guild_id, data, saved_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (guild_id) DO UPDATE SET data = excluded.data, "
                    "saved_at = excluded.saved_at", (guild_id, bytes(data), at))
            # Delivered to every listening process when this transaction commits.
            conn.execute("SELECT pg_notify(%s, %s)", (CHANGES_CHANNEL, f"settings:{guild_id}"))

        await self._run(save)

    async def load_guild_settings(self, guild_id: int) -> bytes | None:
        """One guild's admin settings as the store has them now, or None."""
        def load(conn: Any) -> bytes | None:
            row = conn.execute("SELECT data FROM settings WHERE guild_id = %s",
                               (guild_id,)).fetchone()
            return None if row is None else bytes(row[0])

        return await self._run(load) if 0 < guild_id < 2**63 else None

    async def wait_changes(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for another process's (or this one's) change of settings
        or opt-outs (PostgreSQL LISTEN/NOTIFY on a connection of its own). Returns whether
        one came. Raises ``StoreUnavailableError`` when the listening connection is lost
        (notifications sent meanwhile are lost with it: re-read everything then)."""
        if self._pool is None:
            raise StoreError(self.path, "closed" if self._closed else "not opened")
        return await self._listener.wait(timeout_s)

    async def load_optouts(self) -> set[int]:
        """The user ids that opted out."""
        def load(conn: Any) -> set[int]:
            return {u for (u,) in conn.execute("SELECT user_id FROM optouts")}

        return await self._run(load)

    async def set_optout(self, user_id: int, opted_out: bool, at: float) -> None:
        """Record an opt-out (True) or opt-in (False). Raises ``StoreError`` for a bad id."""
        check_id(user_id, "set_optout", self.path)

        def set_(conn: Any) -> None:
            if opted_out:
                conn.execute("INSERT INTO optouts (user_id, at) VALUES (%s, %s) "
                             "ON CONFLICT (user_id) DO UPDATE SET at = excluded.at",
                             (user_id, float(at)))
            else:
                conn.execute("DELETE FROM optouts WHERE user_id = %s", (user_id,))
            conn.execute("SELECT pg_notify(%s, %s)", (CHANGES_CHANNEL, "optouts"))

        await self._run(set_)

    # --- shard leases (runtime.store.leases) --------------------------------------------

    async def acquire_leases(self, owner: str, shard_ids: Sequence[int], shard_count: int,
                             ttl_s: float) -> LeaseGrant:
        """Take the leases of ``shard_ids`` of ``shard_count`` for ``owner`` if every one is
        free (one attempt, all or nothing; ``open_leases`` waits). From then on every write
        of this store is conditional on them. Raises ``StoreError`` for a bad request."""
        ids = check_request(owner, shard_ids, shard_count, ttl_s, self.path)

        def acquire(conn: Any) -> LeaseGrant:
            # EXCLUSIVE: one acquisition at a time, after every snapshot transaction holding
            # a lease row FOR SHARE has ended (and before any new one starts).
            conn.execute("LOCK TABLE leases IN EXCLUSIVE MODE")
            now = self._lease_now(conn)
            rows = [Lease(*r) for r in conn.execute(
                "SELECT shard_id, shard_count, owner, fence, expires_at FROM leases")]
            blocked, writes = plan_acquire(rows, owner, ids, shard_count, ttl_s, now)
            if blocked:
                return LeaseGrant((), tuple(blocked), now)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO leases (shard_id, shard_count, owner, fence, expires_at) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (shard_id) DO UPDATE SET "
                    "shard_count = excluded.shard_count, owner = excluded.owner, "
                    "fence = excluded.fence, expires_at = excluded.expires_at",
                    [(r.shard_id, r.shard_count, r.owner, r.fence, r.expires_at)
                     for r in writes])
            return LeaseGrant(tuple(r for r in writes if r.owner == owner), (), now)

        grant = await self._tracked(self._side.run(acquire))
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

        def renew(conn: Any) -> tuple[list[Lease], list[int]]:
            expires = self._lease_now(conn) + ttl_s
            rows = conn.execute(
                "UPDATE leases SET expires_at = %s WHERE owner = %s AND shard_count = %s "
                "AND shard_id = ANY(%s) RETURNING shard_id, fence",
                (expires, held.owner, held.shard_count, list(held.fences))).fetchall()
            mine = {s for s, f in rows if held.fences.get(s) == f}
            if len(mine) != len(rows):  # never: a fence only grows under another owner
                raise StoreError(self.path, "lease rows changed under their owner")
            renewed = [Lease(s, held.shard_count, held.owner, held.fences[s], expires)
                       for s in sorted(mine)]
            return renewed, sorted(set(held.fences) - mine)

        renewed, lost = await self._tracked(self._side.run(renew))
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

        def release(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE leases SET owner = '', expires_at = 0 "
                    "WHERE shard_id = %s AND owner = %s AND fence = %s",
                    [(sid, held.owner, fence) for sid, fence in held.fences.items()])

        if held.fences:
            await self._tracked(self._side.run(release))

    async def ping(self) -> None:
        """Ask the server one cheap question on the lease connection (never behind the pool,
        abandoned at its deadline: ``/readyz`` never hangs). Raises ``StoreError``,
        ``StoreUnavailableError`` or ``TimeoutError``."""
        if self._pool is None:
            raise StoreError(self.path, "closed" if self._closed else "not opened")
        await self._tracked(self._side.run(lambda conn: conn.execute("SELECT 1").fetchall()))

    def statistics(self) -> StoreStatistics:
        """The counters since the store was opened."""
        return msgspec.structs.replace(super().statistics(),
                                       unreachable_now=int(self._outage.unreachable),
                                       outages=self._outage.outages,
                                       unreachable_calls=self._outage.failed_calls)


def _store_error(path: str, exc: BaseException) -> BaseException:
    """``exc`` as the store's error: ``StoreUnavailableError`` for what says the server is
    away or late (psycopg's ``OperationalError``: no connection, the pool's timeout, a
    statement or lock timeout, an administrator's shutdown), ``StoreError`` for any other
    psycopg or pool error, ``exc`` itself for anything else."""
    import psycopg

    if isinstance(exc, psycopg.OperationalError):
        return StoreUnavailableError(path, describe(exc))
    if isinstance(exc, psycopg.Error) or type(exc).__module__.startswith("psycopg_pool"):
        return StoreError(path, describe(exc))
    return exc


def _trim(conn: Any, table: str, keep: int) -> None:
    conn.execute(f"DELETE FROM {table} WHERE id <= (SELECT max(id) FROM {table}) - %s", (keep,))


def _connect_reason(url: str) -> str:
    """Why the pool could not connect: libpq's own message from one direct attempt."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        return describe(exc)
    return "timed out"
