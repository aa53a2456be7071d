"""Test doubles at the supervisor's edges: a memory store with the removal half of store
contract v2 (``mark_removed``, ``purge_removed``), until the store package brings its own."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.store import MemoryStore


class RemovingStore(MemoryStore):
    """``MemoryStore`` plus contract v2's removal: a removed row is kept but flagged, load and
    load_wakeups skip it, a later save clears the flag, purge deletes old flagged rows."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.removed: dict[int, float] = {}
        self.purges: list[float] = []

    async def mark_removed(self, guild_id: int, at: float) -> None:
        self.removed[guild_id] = at

    async def purge_removed(self, before: float) -> int:
        self.purges.append(before)
        old = [g for g, at in self.removed.items() if at < before]
        for g in old:
            del self.removed[g]
            self._rows.pop(g, None)
        return len(old)

    async def load(self, guild_id: int) -> bytes | None:
        return None if guild_id in self.removed else await super().load(guild_id)

    async def load_wakeups(self) -> list[tuple[int, float | None]]:
        return [(g, w) for g, w in await super().load_wakeups() if g not in self.removed]

    async def _save(self, rows: list[tuple[int, bytes, float | None]]) -> None:
        await super()._save(rows)
        for g, _, _ in rows:
            self.removed.pop(g, None)

    async def save_many(self, items: Sequence[tuple[int, bytes]]) -> None:
        await self._save([(g, d, None) for g, d in items])
