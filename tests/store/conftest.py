"""The store fixtures: every contract test runs on each store (a real SQLite file, the
in-memory twin, and a real PostgreSQL server when there is one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.store import MemoryStore, SnapshotStore, SQLiteStore

NOW = 1_800_000_000.0


class FakeClock:
    """Epoch seconds that move only when a test says so (lease expiry)."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lease_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path,
                lease_clock: FakeClock) -> AsyncIterator[SnapshotStore]:
    """One store of each kind, open, with ``saved_at`` pinned to NOW."""
    if request.param == "sqlite":
        async with SQLiteStore(tmp_path / "store.db", clock=lambda: NOW,
                               lease_clock=lease_clock) as s:
            yield s
    else:
        async with MemoryStore(clock=lambda: NOW, lease_clock=lease_clock) as m:
            yield m
