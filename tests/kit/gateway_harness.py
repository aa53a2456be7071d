"""A PersonaClient connected to the loopback Discord, and a deliver() that tests can wait on;
``Fed``, a PersonaClient fed gateway payloads directly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest
import yarl

from runtime.gateway import PersonaClient
from tests.kit.discord_payloads import CHANNEL, GUILD, SELF_ID, SELF_USER
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


class Fed:
    """A PersonaClient whose ConnectionState is fed gateway payloads directly (no socket, no
    loop): discord.py parses them as it would off the wire. Its channels are a dict the test
    may change (what ``/miku channel`` or a reload does), its timers are recorded, not run."""

    def __init__(self, channels: dict[int, int] | None = None, *, now: float = 0.0) -> None:
        self.events: list[Any] = []
        self.channels: dict[int, int] = {} if channels is None else channels
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.client = PersonaClient(deliver=self.events.append, channel_of=self.channels.get,
                                    clock=lambda: now,
                                    call_later=lambda d, f: self.timers.append((d, f)))
        state = self.client._connection
        state.user = discord.ClientUser(state=state, data=SELF_USER)
        state._users[SELF_ID] = state.user  # type: ignore[assignment]
        self.state = state

    def feed(self, event: str, data: dict[str, Any]) -> list[Any]:
        """Parse one DISPATCH; the events delivered meanwhile."""
        self.events.clear()
        self.state.parsers[event](data)
        return list(self.events)

    def call(self, fn: Callable[[], None]) -> list[Any]:
        """Run ``fn`` (a recorded timer, a client method); the events delivered meanwhile."""
        self.events.clear()
        fn()
        return list(self.events)
