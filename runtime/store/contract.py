"""What every snapshot store promises: the protocol, its records and its errors.

Exceptions::

    RuntimeError
    └── StoreError             the store cannot do what was asked (I/O, locked, closed)
        ├── StoreMissingError    no store file at the path (read-only helpers)
        ├── NotAStoreError       not a snapshot store, corrupt, or a newer layout
        ├── StoreUnavailableError  the store cannot be reached or did not answer in time:
        │                        nothing of the call was done; the same call may succeed later
        ├── RowsRefusedError     some rows of a batch were refused; the others are written
        │                        (``reasons``: a ``Refusal`` per refused row)
        └── LeaseLostError       a shard lease this store held was taken by another owner
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import msgspec

__all__ = [
    "MAX_ID",
    "DeadLetter",
    "LeaseLostError",
    "NotAStoreError",
    "PutAside",
    "Refusal",
    "RowsRefusedError",
    "SnapshotStore",
    "StoreError",
    "StoreMissingError",
    "StoreStatistics",
    "StoreUnavailableError",
    "StoredSnapshot",
    "bad_id",
    "check_id",
    "check_wake",
]

#: Discord ids are positive 63-bit integers (snowflakes); the stores' columns are signed 64-bit.
MAX_ID = 2**63


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
    """The file or database is not a snapshot store (another database, corrupt, or newer)."""

    def __init__(self, path: object, detail: str) -> None:
        super().__init__(path, f"not a snapshot store ({detail})")


class StoreUnavailableError(StoreError):
    """The store cannot be reached, or did not answer within its deadline (the server is
    down, the network is cut, a lock is held too long). Nothing of the call took effect as
    far as the caller can know; the same call may succeed later. Never a sign that the data
    is bad."""


class Refusal(enum.Enum):
    """Why the store refused one row of a batch (``RowsRefusedError.reasons``).

    - ``BAD_ROW``: the row itself (an id out of range, data not bytes, a NaN wake-up):
      writing it again can never succeed.
    - ``NOT_LEASED``: its shard was never leased to this store: the row is another
      process's business.
    - ``LEASE_EXPIRED``: this store's lease of its shard ran out (no renewal got through)
      and nobody has taken it since: the same row is written once the lease is renewed.
    - ``LEASE_TAKEN``: another owner holds its shard now: this process must not write it.
    """

    BAD_ROW = "bad_row"
    NOT_LEASED = "not_leased"
    LEASE_EXPIRED = "lease_expired"
    LEASE_TAKEN = "lease_taken"


class RowsRefusedError(StoreError):
    """Some rows of a batch were refused (bad id, bad bytes, a shard not leased); every other
    row of the batch is written. ``refused`` maps each refused guild id to the reason in
    words, ``reasons`` to its ``Refusal`` (``BAD_ROW`` when the caller gave none)."""

    def __init__(self, path: object, refused: Mapping[object, str], total: int,
                 reasons: Mapping[object, Refusal] | None = None) -> None:
        self.refused = dict(refused)
        given = reasons or {}
        self.reasons = {g: given.get(g, Refusal.BAD_ROW) for g in self.refused}
        first = "; ".join(f"guild {g!r}: {why}" for g, why in list(self.refused.items())[:3])
        more = f" (and {len(self.refused) - 3} more)" if len(self.refused) > 3 else ""
        super().__init__(path, f"refused {len(self.refused)} of {total} rows, the others are "
                               f"written: {first}{more}")


class LeaseLostError(StoreError):
    """Shards whose lease this store held are now another owner's (or were released)."""

    def __init__(self, path: object, shard_ids: Sequence[int], shard_count: int) -> None:
        self.shard_ids = tuple(shard_ids)
        self.shard_count = shard_count
        super().__init__(path, f"lease lost for shard(s) {list(self.shard_ids)} of {shard_count}"
                               ": another process runs them now")


class StoredSnapshot(msgspec.Struct, frozen=True, gc=False):
    """One guild's row. ``wake_at`` is None for a guild that was live when saved.

    ``error`` is set (and ``data`` may be empty) for a row the offline readers could not read
    as a snapshot row (a column of the wrong type): it is reported, never raised.
    ``removed_at`` is set for a guild that removed her (kept for inspection only).
    """

    guild_id: int
    data: bytes
    saved_at: float
    wake_at: float | None = None
    removed_at: float | None = None
    error: str | None = None


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
    rows_refused: int = 0
    #: 1 while the store is unreachable (from a failed call to the next that goes through).
    unreachable_now: int = 0
    #: Outages since the store was opened, and the calls that failed in them.
    outages: int = 0
    unreachable_calls: int = 0


@runtime_checkable
class SnapshotStore(Protocol):
    """What the supervisor needs from a store (``docs/CONTRACTS.md``)."""

    async def load(self, guild_id: int) -> bytes | None:
        """The guild's last snapshot, or None if it has none (or was removed)."""
        ...

    async def load_many(self, guild_ids: Sequence[int]) -> dict[int, bytes]:
        """The snapshots of those guilds that have one (removed guilds have none)."""
        ...

    async def save_many(self, items: Sequence[tuple[int, bytes]]) -> None:
        """Save snapshots of live guilds in one transaction. A bad row (id out of range, not
        bytes, shard not leased) is refused and the others are written; then
        ``RowsRefusedError`` names the refused ones."""
        ...

    async def passivate_many(self, items: Sequence[tuple[int, bytes, float]]) -> None:
        """Save ``(guild_id, data, wake_at)`` of guilds being stopped, as ``save_many``."""
        ...

    async def load_all_ids(self) -> list[int]:
        """Every guild with a snapshot (not removed)."""
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

    async def mark_removed(self, guild_id: int, at: float) -> None:
        """She was removed: the row is kept for inspection, flagged removed; load, load_many
        and load_wakeups no longer list it. A later save of the guild clears the flag."""
        ...

    async def purge_removed(self, before: float) -> int:
        """Delete the rows removed before ``before``; returns how many."""
        ...

    async def load_settings(self) -> dict[int, bytes]:
        """Every guild's admin settings (opaque bytes, ``runtime.settings``)."""
        ...

    async def save_settings(self, guild_id: int, data: bytes | None) -> None:
        """Replace a guild's settings; None deletes them."""
        ...

    async def load_optouts(self) -> set[int]:
        """The user ids that opted out (in every guild)."""
        ...

    async def set_optout(self, user_id: int, opted_out: bool, at: float) -> None:
        """Record that a user opted out (True) or back in (False)."""
        ...

    async def close(self) -> None:
        """Release the store; further calls raise ``StoreError``. Idempotent."""
        ...


def bad_id(value: object) -> str | None:
    """Why ``value`` is not a valid Discord id, or None when it is one."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"id must be an integer, got {type(value).__name__}"
    if not 0 < value < MAX_ID:
        return f"id {value} out of range (need 0 < id < 2**63)"
    return None


def check_id(value: object, what: str, path: object) -> int:
    """``value`` if it is a valid id; raises ``StoreError`` naming ``what`` otherwise."""
    why = bad_id(value)
    if why is not None:
        raise StoreError(path, f"{what}: {why}")
    return value  # type: ignore[return-value]


def check_wake(wake_at: float) -> float:
    """``wake_at`` as a float; raises ValueError for NaN (inf means never)."""
    wake_at = float(wake_at)
    if math.isnan(wake_at):
        raise ValueError("wake_at must be a number of epoch seconds (inf: never), got nan")
    return wake_at


def row_problem(guild_id: object, data: object, wake_at: object = None) -> str | None:
    """Why one row of a batch cannot be written, or None when it can."""
    why = bad_id(guild_id)
    if why is not None:
        return why
    if not isinstance(data, bytes | bytearray | memoryview):
        return f"data must be bytes, got {type(data).__name__}"
    if wake_at is not None:
        try:
            check_wake(wake_at)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            return str(exc)
    return None
