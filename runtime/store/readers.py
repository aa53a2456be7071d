"""Read-only helpers for ``ops/inspect.py``: a store's rows without writing to it (blocking).

A SQLite file is opened read-only (a reader never creates, upgrades or locks it); a
``postgresql://`` URL is read from the server. A row whose columns have the wrong types is
reported with its ``error``, never raised.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from typing import Any

from runtime.store.contract import DeadLetter, NotAStoreError, PutAside, StoredSnapshot
from runtime.store.sqlite import bad_row_error
from runtime.store.sqlite_schema import open_ro

__all__ = ["iter_snapshots", "read_dead_letters", "read_put_aside", "read_snapshots"]

Where = str | os.PathLike[str]


def is_url(where: object) -> bool:
    """Whether ``where`` names a PostgreSQL database rather than a file."""
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


def _select(version: int) -> str:
    removed = "removed_at" if version >= 2 else "NULL"
    return ("SELECT guild_id, data, saved_at, wake_at, " + removed + ", typeof(data), "
            "typeof(saved_at), typeof(wake_at) FROM snapshots")


def _row(r: tuple[Any, ...]) -> StoredSnapshot:
    g, d, s, w, removed, t_data, t_saved, t_wake = r
    if (t_data == "blob" and t_saved in ("real", "integer")
            and t_wake in ("null", "real", "integer") and g > 0):
        return StoredSnapshot(g, bytes(d), float(s), None if w is None else float(w),
                              removed if isinstance(removed, float | int) else None)
    return StoredSnapshot(g, d if isinstance(d, bytes) else b"",
                          float(s) if t_saved in ("real", "integer") else 0.0,
                          float(w) if t_wake in ("real", "integer") else None, None,
                          bad_row_error(g, t_data, t_saved, t_wake))


def iter_snapshots(where: Where) -> Iterator[StoredSnapshot]:
    """Every snapshot row of a store (removed ones too), by guild id, one at a time: a
    million guilds are read without holding all their bytes at once. Raises as
    ``read_snapshots``, the open errors on the first ``next``."""
    if is_url(where):
        from runtime.store.pg_readers import pg_iter_snapshots

        yield from pg_iter_snapshots(str(where))
        return
    conn, version = open_ro(where)
    try:
        cur = conn.execute(_select(version) + " ORDER BY guild_id")
        while rows := cur.fetchmany(1000):
            for r in rows:
                yield _row(r)
    except sqlite3.DatabaseError as exc:
        raise NotAStoreError(where, str(exc)) from None
    finally:
        conn.close()


def read_snapshots(where: Where, guild_id: int | None = None) -> list[StoredSnapshot]:
    """Read the snapshot rows of a store without writing to it (blocking).

    Args:
        where: the store file, or a ``postgresql://`` URL.
        guild_id: only this guild's row (an empty list if it has none).

    Raises:
        StoreMissingError: there is no file at ``where``.
        NotAStoreError: it is not a snapshot store, is corrupt, or has a newer layout.
        StoreError: the database cannot be reached.
    """
    if guild_id is None:
        return list(iter_snapshots(where))
    if is_url(where):
        from runtime.store.pg_readers import pg_read

        return pg_read(str(where), "snapshots", guild_id)
    return [_row(r) for r in _read(where, lambda v: _select(v) + " WHERE guild_id = ?",
                                   (guild_id,))]


def read_dead_letters(where: Where, guild_id: int | None = None) -> list[DeadLetter]:
    """The dead letters of a store, oldest first (optionally of one guild). Raises as
    ``read_snapshots``."""
    if is_url(where):
        from runtime.store.pg_readers import pg_read

        return pg_read(str(where), "dead_letters", guild_id)
    sql = "SELECT id, guild_id, event_type, traceback, at FROM dead_letters"
    rows = (_read(where, lambda v: sql + " ORDER BY id") if guild_id is None
            else _read(where, lambda v: sql + " WHERE guild_id = ? ORDER BY id", (guild_id,)))
    return [DeadLetter(*r) for r in rows]


def read_put_aside(where: Where, guild_id: int | None = None) -> list[PutAside]:
    """The snapshots put aside in a store, oldest first (optionally of one guild). Raises as
    ``read_snapshots``."""
    if is_url(where):
        from runtime.store.pg_readers import pg_read

        return pg_read(str(where), "put_aside", guild_id)
    sql = "SELECT id, guild_id, data, error, at FROM put_aside"
    rows = (_read(where, lambda v: sql + " ORDER BY id") if guild_id is None
            else _read(where, lambda v: sql + " WHERE guild_id = ? ORDER BY id", (guild_id,)))
    return [PutAside(i, g, bytes(d) if isinstance(d, bytes) else b"", str(e), a)
            for i, g, d, e, a in rows]


def _read(where: Where, sql: Any, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    conn, version = open_ro(where)
    try:
        return conn.execute(sql(version), args).fetchall()
    except sqlite3.DatabaseError as exc:
        raise NotAStoreError(where, str(exc)) from None
    finally:
        conn.close()
