"""The store fixtures: every contract test runs on each store (a real SQLite file, the
in-memory twin, and a real PostgreSQL server: ``pg_admin_url`` in ``tests/conftest.py``)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.store import MemoryStore, SnapshotStore, SQLiteStore
from tests.kit.store import NOW, FakeClock

_DB_NUMBERS = itertools.count(1)


@pytest.fixture
def lease_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Any:
    """A fresh, empty database on the test server, dropped afterwards."""
    from tests.kit import pg_server

    admin = request.getfixturevalue("pg_admin_url")
    name = f"miku_test_{next(_DB_NUMBERS)}"
    url = pg_server.create_database(admin, name)
    yield url
    pg_server.drop_database(admin, name)


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path,
               lease_clock: FakeClock) -> Callable[..., Any]:
    """A maker of unopened stores sharing one database (a SQLite file, or a PostgreSQL
    database): two of them are two processes."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        return lambda **kw: SQLiteStore(path, **{"clock": lambda: NOW,
                                                 "lease_clock": lease_clock, **kw})
    from runtime.store.postgres import PostgresStore

    url = request.getfixturevalue("pg_url")
    return lambda **kw: PostgresStore(url, **{"clock": lambda: NOW,
                                              "lease_clock": lease_clock, **kw})


@pytest.fixture(params=["sqlite", "memory", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path,
                lease_clock: FakeClock) -> AsyncIterator[SnapshotStore]:
    """One store of each kind, open, with ``saved_at`` pinned to NOW."""
    if request.param == "sqlite":
        async with SQLiteStore(tmp_path / "store.db", clock=lambda: NOW,
                               lease_clock=lease_clock) as s:
            yield s
    elif request.param == "memory":
        async with MemoryStore(clock=lambda: NOW, lease_clock=lease_clock) as m:
            yield m
    else:
        from runtime.store.postgres import PostgresStore

        url = request.getfixturevalue("pg_url")
        async with PostgresStore(url, clock=lambda: NOW, lease_clock=lease_clock) as p:
            yield p
