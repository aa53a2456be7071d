"""Shared fixtures: every async test runs on asyncio and trio (anyio's pytest plugin)."""

from __future__ import annotations

import pytest
import trio.testing


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test once per backend."""
    return request.param


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    """A trio clock that jumps ahead whenever every task is blocked: hours in milliseconds."""
    return trio.testing.MockClock(autojump_threshold=0)
