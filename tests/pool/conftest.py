"""Fixtures for the pool tests (async tests open their own server: see fakeserver.py)."""

from __future__ import annotations

import pytest

from tests.kit.pool_harness import Recorder


@pytest.fixture
def recorder() -> Recorder:
    """A recording router / sender / context source."""
    return Recorder()
