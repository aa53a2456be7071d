"""A send she may not make is refused before it costs a request: a reply into a thread
without Send Messages in Threads or into a locked thread, and anything still queued for a
guild after her access there was lost (no 403 for the typing, none for the send)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from actors.events import ActionRequest, MemberLeft
from runtime.errors import SendRejected
from runtime.gateway import PersonaClient
from tests.kit.discord_payloads import (
    CAROL,
    CHANNEL,
    GUILD,
    SELF_ID,
    SELF_USER,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    THREAD,
    USERS,
    deny,
    guild_create,
    guild_member_add,
    text_channel,
    thread_channel,
)
from tests.kit.fake_discord import FakeDiscord

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

NOW = 1_764_259_300.5
EVERYONE = GUILD


def request(**kw: Any) -> ActionRequest:
    fields: dict[str, Any] = dict(request_id=1, guild_id=GUILD, channel_id=CHANNEL,
                                  action="reply", mood="bubbly", decided_at=NOW - 1,
                                  deadline=NOW + 60, priority=0)
    fields.update(kw)
    return ActionRequest(**fields)


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[PersonaClient]:
    """Logged in over REST; its cache is fed gateway payloads directly."""
    client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get,
                           clock=lambda: NOW)
    try:
        await client.login("fake-token")
        state = client._connection
        state.user = discord.ClientUser(state=state, data=SELF_USER)
        state._users[SELF_ID] = state.user  # type: ignore[assignment]
        yield client
    finally:
        await client.close()


def feed(client: PersonaClient, event: str, data: dict[str, Any]) -> None:
    client._connection.parsers[event](data)


async def refused(fake: FakeDiscord, client: PersonaClient, req: ActionRequest) -> str:
    with pytest.raises(SendRejected) as info:
        async with client.typing_for(req):
            await client.send(req, "hi!")
    assert fake.sent == [] and fake.typing == []
    return info.value.reason


async def test_a_reply_into_a_thread_without_send_in_threads(fake: FakeDiscord,
                                                             client: PersonaClient) -> None:
    """Send Messages in Threads denied on the autonomous channel: a reply into its thread is
    refused naming it, with no typing and no send; the channel itself is still fine."""
    feed(client, "GUILD_CREATE", guild_create(
        GUILD, overwrites=[deny(EVERYONE, SEND_MESSAGES_IN_THREADS)]))
    reason = await refused(fake, client, request(channel_id=THREAD, reply_to_message_id=1))
    assert reason == "missing Send Messages in Threads"
    fake.history[CHANNEL] = []
    await client.send(request(action="break_silence"), "hello")
    assert [m.channel_id for m in fake.sent] == [CHANNEL]


async def test_a_reply_into_a_locked_thread(fake: FakeDiscord, client: PersonaClient) -> None:
    """A moderator locked the thread: only Manage Threads may speak there."""
    feed(client, "GUILD_CREATE", guild_create(GUILD))
    feed(client, "THREAD_UPDATE", thread_channel(THREAD, CHANNEL, locked=True))
    reason = await refused(fake, client, request(channel_id=THREAD, reply_to_message_id=1))
    assert reason == "missing Manage Threads (the thread is locked)"


async def test_queued_sends_stop_when_access_is_lost(fake: FakeDiscord,
                                                     client: PersonaClient) -> None:
    """Her Send Messages taken away after the action was decided: what is still queued for
    the guild is refused without a request."""
    feed(client, "GUILD_CREATE", guild_create(GUILD))
    feed(client, "CHANNEL_UPDATE", text_channel(CHANNEL, "miku-chat", GUILD,
                                                overwrites=[deny(EVERYONE, SEND_MESSAGES)]))
    reason = await refused(fake, client, request(action="break_silence"))
    assert reason == "missing Send Messages"
    assert client.statistics().send_rejected == 1


async def test_a_greeting_for_a_member_who_left_is_not_sent(fake: FakeDiscord,
                                                            client: PersonaClient) -> None:
    """Carol joined and left before her greeting went out: it is refused without a request;
    after she joins again she can be greeted."""
    feed(client, "GUILD_CREATE", guild_create(GUILD))
    feed(client, "GUILD_MEMBER_ADD", guild_member_add(CAROL))
    feed(client, "GUILD_MEMBER_REMOVE", {"guild_id": str(GUILD), "user": USERS[CAROL]})
    greet = request(action="engage_user", target_user_id=CAROL, priority=1)
    with pytest.raises(SendRejected, match="left the server"):
        await client.send(greet, "welcome!")
    assert fake.sent == []
    feed(client, "GUILD_MEMBER_ADD", guild_member_add(CAROL))
    await client.send(greet, "welcome back!")
    assert len(fake.sent) == 1


async def test_a_member_who_leaves_is_reported_to_the_guild(client: PersonaClient) -> None:
    """GUILD_MEMBER_REMOVE of a human in a guild with her channel becomes ``MemberLeft`` (the
    engine drops what it would greet them for); a bot leaving, or a member of a guild without
    her channel, is nothing to report."""
    got: list[object] = []
    client._deliver = got.append
    feed(client, "GUILD_CREATE", guild_create(GUILD))
    feed(client, "GUILD_MEMBER_ADD", guild_member_add(CAROL))
    feed(client, "GUILD_MEMBER_REMOVE", {"guild_id": str(GUILD), "user": USERS[CAROL]})
    bot = {**USERS[CAROL], "id": "4242", "bot": True}
    feed(client, "GUILD_MEMBER_REMOVE", {"guild_id": str(GUILD), "user": bot})
    feed(client, "GUILD_MEMBER_REMOVE", {"guild_id": "999", "user": USERS[CAROL]})
    assert [e for e in got if isinstance(e, MemberLeft)] == [MemberLeft(GUILD, CAROL, NOW)]
