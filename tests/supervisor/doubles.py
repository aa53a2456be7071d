"""Test doubles at the supervisor's edges: the real memory store, recording its purges."""

from __future__ import annotations

from runtime.store import MemoryStore


class RemovingStore(MemoryStore):
    """``MemoryStore`` (store contract v2), recording each ``purge_removed`` call and
    showing which rows are flagged removed."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.purges: list[float] = []

    async def purge_removed(self, before: float) -> int:
        self.purges.append(before)
        return await super().purge_removed(before)

    @property
    def removed(self) -> dict[int, float]:
        """guild id -> when it was flagged removed."""
        return {r.guild_id: r.removed_at for r in self.snapshots() if r.removed_at is not None}
