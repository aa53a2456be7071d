"""A reply to one of her messages addresses her even when Discord leaves the referenced
message out of MESSAGE_CREATE (it may: ``referenced_message`` is absent when Discord did not
resolve it): her own recent message ids are remembered."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from actors.events import ActionRequest, MessageSeen
from runtime.gateway import PersonaClient
from tests.kit.discord_payloads import (
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    SELF_ID,
    SELF_USER,
    guild_create,
    message_create,
)
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import Fed


def reply_without_reference(mid: int, author: int, to: int) -> dict[str, Any]:
    d = message_create(mid, author, content="haha yes")
    d["type"] = 19
    d["message_reference"] = {"type": 0, "message_id": str(to), "channel_id": str(CHANNEL),
                              "guild_id": str(GUILD)}
    return d


def test_a_reply_to_her_recent_message_addresses_her() -> None:
    """Her message 7001 came through the gateway; Alice's reply to it without the resolved
    message addresses her; a reply to Bob's message (also unresolved) does not."""
    h = Fed({GUILD: CHANNEL})
    h.feed("GUILD_CREATE", guild_create(GUILD))
    h.feed("MESSAGE_CREATE", message_create(7001, SELF_ID, content="hi all!"))
    h.feed("MESSAGE_CREATE", message_create(7002, BOB, content="hey"))
    [to_her] = h.feed("MESSAGE_CREATE", reply_without_reference(7003, ALICE, 7001))
    assert isinstance(to_her, MessageSeen) and to_her.addresses_self
    [to_bob] = h.feed("MESSAGE_CREATE", reply_without_reference(7004, ALICE, 7002))
    assert not to_bob.addresses_self


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_reply_to_what_she_just_sent_addresses_her(fake: FakeDiscord) -> None:
    """The id Discord gave her sent message is remembered at once (before its own
    MESSAGE_CREATE comes back): an unresolved reply to it addresses her."""
    events: list[Any] = []
    client = PersonaClient(deliver=events.append, channel_of={GUILD: CHANNEL}.get,
                           clock=lambda: 150.0)
    try:
        await client.login("test-token-not-real")
        state = client._connection
        state.user = discord.ClientUser(state=state, data=SELF_USER)
        state.parsers["GUILD_CREATE"](guild_create(GUILD))
        await client.send(ActionRequest(
            request_id=1, guild_id=GUILD, channel_id=CHANNEL, action="break_silence",
            mood="bubbly", decided_at=100.0, deadline=200.0), "anyone around?")
        posted = fake.sent[-1].message_id
        assert posted is not None
        events.clear()
        state.parsers["MESSAGE_CREATE"](reply_without_reference(posted + 1, ALICE, posted))
        [seen] = events
        assert seen.addresses_self
    finally:
        await client.close()
