"""The stand-in refuses what Discord refuses for her permissions: computed from the guild
payloads (roles, channel overwrites, a thread's parent, a timeout), and following the updates
a test dispatches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.kit.discord_payloads import (
    CHANNEL,
    GUILD,
    OTHER_CHANNEL,
    READ_MESSAGE_HISTORY,
    SELF_ROLE,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    THREAD,
    VIEW_CHANNEL,
    deny,
    guild_create,
    message_create,
    text_channel,
)
from tests.kit.fake_discord import FakeDiscord

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

AUTH = {"Authorization": "Bot x"}
EVERYONE = GUILD


def with_overwrites(*overwrites: dict[str, Any], channel: int = CHANNEL) -> dict[str, Any]:
    g = guild_create(GUILD)
    for ch in g["channels"]:
        if ch["id"] == str(channel):
            ch["permission_overwrites"] = list(overwrites)
    return g


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, fake: FakeDiscord, cid: int,
               **body: Any) -> tuple[int, Any]:
    async with http.post(f"{fake.api_base}/channels/{cid}/messages", headers=AUTH,
                         json={"content": "hi", **body}) as r:
        return r.status, await r.json()


async def history(http: aiohttp.ClientSession, fake: FakeDiscord, cid: int) -> tuple[int, Any]:
    async with http.get(f"{fake.api_base}/channels/{cid}/messages", headers=AUTH) as r:
        return r.status, await r.json()


async def test_send_messages_denied_is_403_50013(http: aiohttp.ClientSession) -> None:
    """@everyone denied Send Messages in her channel: her message is 403 50013 there, and
    accepted in the other channel; an overwrite for her own role giving it back counts."""
    async with FakeDiscord(guilds=[with_overwrites(deny(EVERYONE, SEND_MESSAGES))]) as fake:
        assert (await post(http, fake, CHANNEL))[0] == 403
        assert (await post(http, fake, CHANNEL))[1]["code"] == 50013
        assert (await post(http, fake, OTHER_CHANNEL))[0] == 200
        allow = {"id": str(SELF_ROLE), "type": 0, "allow": str(SEND_MESSAGES), "deny": "0"}
        await fake.dispatch("CHANNEL_UPDATE", text_channel(
            CHANNEL, "miku-chat", GUILD, overwrites=[deny(EVERYONE, SEND_MESSAGES), allow]))
        assert (await post(http, fake, CHANNEL))[0] == 200


async def test_without_view_channel_nothing(http: aiohttp.ClientSession) -> None:
    """Without View Channel: message and history 403 50001 (Missing Access)."""
    async with FakeDiscord(guilds=[with_overwrites(deny(EVERYONE, VIEW_CHANNEL))]) as fake:
        assert (await post(http, fake, CHANNEL))[1]["code"] == 50001
        status, answer = await history(http, fake, CHANNEL)
        assert (status, answer["code"]) == (403, 50001)


async def test_without_read_history_no_messages_and_no_replies(
        http: aiohttp.ClientSession) -> None:
    """Without Read Message History the history is empty (as documented) and a reply is
    403 50013; a plain message still goes."""
    async with FakeDiscord(guilds=[with_overwrites(
            deny(EVERYONE, READ_MESSAGE_HISTORY))]) as fake:
        fake.history[CHANNEL] = [message_create(1, 11)]
        assert await history(http, fake, CHANNEL) == (200, [])
        status, answer = await post(http, fake, CHANNEL, message_reference={
            "message_id": "1", "channel_id": str(CHANNEL)})
        assert (status, answer["code"]) == (403, 50013)
        assert (await post(http, fake, CHANNEL))[0] == 200


async def test_a_thread_needs_send_in_threads(http: aiohttp.ClientSession) -> None:
    """A thread takes its parent's overwrites and needs Send Messages in Threads."""
    async with FakeDiscord(guilds=[with_overwrites(
            deny(EVERYONE, SEND_MESSAGES_IN_THREADS))]) as fake:
        assert (await post(http, fake, CHANNEL))[0] == 200
        assert (await post(http, fake, THREAD))[1]["code"] == 50013


async def test_an_unknown_channel_is_404(http: aiohttp.ClientSession) -> None:
    async with FakeDiscord() as fake:
        status, answer = await post(http, fake, 424242)
        assert (status, answer["code"]) == (404, 10003)
