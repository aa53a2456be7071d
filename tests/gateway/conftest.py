"""Shared by the Discord tests: the loopback Discord as a fixture (``fake``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from tests.kit.fake_discord import FakeDiscord


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """The loopback Discord, with discord.py's REST pointed at it."""
    async with FakeDiscord() as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        yield fake
