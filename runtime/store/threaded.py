"""What the SQLite and PostgreSQL stores share: blocking calls in worker threads, and the
skeleton of a snapshot batch (one transaction; rows checked one at a time as they are
bound; the refused ones raised after the others are written; counters for ``statistics``).

A backend says how to run a call (``_run``: its thread, its connection, its errors) and how
to write a batch's rows in one transaction (``_write_batch``); the rest is here, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from runtime.store.contract import RowsRefusedError, StoreStatistics
from runtime.store.leases import HeldLeases
from runtime.store.rows import Refused

__all__ = ["Rows", "ThreadedStore"]

_T = TypeVar("_T")

#: A batch: ``(guild_id, data)`` of live guilds or ``(guild_id, data, wake_at)`` of stopped ones.
Rows = Sequence[tuple[int, bytes]] | Sequence[tuple[int, bytes, float]]


class ThreadedStore:
    """The shared half of a store whose calls block (see the module docstring)."""

    path: str
    _clock: Callable[[], float]
    _held: HeldLeases | None

    def __init__(self) -> None:
        self._batches = self._rows_saved = self._loads = self._refused = 0
        self._put_aside_count = self._dead_count = 0
        self._last_save_s = 0.0

    async def _run(self, fn: Callable[[Any], _T]) -> _T:
        """``fn(conn)`` in a worker thread, in one transaction (the backend's)."""
        raise NotImplementedError

    def _write_batch(self, conn: Any, items: Rows, passivate: bool, now: float,
                     held: HeldLeases | None, refused: Refused) -> None:
        """Write ``items`` in the current transaction (in the worker thread), rows checked
        by ``rows.batch_rows``; the refused ones land in ``refused``."""
        raise NotImplementedError

    async def save_many(self, items: Sequence[tuple[int, bytes]]) -> None:
        """Save live guilds' snapshots in one transaction. Raises ``RowsRefusedError`` after
        writing the others if some rows were refused."""
        await self._save(items, passivate=False)

    async def passivate_many(self, items: Sequence[tuple[int, bytes, float]]) -> None:
        """Save stopped guilds' snapshots with their wake-up, as ``save_many``."""
        await self._save(items, passivate=True)

    async def _save(self, items: Rows, *, passivate: bool) -> None:
        if not items:
            return
        now = self._clock()  # on the loop: the runtime's clock may read the loop's time
        refused = Refused()
        held = self._held

        def save(conn: Any) -> float:
            t0 = time.perf_counter()
            self._write_batch(conn, items, passivate, now, held, refused)
            return time.perf_counter() - t0

        self._last_save_s = await self._run(save)
        self._batches += 1
        self._rows_saved += len(items) - len(refused)
        if refused:
            self._refused += len(refused)
            raise RowsRefusedError(self.path, refused.words, len(items), refused.kinds)

    def statistics(self) -> StoreStatistics:
        """The counters since the store was opened."""
        return StoreStatistics(self._batches, self._rows_saved, self._last_save_s, self._loads,
                               self._put_aside_count, self._dead_count, self._refused)


