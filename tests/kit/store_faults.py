"""The memory store with faults a test switches on: writes held at a gate (a slow store:
another session holding a lock on the table), and an outage (every call raises
``StoreUnavailableError``, as the real stores do when their database cannot be reached).

The stores behave as ``MemoryStore`` otherwise (the same contract tests hold for it); the
faults are what a real PostgreSQL does under ``LOCK TABLE snapshots IN EXCLUSIVE MODE`` and
when its server is stopped. The fault suite (``tests/faults``) does the real thing.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from runtime.store import Lease, MemoryStore
from runtime.store.contract import StoreUnavailableError

__all__ = ["FaultyStore"]


class FaultyStore(MemoryStore):
    """``MemoryStore`` with a write gate and an outage switch.

    - ``hold_writes()``: from then on every snapshot write waits (``writes_waiting`` is set
      when one does) until ``release_writes()``; then it is written as asked.
    - ``down = True``: every call raises ``StoreUnavailableError`` until it is False again;
      ``loads_refused`` counts the loads refused meanwhile.
    - ``blackhole = True``: lease calls never answer (a partition: the packets go nowhere)
      until it is False again; a cancelled caller gets its cancellation.
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.down = False
        self.blackhole = False
        self._unblocked = anyio.Event()
        self.loads_refused = 0
        self.writes_waiting = anyio.Event()
        self._gate: anyio.Event | None = None

    def twin(self) -> FaultyStore:
        """Another process's store on the same tables (rows and leases), holding its own
        leases: what a second ``MemoryStore`` cannot be."""
        twin = FaultyStore(clock=self._clock, lease_clock=self._lease_clock)
        twin._rows, twin._leases = self._rows, self._leases
        return twin

    def hold_writes(self) -> None:
        self._gate = anyio.Event()
        self.writes_waiting = anyio.Event()

    def release_writes(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def _fault(self) -> None:
        if self.down:
            raise StoreUnavailableError(self.path, "connection refused (the test stopped it)")

    async def _write_gate(self) -> None:
        gate = self._gate
        if gate is not None:
            self.writes_waiting.set()
            await gate.wait()

    async def load(self, guild_id: int) -> bytes | None:
        if self.down:
            self.loads_refused += 1
        await self._fault()
        return await super().load(guild_id)

    async def load_many(self, guild_ids: Sequence[int]) -> dict[int, bytes]:
        await self._fault()
        return await super().load_many(guild_ids)

    async def save_many(self, items: Sequence[tuple[int, bytes]]) -> None:
        await self._fault()
        await self._write_gate()
        await super().save_many(items)

    async def passivate_many(self, items: Sequence[tuple[int, bytes, float]]) -> None:
        await self._fault()
        await self._write_gate()
        await super().passivate_many(items)

    async def put_aside(self, guild_id: int, data: bytes, error: str) -> None:
        await self._fault()
        await super().put_aside(guild_id, data, error)

    async def _lease_call(self) -> None:
        while self.blackhole:
            await self._unblocked.wait()
        await self._fault()

    def heal(self) -> None:
        """End a blackhole: lease calls answer again."""
        self.blackhole = False
        self._unblocked.set()
        self._unblocked = anyio.Event()

    async def renew_leases(self, ttl_s: float) -> tuple[Lease, ...]:
        await self._lease_call()
        return await super().renew_leases(ttl_s)

    async def load_wakeups(self) -> list[tuple[int, float | None]]:
        await self._fault()
        return await super().load_wakeups()
