"""A PostgreSQL connection of its own, with deadlines, for what must never wait behind the
pool: lease acquisition, renewal and release, and the readiness probe.

Why not the pool: its connections are shared by snapshot batches (``max_size`` at a time),
and a blocking psycopg call in a worker thread cannot be cancelled. Behind a partition a
renewal on a pooled connection waited for the kernel's TCP timeout (minutes) while the
lease expired and another process took the shard. Here:

- libpq's ``connect_timeout``, TCP keepalives and ``tcp_user_timeout`` end a connection
  whose peer went silent within seconds, and the server's ``statement_timeout`` and
  ``lock_timeout`` end a statement stuck behind a lock;
- each call runs in a worker thread the caller may abandon when its own deadline passes
  (``abandon_on_cancel``): the thread keeps the connection it took and closes it when it
  finally returns, and the next call opens a fresh one. So a hung call never holds the next.

Errors: ``StoreUnavailableError`` for an unreachable or late server, ``StoreError`` for any
other psycopg error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from runtime.store.contract import StoreError, StoreUnavailableError
from runtime.store.pg_schema import redact_url

__all__ = ["CHANGES_CHANNEL", "Listener", "SideConnection", "connection_options", "describe"]

#: The NOTIFY channel of settings and opt-out changes (payload: what changed).
CHANGES_CHANNEL = "miku_changes"

_T = TypeVar("_T")


def connection_options(connect_timeout_s: float, statement_timeout_s: float,
                       lock_timeout_s: float | None = None) -> dict[str, Any]:
    """libpq parameters that bound how long anything on a connection can hang: the connect,
    a silent peer (keepalives after 5 s idle, every 2 s, 3 missed; data unacknowledged for
    10 s at most), a statement and a lock wait (server side)."""
    timeout_ms = max(1, int(statement_timeout_s * 1000))
    # Unacknowledged data (not a slow answer: a healthy server's kernel acknowledges at
    # once) for this long means the peer is gone.
    unacked_ms = max(1, int(min(statement_timeout_s, 10.0) * 1000))
    opts = f"-c statement_timeout={timeout_ms}"
    if lock_timeout_s is not None:
        opts += f" -c lock_timeout={max(1, int(lock_timeout_s * 1000))}"
    return {
        "connect_timeout": max(2, int(connect_timeout_s)),
        "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
        "keepalives_count": 3, "tcp_user_timeout": unacked_ms,
        "options": opts, "application_name": "miku-autonomy",
    }


class SideConnection:
    """One connection (opened on first use, reopened after a failure), for short calls
    that must end by a deadline.

    Args:
        url: the database URL.
        path: the redacted URL, for errors.
        timeout_s: connect, statement and lock timeout.
    """

    def __init__(self, url: str, path: str, timeout_s: float) -> None:
        self._url = url
        self.path = path
        self.timeout_s = timeout_s
        self._conn: Any = None
        self._lock = threading.Lock()  # guards the hand-over of ``_conn`` only
        self._closed = False

    def _take(self) -> Any:
        import psycopg

        with self._lock:
            if self._closed:
                raise StoreError(self.path, "closed")
            conn, self._conn = self._conn, None
        if conn is None or conn.closed:
            conn = psycopg.connect(self._url, **connection_options(
                self.timeout_s, self.timeout_s, self.timeout_s))
        return conn

    def _give_back(self, conn: Any) -> None:
        with self._lock:
            if self._conn is None and not self._closed:
                self._conn = conn
                return
        conn.close()  # a newer one took its place meanwhile, or closed

    async def run(self, fn: Callable[[Any], _T], *, deadline_s: float | None = None) -> _T:
        """``fn(conn)`` in one transaction, in a worker thread abandoned at ``deadline_s``
        (default the timeout; ``TimeoutError`` then) or when the caller is cancelled.

        Raises:
            StoreUnavailableError: the server cannot be reached or was late.
            StoreError: any other psycopg error, or the connection closed.
            TimeoutError: the deadline passed (the call is abandoned, never waited for).
        """
        import psycopg

        def call() -> _T:
            try:
                conn = self._take()
            except psycopg.Error as exc:
                raise StoreUnavailableError(self.path, f"cannot connect: {describe(exc)}"
                                            ) from None
            try:
                with conn.transaction():
                    result = fn(conn)
            except psycopg.Error as exc:
                conn.close()
                if isinstance(exc, psycopg.OperationalError):
                    raise StoreUnavailableError(self.path, describe(exc)) from None
                raise StoreError(self.path, describe(exc)) from None
            except BaseException:
                conn.close()
                raise
            self._give_back(conn)
            return result

        with anyio.fail_after(self.timeout_s + 1.0 if deadline_s is None else deadline_s):
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)

    def close(self) -> None:
        """Close the idle connection; a call still running closes its own when it ends."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class Listener:
    """A connection that LISTENs on one channel (opened on first use, reopened after a
    failure), for ``PostgresStore.wait_changes``."""

    def __init__(self, url: str, path: str, channel: str, connect_timeout_s: float) -> None:
        self._url = url
        self.path = path
        self._channel = channel
        self._connect_timeout = connect_timeout_s
        self._conn: Any = None
        self._lock = threading.Lock()
        self._closed = False

    async def wait(self, timeout_s: float) -> bool:
        """Whether a notification came within ``timeout_s``. Cancelled, the thread is
        abandoned and ends within a quarter of a second (it waits in slices): a worker
        thread still waiting would hold the interpreter's exit."""
        import psycopg

        abandoned = threading.Event()

        def wait() -> bool:
            with self._lock:
                if self._closed:
                    raise StoreError(self.path, "closed")
                conn, self._conn = self._conn, None
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._url, autocommit=True, **connection_options(
                        self._connect_timeout, self._connect_timeout))
                    conn.execute(f"LISTEN {self._channel}")
                # Consumed to the end: more than one may come in a packet, and a generator
                # closed early would drop the rest.
                end = time.monotonic() + timeout_s
                came = False
                while not came and not abandoned.is_set() and not self._closed:
                    step = max(0.0, min(0.25, end - time.monotonic()))
                    came = sum(1 for _ in conn.notifies(timeout=step, stop_after=1)) > 0
                    if step == 0.0 or time.monotonic() >= end:
                        break
            except psycopg.Error as exc:
                if conn is not None:
                    conn.close()
                raise StoreUnavailableError(self.path, describe(exc)) from None
            with self._lock:
                if self._conn is None and not self._closed:
                    self._conn, conn = conn, None
            if conn is not None:
                conn.close()
            return came

        try:
            return await anyio.to_thread.run_sync(wait, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            abandoned.set()
            raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def describe(exc: BaseException) -> str:
    """One line from a psycopg error, without any password."""
    text = str(exc).strip().splitlines()
    return redact_url(f"{type(exc).__name__}: {text[0] if text else ''}")
