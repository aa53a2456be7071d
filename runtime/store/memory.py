"""The ``SnapshotStore`` behaviour in dicts, for tests: no I/O, no threads."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import anyio.lowlevel

from runtime.store.contract import (
    DeadLetter,
    LeaseLostError,
    PutAside,
    RowsRefusedError,
    StoredSnapshot,
    StoreError,
    StoreStatistics,
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

__all__ = ["MemoryStore"]

_NAME = "<memory>"


class MemoryStore:
    """The ``SnapshotStore`` behaviour in dicts, for tests. No I/O, no threads.

    Args:
        clock: epoch seconds for ``saved_at`` and put-aside times.
        lease_clock: epoch seconds for lease expiry (the wall clock by default).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 lease_clock: Callable[[], float] = time.time) -> None:
        self.path = _NAME
        self._lease_clock = lease_clock
        self._leases: dict[int, Lease] = {}
        self._held: HeldLeases | None = None
        self._clock = clock
        self._rows: dict[int, StoredSnapshot] = {}
        self._put_aside: list[PutAside] = []
        self._dead: list[DeadLetter] = []
        self._settings: dict[int, bytes] = {}
        self._optouts: dict[int, float] = {}
        self._closed = False
        self._batches = self._rows_saved = self._loads = self._refused = 0

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _enter(self) -> None:
        await anyio.lowlevel.checkpoint()
        if self._closed:
            raise StoreError(_NAME, "closed")

    def _live(self, guild_id: int) -> StoredSnapshot | None:
        row = self._rows.get(guild_id)
        return None if row is None or row.removed_at is not None else row

    async def load(self, guild_id: int) -> bytes | None:
        await self._enter()
        self._loads += 1
        row = self._live(guild_id)
        return None if row is None else row.data

    async def load_many(self, guild_ids: Sequence[int]) -> dict[int, bytes]:
        await self._enter()
        self._loads += len(guild_ids)
        return {g: row.data for g in guild_ids if (row := self._live(g)) is not None}

    async def save_many(self, items: Sequence[tuple[int, bytes]]) -> None:
        await self._save([(g, d, None) for g, d in items])

    async def passivate_many(self, items: Sequence[tuple[int, bytes, float]]) -> None:
        await self._save(list(items))

    async def _save(self, rows: Sequence[tuple[int, bytes, float | None]]) -> None:
        await self._enter()
        now = self._clock()
        refused = Refused()
        written = 0
        for g, d, _, w in batch_rows(rows, True, now,  # type: ignore[arg-type]
                                     self._held, self._standing(), refused):
            self._rows[g] = StoredSnapshot(g, d, now, w)
            written += 1
        self._batches += 1
        self._rows_saved += written
        if refused:
            self._refused += len(refused)
            raise RowsRefusedError(_NAME, refused.words, len(rows), refused.kinds)

    async def load_all_ids(self) -> list[int]:
        await self._enter()
        return sorted(g for g, r in self._rows.items() if r.removed_at is None)

    async def load_wakeups(self) -> list[tuple[int, float | None]]:
        await self._enter()
        return [(g, r.wake_at) for g, r in sorted(self._rows.items()) if r.removed_at is None]

    async def put_aside(self, guild_id: int, data: bytes, error: str) -> None:
        await self._enter()
        check_id(guild_id, "put_aside", _NAME)
        self._put_aside.append(PutAside(len(self._put_aside) + 1, guild_id, bytes(data), error,
                                        self._clock()))
        row = self._rows.get(guild_id)
        if row is not None and row.data == data:
            del self._rows[guild_id]

    async def dead_letter(self, guild_id: int, event_type: str, traceback: str,
                          at: float) -> None:
        await self._enter()
        check_id(guild_id, "dead_letter", _NAME)
        self._dead.append(DeadLetter(len(self._dead) + 1, guild_id, event_type, traceback, at))

    async def mark_removed(self, guild_id: int, at: float) -> None:
        await self._enter()
        check_id(guild_id, "mark_removed", _NAME)
        row = self._rows.get(guild_id)
        if row is not None and row.removed_at is None:
            self._rows[guild_id] = StoredSnapshot(row.guild_id, row.data, row.saved_at,
                                                  row.wake_at, float(at))

    async def purge_removed(self, before: float) -> int:
        await self._enter()
        gone = [g for g, r in self._rows.items()
                if r.removed_at is not None and r.removed_at < before]
        for g in gone:
            del self._rows[g]
        return len(gone)

    async def load_settings(self) -> dict[int, bytes]:
        await self._enter()
        return dict(self._settings)

    async def save_settings(self, guild_id: int, data: bytes | None) -> None:
        await self._enter()
        check_id(guild_id, "save_settings", _NAME)
        if data is None:
            self._settings.pop(guild_id, None)
        elif not isinstance(data, bytes | bytearray | memoryview):
            raise StoreError(_NAME, f"save_settings: data must be bytes or None, got "
                                    f"{type(data).__name__}")
        else:
            self._settings[guild_id] = bytes(data)

    async def load_optouts(self) -> set[int]:
        await self._enter()
        return set(self._optouts)

    async def set_optout(self, user_id: int, opted_out: bool, at: float) -> None:
        await self._enter()
        check_id(user_id, "set_optout", _NAME)
        if opted_out:
            self._optouts[user_id] = float(at)
        else:
            self._optouts.pop(user_id, None)

    async def close(self) -> None:
        self._closed = True

    # --- shard leases (runtime.store.leases) ------------------------------------------

    def _standing(self) -> Standing:
        if self._held is None:
            return Standing()
        return self._held.standing(
            ((r.shard_id, r.fence, r.expires_at) for r in self._leases.values()
             if r.owner == self._held.owner and r.shard_count == self._held.shard_count),
            self._lease_clock())

    async def acquire_leases(self, owner: str, shard_ids: Sequence[int], shard_count: int,
                             ttl_s: float) -> LeaseGrant:
        """Take the leases of ``shard_ids`` of ``shard_count`` for ``owner`` if all are free
        (one attempt; ``open_leases`` waits). From then on writes are conditional on them."""
        await self._enter()
        ids = check_request(owner, shard_ids, shard_count, ttl_s, _NAME)
        now = self._lease_clock()
        blocked, writes = plan_acquire(self._leases.values(), owner, ids, shard_count, ttl_s,
                                       now)
        if blocked:
            return LeaseGrant((), tuple(blocked), now)
        for r in writes:
            self._leases[r.shard_id] = r
        granted = tuple(r for r in writes if r.owner == owner)
        self._held = HeldLeases(owner, shard_count, {r.shard_id: r.fence for r in granted})
        return LeaseGrant(granted, (), now)

    async def renew_leases(self, ttl_s: float) -> tuple[Lease, ...]:
        """Extend every held lease by ``ttl_s`` from now. Raises ``LeaseLostError`` naming
        the shards that are no longer ours (the others are renewed)."""
        await self._enter()
        held = self._held
        if held is None:
            return ()
        now = self._lease_clock()
        renewed, lost = [], []
        for sid, fence in sorted(held.fences.items()):
            r = self._leases.get(sid)
            if r is None or r.owner != held.owner or r.fence != fence:
                lost.append(sid)
                continue
            r = self._leases[sid] = Lease(sid, r.shard_count, r.owner, fence, now + ttl_s)
            renewed.append(r)
        if lost:
            for sid in lost:
                del held.fences[sid]
                held.lost.add(sid)
            raise LeaseLostError(_NAME, lost, held.shard_count)
        return tuple(renewed)

    async def release_leases(self) -> None:
        """Give the held leases up (others may take them at once); writes stop."""
        await self._enter()
        held = self._held
        if held is None:
            return
        # Still in lease mode, holding nothing: every later write is refused.
        self._held = HeldLeases(held.owner, held.shard_count, {})
        for sid, fence in held.fences.items():
            r = self._leases.get(sid)
            if r is not None and r.owner == held.owner and r.fence == fence:
                self._leases[sid] = Lease(sid, r.shard_count, "", fence, 0.0)

    def lease_rows(self) -> list[Lease]:
        """Every lease row, by shard."""
        return [self._leases[s] for s in sorted(self._leases)]

    def snapshots(self) -> list[StoredSnapshot]:
        """Every row, by guild id, removed ones too (what ``read_snapshots`` gives)."""
        return [self._rows[g] for g in sorted(self._rows)]

    def put_aside_rows(self) -> list[PutAside]:
        """The rows put aside, oldest first."""
        return list(self._put_aside)

    def dead_letters(self) -> list[DeadLetter]:
        """The dead letters, oldest first."""
        return list(self._dead)

    def statistics(self) -> StoreStatistics:
        """The counters since the store was made."""
        return StoreStatistics(self._batches, self._rows_saved, 0.0, self._loads,
                               len(self._put_aside), len(self._dead), self._refused)
