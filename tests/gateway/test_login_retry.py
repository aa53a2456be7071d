"""A login that fails on the network leaves nothing open: discord.py opens an aiohttp session
per login attempt, and a retried login (Discord unreachable at start) leaked one per failure
("Unclosed client session" at error level)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import aiohttp
import discord
import pytest

from runtime.gateway import PersonaClient
from tests.kit.discord_payloads import CHANNEL, GUILD
from tests.kit.fake_discord import FakeDiscord

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


async def test_failed_logins_close_their_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three logins refused by the network (nothing listens), then one that succeeds: no
    session is left unclosed, and the client works."""
    unclosed: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: unclosed.append(ctx))
    try:
        client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get)
        async with FakeDiscord() as fake:
            closed_port = f"http://127.0.0.1:{fake.port}/nothing-here"
        monkeypatch.setattr(discord.http.Route, "BASE", closed_port)
        for _ in range(3):
            with pytest.raises(aiohttp.ClientConnectionError):
                await client.login("test-token-not-real")
        async with FakeDiscord() as fake:
            monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
            await client.login("test-token-not-real")
            assert client.user is not None
            await client.close()
        gc.collect()
        await asyncio.sleep(0)  # let the loop run the handlers __del__ scheduled
    finally:
        loop.set_exception_handler(old)
    assert [c["message"] for c in unclosed] == []
