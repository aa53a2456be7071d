"""A PersonaClient connected to the loopback Discord, and a deliver() that tests can wait on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
import yarl

from runtime.gateway import PersonaClient
from tests.kit.discord_payloads import CHANNEL, GUILD
from tests.kit.fake_discord import FakeDiscord


class Recorder:
    """A deliver() that lets the test wait for the n-th event of a kind."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, kind: type, n: int = 1) -> list[Any]:
        while len(found := [e for e in self.events if isinstance(e, kind)]) < n:
            self._changed.clear()
            await self._changed.wait()
        return found

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@contextlib.asynccontextmanager
async def connected(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch,
                    channels: dict[int, int] | None = None,
                    **options: Any) -> AsyncIterator[tuple[PersonaClient, Recorder]]:
    """A PersonaClient aimed at ``fake`` and started; closed on exit."""
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        yarl.URL(fake.gateway_url))
    rec = Recorder()
    options.setdefault("guild_ready_timeout", 0.05)
    client = PersonaClient(deliver=rec, channel_of=(channels or {GUILD: CHANNEL}).get,
                           **options)
    runner = asyncio.create_task(client.start("fake-token"))
    try:
        async with asyncio.timeout(60):
            yield client, rec
    finally:
        await client.close()
        await runner
