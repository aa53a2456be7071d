"""Read-only helpers of a PostgreSQL store for ``ops/inspect.py`` (``runtime.store.readers``):
one connection each, read-only, no pool. Blocking calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from runtime.store.contract import DeadLetter, NotAStoreError, PutAside, StoredSnapshot, StoreError
from runtime.store.pg_schema import check_url, redact_url
from runtime.store.pg_side import describe

__all__ = ["pg_iter_snapshots", "pg_read"]


def _ro_connect(url: str) -> Any:
    import psycopg

    check_url(url)
    shown = redact_url(url)
    try:
        conn = psycopg.connect(url, connect_timeout=10, autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(shown, f"cannot connect: {describe(exc)}") from None
    try:
        row = conn.execute("SELECT to_regclass('miku_store') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            raise NotAStoreError(shown, "no miku_store table in this database")
        conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:  # the server went away, or refused the session
        conn.close()
        raise StoreError(shown, describe(exc)) from None
    except BaseException:
        conn.close()
        raise
    return conn


def pg_iter_snapshots(url: str) -> Iterator[StoredSnapshot]:
    """Every snapshot row of a PostgreSQL store, by guild id (blocking, read-only)."""
    conn = _ro_connect(url)
    try:
        with conn.transaction(), conn.cursor(name="miku_inspect") as cur:
            cur.itersize = 1000
            cur.execute("SELECT guild_id, data, saved_at, wake_at, removed_at FROM snapshots "
                        "ORDER BY guild_id")
            for g, d, s, w, r in cur:
                yield StoredSnapshot(g, bytes(d), s, w, r)
    finally:
        conn.close()


def pg_read(url: str, table: str, guild_id: int | None) -> list[Any]:
    """One guild's rows (or all, by id) of ``snapshots``, ``dead_letters`` or ``put_aside``."""
    makers: dict[str, tuple[str, Callable[[Any], Any], str]] = {
        "snapshots": ("guild_id, data, saved_at, wake_at, removed_at",
                      lambda r: StoredSnapshot(r[0], bytes(r[1]), *r[2:]), "guild_id"),
        "dead_letters": ("id, guild_id, event_type, traceback, at",
                         lambda r: DeadLetter(*r), "id"),
        "put_aside": ("id, guild_id, data, error, at",
                      lambda r: PutAside(r[0], r[1], bytes(r[2]), r[3], r[4]), "id"),
    }
    cols, make, order = makers[table]
    conn = _ro_connect(url)
    try:
        sql = f"SELECT {cols} FROM {table}"
        if guild_id is None:
            rows = conn.execute(f"{sql} ORDER BY {order}").fetchall()
        else:
            rows = conn.execute(f"{sql} WHERE guild_id = %s ORDER BY {order}",
                                (guild_id,)).fetchall() if 0 < guild_id < 2**63 else []
        return [make(r) for r in rows]
    finally:
        conn.close()
