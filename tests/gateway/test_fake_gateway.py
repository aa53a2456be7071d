"""discord.py connects to the loopback Discord (REST + gateway) and events flow to deliver."""

from __future__ import annotations

import asyncio

import discord
import pytest
import yarl

from actors.events import GuildReady, MessageSeen
from runtime.gateway import PersonaClient
from tests.kit.discord_payloads import ALICE, CHANNEL, GUILD, message_create
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import Recorder

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


@pytest.mark.parametrize("shard_count", [None, 2])
async def test_connect_ready_and_message(monkeypatch: pytest.MonkeyPatch,
                                         shard_count: int | None) -> None:
    """IDENTIFY -> READY -> GUILD_CREATE gives GuildReady; a dispatched MESSAGE_CREATE gives
    MessageSeen; close() ends the client cleanly. With a shard_count, discord.py skips
    /gateway/bot and uses DEFAULT_GATEWAY, which is pointed at the fake too."""
    async with FakeDiscord() as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                            yarl.URL(fake.gateway_url))
        rec = Recorder()
        own = (GUILD >> 22) % shard_count if shard_count else None
        client = PersonaClient(deliver=rec, channel_of={GUILD: CHANNEL}.get,
                               shard_ids=None if own is None else [own],
                               shard_count=shard_count, guild_ready_timeout=0.05)
        runner = asyncio.create_task(client.start("fake-token"))
        try:
            async with asyncio.timeout(60):
                (ready,) = await rec.wait_for(GuildReady)
                assert ready.online_user_ids == (ALICE,)
                await fake.dispatch("MESSAGE_CREATE", message_create(9001, ALICE))
                (seen,) = await rec.wait_for(MessageSeen)
            assert seen.message_id == 9001 and seen.author_id == ALICE
            identify = fake.identifies[0]
            assert identify["token"] == "fake-token"
            assert identify["intents"] == client.intents.value
            if shard_count:
                assert identify["shard"] == [own, shard_count]
        finally:
            await client.close()
            await runner
