"""A reply answers the message that addressed her: a message with no text (an image, a
sticker, a forward) is in the context as a placeholder, a reply whose message is gone is
dropped (never answered from someone else's line, never posted pointing at nothing), and the
stand-in refuses a reply to a message the channel does not have, as Discord does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from actors.events import ActionRequest
from runtime.errors import SendRejected
from runtime.gateway import PersonaClient
from tests.kit.discord_payloads import (
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    SELF_ID,
    SELF_USER,
    THREAD,
    guild_create,
    message_create,
)
from tests.kit.fake_discord import FakeDiscord

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

TOKEN = "test-token-not-real"
NOW = 150.0


def reply(to: int) -> ActionRequest:
    return ActionRequest(request_id=1, guild_id=GUILD, channel_id=CHANNEL, action="reply",
                         mood="bubbly", decided_at=100.0, deadline=200.0, priority=0,
                         target_user_id=ALICE, reply_to_message_id=to)


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[PersonaClient]:
    client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get,
                           clock=lambda: NOW)
    try:
        await client.login(TOKEN)
        yield client
    finally:
        await client.close()


def with_image(mid: int, author: int, **kw: Any) -> dict[str, Any]:
    d = message_create(mid, author, content="", **kw)
    d["attachments"] = [{"id": str(mid * 10), "filename": "cat.png", "size": 1000,
                         "url": "https://cdn.example/cat.png",
                         "proxy_url": "https://media.example/cat.png",
                         "content_type": "image/png", "width": 10, "height": 10}]
    return d


def with_sticker(mid: int, author: int) -> dict[str, Any]:
    d = message_create(mid, author, content="")
    d["sticker_items"] = [{"id": "777", "name": "miku wave", "format_type": 1}]
    return d


def forwarded(mid: int, author: int) -> dict[str, Any]:
    d = message_create(mid, author, content="")
    d["message_reference"] = {"type": 1, "message_id": "1", "channel_id": "99",
                              "guild_id": str(GUILD)}
    d["message_snapshots"] = [{"message": {
        "type": 0, "content": "from elsewhere", "embeds": [], "attachments": [],
        "timestamp": "2026-11-27T15:00:00.000000+00:00", "edited_timestamp": None,
        "flags": 0, "mentions": [], "mention_roles": []}}]
    return d


async def test_messages_without_text_are_placeholders(fake: FakeDiscord,
                                                      client: PersonaClient) -> None:
    """An image, a sticker and a forward are lines of their own ("[image]", "[sticker]",
    "[forwarded message]"), and an image with words keeps both; no file name, sticker name or
    forwarded words reach the lines."""
    fake.history[CHANNEL] = [
        message_create(1, BOB, content="look"),
        with_image(2, ALICE),
        with_sticker(3, BOB),
        forwarded(4, ALICE),
        {**with_image(5, BOB), "content": "mine too"},
    ]
    lines = await client.fetch_context(GUILD, CHANNEL, 10)
    assert [(c.author, c.text) for c in lines] == [
        ("Bob", "look"), ("Alice", "[image]"), ("Bob", "[sticker]"),
        ("Alice", "[forwarded message]"), ("Bob", "mine too [image]")]
    assert "cat.png" not in repr(lines) and "wave" not in repr(lines)
    assert "elsewhere" not in repr(lines)


async def test_the_reply_context_ends_with_an_image_that_addressed_her(
        fake: FakeDiscord, client: PersonaClient) -> None:
    """Alice mentions her with only an image: the context for the reply ends with Alice's
    "[image]" line, not with Bob's words before it."""
    fake.history[CHANNEL] = [message_create(1, BOB, content="anyone here?"),
                             with_image(2, ALICE, mentions=(SELF_ID,))]
    lines = await client.fetch_context(GUILD, CHANNEL, 10, upto_message_id=2)
    assert [(c.author, c.text, c.message_id) for c in lines][-1] == ("Alice", "[image]", 2)


async def test_a_reply_whose_message_is_gone_is_dropped(fake: FakeDiscord,
                                                        client: PersonaClient) -> None:
    """The message that addressed her was deleted (MESSAGE_DELETE): the context refuses
    (the pool fails the reply, no words written) rather than answer Bob's earlier line."""
    await fake.dispatch("MESSAGE_CREATE", message_create(1, BOB, content="hi all"))
    await fake.dispatch("MESSAGE_CREATE", message_create(2, ALICE, content="<@900> hey",
                                                         mentions=(SELF_ID,)))
    await fake.dispatch("MESSAGE_DELETE", {"id": "2", "channel_id": str(CHANNEL),
                                           "guild_id": str(GUILD)})
    with pytest.raises(SendRejected, match="the message she answers is gone"):
        await client.fetch_context(GUILD, CHANNEL, 10, upto_message_id=2)


async def test_a_reply_to_a_deleted_message_is_not_posted(fake: FakeDiscord,
                                                          client: PersonaClient) -> None:
    """Deleted between her reading and her sending: Discord refuses the reference and the
    send fails saying so; nothing is posted unanchored."""
    with pytest.raises(SendRejected) as info:
        await client.send(reply(4242), "hi!")
    assert info.value.reason == "the message she answers is gone"
    [attempt] = fake.sent
    assert attempt.body["message_reference"]["fail_if_not_exists"] is True
    assert client.statistics().sent == 0


async def reply_via_http(fake: FakeDiscord, fail: bool | None) -> tuple[int, Any]:
    ref: dict[str, Any] = {"message_id": "4242", "channel_id": str(CHANNEL)}
    if fail is not None:
        ref["fail_if_not_exists"] = fail
    async with aiohttp.ClientSession() as http, http.post(
            f"{fake.api_base}/channels/{CHANNEL}/messages", headers={"Authorization": "Bot x"},
            json={"content": "hi", "message_reference": ref}) as r:
        return r.status, await r.json()


async def test_the_stand_in_refuses_a_reply_to_a_message_it_does_not_have(
        fake: FakeDiscord) -> None:
    """Discord's default (fail_if_not_exists true) is 400 50035 on message_reference; with
    false the message is posted as a plain one (type 0)."""
    status, answer = await reply_via_http(fake, None)
    assert (status, answer["code"]) == (400, 50035)
    assert "message_reference" in answer["errors"]
    status, answer = await reply_via_http(fake, False)
    assert status == 200 and answer["type"] == 0


async def test_an_excluded_members_name_does_not_reach_the_lines(fake: FakeDiscord) -> None:
    """Bob opted out: his own lines are the pool's to drop, but his name in someone else's
    mention is "@someone" here, so it never reaches a prompt; Alice's name stays."""
    client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get,
                           clock=lambda: NOW, exclude=lambda g, u: u == BOB)
    try:
        await client.login(TOKEN)
        state = client._connection
        state.user = discord.ClientUser(state=state, data=SELF_USER)
        state.parsers["GUILD_CREATE"](guild_create(GUILD))
        fake.history[CHANNEL] = [message_create(
            1, ALICE, content=f"<@{BOB}> and <@{ALICE}>, look", mentions=(BOB, ALICE))]
        [line] = await client.fetch_context(GUILD, CHANNEL, 10)
        assert line.text == "@someone and @Alice, look"
    finally:
        await client.close()


async def test_a_threads_first_line_is_the_message_it_was_started_from(
        fake: FakeDiscord) -> None:
    """A thread's first message is its starter (type 21, no content); Discord sends the
    message the thread was made from as its referenced_message, and that is the first line
    of the thread's context, with its author."""
    client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get,
                           clock=lambda: NOW)
    try:
        await client.login(TOKEN)
        state = client._connection
        state.user = discord.ClientUser(state=state, data=SELF_USER)
        state.parsers["GUILD_CREATE"](guild_create(GUILD))
        original = message_create(40, ALICE, content="who's going to the concert?")
        starter = message_create(41, ALICE, channel_id=THREAD, content="")
        starter["type"] = 21
        starter["message_reference"] = {"message_id": "40", "channel_id": str(CHANNEL),
                                        "guild_id": str(GUILD)}
        starter["referenced_message"] = original
        fake.history[THREAD] = [starter, message_create(42, BOB, channel_id=THREAD,
                                                        content="me!")]
        lines = await client.fetch_context(GUILD, THREAD, 10)
        assert [(c.author, c.text) for c in lines] == [
            ("Alice", "who's going to the concert?"), ("Bob", "me!")]
    finally:
        await client.close()
