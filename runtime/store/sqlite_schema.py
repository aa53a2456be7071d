"""The SQLite store's file: its layout, the check that a file is ours, and the migrations.

A store file carries ``PRAGMA application_id`` ("Miku") and ``PRAGMA user_version`` (the
layout version, not the state bytes' version). A file written by an older build is upgraded
in place, in one transaction, when the store opens it for writing; the read-only helpers read
older layouts as they are; a newer layout is refused with a line saying so.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from runtime.store.contract import NotAStoreError, StoreError, StoreMissingError

__all__ = ["APPLICATION_ID", "STORE_SCHEMA_VERSION", "open_ro", "open_rw"]

#: Written into the SQLite header (``PRAGMA application_id``): "Miku". A file without it is not
#: ours, and the store refuses to write into it.
APPLICATION_ID = 0x4D696B75
#: The layout of the tables (``PRAGMA user_version``), not of the state bytes.
#: 1: snapshots, put_aside, dead_letters. 2: + snapshots.removed_at, settings, optouts, leases.
STORE_SCHEMA_VERSION = 2

_V1 = """
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

#: Version N-1 -> N, in order. Each runs inside the transaction that sets the new version.
_MIGRATIONS: dict[int, str] = {
    2: """
ALTER TABLE snapshots ADD COLUMN removed_at REAL;
CREATE INDEX snapshots_removed ON snapshots (removed_at) WHERE removed_at IS NOT NULL;
CREATE TABLE settings (
    guild_id INTEGER PRIMARY KEY,
    data BLOB NOT NULL,
    saved_at REAL NOT NULL
);
CREATE TABLE optouts (
    user_id INTEGER PRIMARY KEY,
    at REAL NOT NULL
);
CREATE TABLE leases (
    shard_id INTEGER PRIMARY KEY,
    shard_count INTEGER NOT NULL,
    owner TEXT NOT NULL,
    fence INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
""",
}


def _header(conn: sqlite3.Connection, path: str) -> tuple[int, int, set[str]]:
    # One read transaction: three autocommit reads could straddle another process's creation
    # of the file (no application id yet, but its tables already there).
    outer = conn.in_transaction
    try:
        if not outer:
            conn.execute("BEGIN")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not outer:
            conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if not outer and conn.in_transaction:
            conn.rollback()
        raise NotAStoreError(path, str(exc)) from None
    return app_id, version, tables


def _check_ours(app_id: int, version: int, tables: set[str], path: str) -> None:
    if app_id != APPLICATION_ID:
        detail = "an empty database" if not tables else f"application_id {app_id:#x}"
        raise NotAStoreError(path, detail)
    if version > STORE_SCHEMA_VERSION:
        raise NotAStoreError(
            path, f"store layout version {version} is newer than this build's "
                  f"{STORE_SCHEMA_VERSION}: run the newer build, or restore an older copy")
    if version < 1:
        raise NotAStoreError(path, f"store layout version {version}")


def check_store(conn: sqlite3.Connection, path: str, *, create: bool) -> int:
    """Check that ``conn`` is a store; create the tables in an empty file, or upgrade an older
    layout in place (``create``: the writable store). Returns the layout version now."""
    app_id, version, tables = _header(conn, path)
    if app_id == 0 and not tables and create:
        conn.execute("BEGIN IMMEDIATE")
        try:  # another process may have created it meanwhile
            app_id, version, tables = _header(conn, path)
            if app_id == 0 and not tables:
                _run_script(conn, _V1)
                version = 1
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute("PRAGMA user_version = 1")
                app_id = APPLICATION_ID
                tables = {"snapshots"}
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
    _check_ours(app_id, version, tables, path)
    if version < STORE_SCHEMA_VERSION and create:
        version = _migrate(conn, path)
    return version


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # ``executescript`` would COMMIT first: run the statements one by one, in our transaction.
    for stmt in script.split(";"):
        if stmt.strip():
            conn.execute(stmt)


def _migrate(conn: sqlite3.Connection, path: str) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])  # under the write lock
        while version < STORE_SCHEMA_VERSION:
            _run_script(conn, _MIGRATIONS[version + 1])
            version += 1
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.rollback()
        raise StoreError(path, f"cannot upgrade the store layout: {exc}") from None
    except BaseException:
        conn.rollback()
        raise
    return version


def open_rw(path: str) -> sqlite3.Connection:
    """A connection for the store: the file is created, or checked and upgraded."""
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(path, f"cannot open ({exc})") from None
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        check_store(conn, path, create=True)  # first: a file that is not ours stays untouched
        # WAL: readers (ops/inspect.py) never block the writer; NORMAL: a commit is durable
        # against a process crash, and at worst the last commits are lost on a power cut.
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = NORMAL")
        if mode.lower() != "wal":
            raise StoreError(path, f"cannot use WAL mode (journal_mode is {mode})")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(path, f"{type(exc).__name__}: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def open_ro(path: str | os.PathLike[str]) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to an existing store file, and its layout version."""
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
        version = check_store(conn, str(p), create=False)
    except BaseException:
        conn.close()
        raise
    return conn, version
