"""The supervisor's snapshot writer: guild snapshots waiting to be written, written in
batches, where one guild's bad snapshot never fails the batch for the others.

A batch is one ``save_many`` (live guilds) and one ``passivate_many`` (passivated ones, with
their wake-ups). While it is written its rows stay readable (``latest``): a guild woken
meanwhile starts from the snapshot in flight, never from the older row in the store.

A store that refuses some rows (``RowsRefusedError``) has written the others; each refused
row is logged and counted, and what happens to it follows its typed ``Refusal``:

- ``BAD_ROW``: put aside (it can never be written);
- ``LEASE_EXPIRED``: kept for the next try (the lease lapsed while renewals could not get
  through, and nobody took the shard: the row is written once the lease is renewed);
- ``LEASE_TAKEN`` / ``NOT_LEASED``: dropped, not put aside (another process runs the shard;
  this one exits on its lost lease).

Any other failure: each guild is tried alone. A row is put aside only when its own write
failed for a reason that is the row's (not ``StoreUnavailableError``: an outage, a deadline)
while other rows went through; every other row that did not go through waits for the next
try. Nothing is dropped because the store was away: a passivated guild's snapshot may be
its only copy.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import anyio
import structlog

from engine import GuildState, encode_state
from runtime.store import Refusal, RowsRefusedError, StoreUnavailableError

__all__ = ["SnapshotWriter"]

log = structlog.get_logger("runtime.supervisor")

#: Guilds whose encode failure was logged (each once, until it encodes again).
_LOGGED_MAX = 4096


class SnapshotWriter:
    """Snapshots not written yet, and the writing of them.

    Args:
        store: the ``SnapshotStore``.
        stats: the supervisor's counters, updated in place (``snapshots_written``,
            ``snapshot_batches``, ``snapshot_errors``, ``snapshot_guild_errors``,
            ``snapshot_encode_errors``, ``snapshot_bytes``, ``snapshot_seconds``).
    """

    def __init__(self, store: Any, stats: dict[str, Any]) -> None:
        self.store = store
        self.stats = stats
        #: guild -> (snapshot, wake-up of a passivated guild or None for a live one).
        self.unsaved: dict[int, tuple[bytes, float | None]] = {}
        #: The batch being written (readable until its write has ended).
        self.inflight: dict[int, tuple[bytes, float | None]] = {}
        #: Guilds the store has a row of (written by this process, or found at start).
        self.known: set[int] = set()
        self._lock: anyio.Lock | None = None
        self._encode_logged: set[int] = set()
        self._waiting = False  # batches kept while the store is unreachable (said once)

    def encode(self, state: GuildState) -> bytes | None:
        """The guild's snapshot, or None (logged once, counted) when it cannot be encoded:
        the guild stays as it is and is tried again at the next snapshot."""
        try:
            data = encode_state(state)
        except Exception as exc:
            self.stats["snapshot_encode_errors"] += 1
            gid = state.guild_id
            if gid not in self._encode_logged and len(self._encode_logged) < _LOGGED_MAX:
                self._encode_logged.add(gid)
                log.error("snapshot_encode_failed", guild_id=gid, error=repr(exc))
            return None
        if self._encode_logged:
            self._encode_logged.discard(state.guild_id)
        return data

    def put(self, guild_id: int, data: bytes, wake_at: float | None = None) -> None:
        """Queue a snapshot (``wake_at``: the guild is passivated, wake it then)."""
        self.unsaved[guild_id] = (data, wake_at)

    def drop(self, guild_id: int) -> None:
        """Forget a guild's unwritten snapshot (it was removed)."""
        self.unsaved.pop(guild_id, None)
        self.inflight.pop(guild_id, None)

    def latest(self, guild_id: int) -> bytes | None:
        """The guild's newest snapshot not known to be in the store yet: waiting to be
        written, or in the batch being written (it may commit or not: either way it is
        newer than the store's row)."""
        item = self.unsaved.get(guild_id)
        if item is None:
            item = self.inflight.get(guild_id)
        return None if item is None else item[0]

    async def write(self) -> int:
        """Write every waiting snapshot. Returns how many were written."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if not self.unsaved:
                return 0
            batch = self.inflight = self.unsaved
            self.unsaved = {}
            started = time.perf_counter()
            try:
                try:
                    refused = await self._save(batch.items())
                    written = batch
                    if refused:
                        written = {g: item for g, item in batch.items() if g not in refused}
                        await self._refused(batch, refused)
                except StoreUnavailableError as exc:
                    # The store is away (it says so once itself): nothing here is the rows'
                    # fault, and trying them one by one would only knock again.
                    self.stats["snapshot_errors"] += 1
                    if not self._waiting:
                        self._waiting = True
                        log.warning("snapshot_waiting", guilds=len(batch), error=str(exc),
                                    detail="kept for the next try")
                    for gid, item in batch.items():
                        self.unsaved.setdefault(gid, item)
                    written = {}
                except Exception as exc:
                    self.stats["snapshot_errors"] += 1
                    log.error("snapshot_failed", guilds=len(batch), error=repr(exc))
                    written = await self._one_by_one(batch)
            finally:
                # Whatever is not written by now is back in ``unsaved`` (or bad, or not
                # ours): never left readable only here.
                if self.inflight is batch:
                    self.inflight = {}
            self.stats["snapshot_seconds"] += time.perf_counter() - started
            if not written:
                return 0
            if self._waiting:
                self._waiting = False
                log.info("snapshot_written_again", guilds=len(written))
            self.known.update(written)
            self.stats["snapshots_written"] += len(written)
            self.stats["snapshot_batches"] += 1
            self.stats["snapshot_bytes"] += sum(len(d) for d, _ in written.values())
            return len(written)

    async def mark_removed(self, guild_id: int, at: float) -> None:
        """Flag the guild removed in the store, after any batch being written (a snapshot
        written later would clear the flag). Failures are logged, never raised."""
        if self._lock is None:
            self._lock = anyio.Lock()
        self.drop(guild_id)
        async with self._lock:
            self.drop(guild_id)
            try:
                await self.store.mark_removed(guild_id, at)
            except Exception as exc:
                log.error("mark_removed_failed", guild_id=guild_id, error=repr(exc))

    async def _save(self, items: Iterable[tuple[int, tuple[bytes, float | None]]]
                    ) -> dict[object, tuple[Refusal, str]]:
        """Write the rows; returns the ones the store refused, with why (it wrote the
        others)."""
        live: list[tuple[int, bytes]] = []
        stopped: list[tuple[int, bytes, float]] = []
        for gid, (data, wake) in items:
            if wake is None:
                live.append((gid, data))
            else:
                stopped.append((gid, data, wake))
        refused: dict[object, tuple[Refusal, str]] = {}
        # Each call is one transaction; a shared server store may take them as one.
        for call, rows in ((self.store.save_many, live), (self.store.passivate_many, stopped)):
            if rows:
                try:
                    await call(rows)
                except RowsRefusedError as exc:
                    refused.update((g, (exc.reasons[g], why)) for g, why in exc.refused.items())
        return refused

    async def _refused(self, batch: dict[int, tuple[bytes, float | None]],
                       refused: dict[object, tuple[Refusal, str]]) -> None:
        for gid, (kind, why) in refused.items():
            self.stats["snapshot_guild_errors"] += 1
            item = batch.get(gid)  # type: ignore[call-overload]
            if kind is Refusal.LEASE_EXPIRED:
                # Nobody took the shard: written once a renewal gets through (said once per
                # lapse, not per guild and try). A newer snapshot put meanwhile wins.
                if not self._waiting:
                    self._waiting = True
                    log.warning("snapshot_refused", guild_id=gid, refusal=kind.value,
                                reason=why, detail="kept for the next try")
                if item is not None:
                    self.unsaved.setdefault(gid, item)  # type: ignore[arg-type]
                continue
            log.error("snapshot_refused", guild_id=gid, refusal=kind.value, reason=why)
            if item is None:
                continue
            if kind is not Refusal.BAD_ROW:
                continue  # its shard is another process's now: nothing of it to keep here
            try:
                await self.store.put_aside(gid, item[0], f"refused by the store: {why}")
            except Exception as exc:
                log.error("put_aside_failed", guild_id=gid, error=repr(exc))

    async def _one_by_one(self, batch: dict[int, tuple[bytes, float | None]]
                          ) -> dict[int, tuple[bytes, float | None]]:
        written: dict[int, tuple[bytes, float | None]] = {}
        failed: dict[int, tuple[tuple[bytes, float | None], str]] = {}
        for gid, item in batch.items():
            try:
                refused = await self._save([(gid, item)])
            except StoreUnavailableError:
                # The store is away (or past its deadline): not this row's fault.
                self.unsaved.setdefault(gid, item)
            except Exception as exc:
                failed[gid] = (item, repr(exc))
            else:
                if refused:
                    await self._refused(batch, refused)
                else:
                    written[gid] = item
        for gid, (item, error) in failed.items():
            if written:
                # The store took the others: this row is what is wrong with it.
                self.stats["snapshot_guild_errors"] += 1
                log.error("snapshot_put_aside", guild_id=gid, error=error)
                try:
                    await self.store.put_aside(gid, item[0], f"not writable: {error}")
                except Exception as exc:
                    log.error("put_aside_failed", guild_id=gid, error=repr(exc))
            else:
                self.unsaved.setdefault(gid, item)  # the store is down: next time
        return written
