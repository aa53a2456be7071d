"""The snapshot store: where guild states, bad rows, dead letters, admins' settings, opt-outs
and shard leases outlive the process.

``SnapshotStore`` is the interface the supervisor is written against (``contract``);
``SQLiteStore`` is the embedded default (one file, WAL), ``MemoryStore`` the same behaviour in
a dict for tests, and ``PostgresStore`` the shared store for shard sets run as several
processes on several hosts. ``open_store`` opens the one a path or URL names; the read-only
helpers serve ``ops/inspect.py``; ``open_leases`` holds a process's shard leases.
"""

from __future__ import annotations

from runtime.store.contract import (
    MAX_ID,
    DeadLetter,
    LeaseLostError,
    NotAStoreError,
    PutAside,
    RowsRefusedError,
    SnapshotStore,
    StoredSnapshot,
    StoreError,
    StoreMissingError,
    StoreStatistics,
)
from runtime.store.leases import Lease, LeaseGrant, open_leases, shard_of
from runtime.store.memory import MemoryStore
from runtime.store.readers import iter_snapshots, read_dead_letters, read_put_aside, read_snapshots
from runtime.store.sqlite import SQLiteStore
from runtime.store.sqlite_schema import APPLICATION_ID, STORE_SCHEMA_VERSION

__all__ = [
    "APPLICATION_ID",
    "MAX_ID",
    "STORE_SCHEMA_VERSION",
    "DeadLetter",
    "Lease",
    "LeaseGrant",
    "LeaseLostError",
    "MemoryStore",
    "NotAStoreError",
    "PutAside",
    "RowsRefusedError",
    "SQLiteStore",
    "SnapshotStore",
    "StoreError",
    "StoreMissingError",
    "StoreStatistics",
    "StoredSnapshot",
    "iter_snapshots",
    "open_leases",
    "read_dead_letters",
    "read_put_aside",
    "read_snapshots",
    "shard_of",
]
