"""The snapshot store: where guild states, bad rows, dead letters, admins' settings, opt-outs
and shard leases outlive the process.

``SnapshotStore`` is the interface the supervisor is written against (``contract``);
``SQLiteStore`` is the embedded default (one file, WAL), ``MemoryStore`` the same behaviour in
a dict for tests, and ``PostgresStore`` the shared store for shard sets run as several
processes on several hosts. ``open_store`` opens the one a path or URL names; the read-only
helpers serve ``ops/inspect.py``; ``open_leases`` holds a process's shard leases.
"""

from __future__ import annotations

from typing import Any

from runtime.store.contract import (
    MAX_ID,
    DeadLetter,
    LeaseLostError,
    NotAStoreError,
    PutAside,
    Refusal,
    RowsRefusedError,
    SnapshotStore,
    StoredSnapshot,
    StoreError,
    StoreMissingError,
    StoreStatistics,
    StoreUnavailableError,
)
from runtime.store.leases import Lease, LeaseGrant, LeaseHolder, LeaseWatch, open_leases, shard_of
from runtime.store.memory import MemoryStore
from runtime.store.readers import (
    is_url,
    iter_snapshots,
    read_dead_letters,
    read_put_aside,
    read_snapshots,
)
from runtime.store.sqlite import SQLiteStore
from runtime.store.sqlite_schema import APPLICATION_ID, STORE_SCHEMA_VERSION

__all__ = [
    "APPLICATION_ID",
    "MAX_ID",
    "STORE_SCHEMA_VERSION",
    "DeadLetter",
    "Lease",
    "LeaseGrant",
    "LeaseHolder",
    "LeaseLostError",
    "LeaseWatch",
    "MemoryStore",
    "NotAStoreError",
    "PostgresStore",
    "PutAside",
    "Refusal",
    "RowsRefusedError",
    "SQLiteStore",
    "SnapshotStore",
    "StoreError",
    "StoreMissingError",
    "StoreStatistics",
    "StoreUnavailableError",
    "StoredSnapshot",
    "is_url",
    "iter_snapshots",
    "open_leases",
    "open_store",
    "read_dead_letters",
    "read_put_aside",
    "read_snapshots",
    "shard_of",
]


def open_store(where: str, **kwargs: object) -> Any:
    """The store ``where`` names, not yet opened: a ``postgresql://`` URL gives a
    ``PostgresStore``, anything else a ``SQLiteStore`` file path.

    Use ``async with open_store(where) as store:`` or ``await open_store(where).open()``.

    Args:
        where: a SQLite file path or a PostgreSQL URL (without a password).
        kwargs: passed to the store (``clock``, ``lease_clock``, ``max_dead_letters``, ...).

    Raises:
        StoreError: a PostgreSQL URL carrying a password (shown redacted), or malformed.
    """
    if is_url(where):
        from runtime.store.postgres import PostgresStore

        return PostgresStore(where, **kwargs)  # type: ignore[arg-type]
    return SQLiteStore(where, **kwargs)  # type: ignore[arg-type]


def __getattr__(name: str) -> Any:
    # PostgresStore imports psycopg: only when asked for, so a SQLite-only run never loads it.
    if name == "PostgresStore":
        from runtime.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module 'runtime.store' has no attribute {name!r}")
