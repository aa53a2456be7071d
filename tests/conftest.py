"""Shared fixtures: every async test runs on asyncio and trio (anyio's pytest plugin)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import trio.testing

# discord.py imports the deprecated ``audioop`` (voice support we never use) at import time;
# with ``filterwarnings = error`` that import would fail in whichever test module imports it
# first, so it happens here, once, with that one warning silenced.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test once per backend."""
    return request.param


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    """A trio clock that jumps ahead whenever every task is blocked: hours in milliseconds."""
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """An admin URL of a real PostgreSQL server for the session (``tests/kit/pg_server.py``:
    ``MIKU_TEST_PG_URL``, or a throwaway cluster on a Unix socket). Skips when there is none,
    fails instead under ``CI=true`` or ``MIKU_REQUIRE_PG=1``."""
    from tests.kit import pg_server

    try:
        with pg_server.server() as url:
            yield url
    except pg_server.Unavailable as exc:
        if pg_server.required():
            pytest.fail(f"PostgreSQL is required here (CI): {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")


@pytest.fixture
def store_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL server, dropped after the test
    (``tests/kit/pg_server.py``)."""
    import uuid

    from tests.kit import pg_server

    name = f"miku_test_{uuid.uuid4().hex[:10]}"
    url = pg_server.create_database(pg_admin_url, name)
    try:
        yield url
    finally:
        pg_server.drop_database(pg_admin_url, name)
