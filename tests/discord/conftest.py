"""Shared by the Discord tests: the loopback Discord as a fixture (``fake``).

discord.py imports the deprecated ``audioop`` (voice support we never use) at import time;
with ``filterwarnings = error`` that import would fail, so it happens here, warning silenced.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord

from fake_discord import FakeDiscord


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """The loopback Discord, with discord.py's REST pointed at it."""
    async with FakeDiscord() as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        yield fake
