"""She answers the right person, in the right place: mentions of her role, threads under the
autonomous channel, the context ending with the message she answers, "typing…" while she
writes, and no stale words after the action's deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from actors.events import ActionRequest, MessageSeen
from runtime.errors import SendRejected
from runtime.gateway import PersonaClient
from tests.kit.discord_payloads import (
    ALICE,
    BOB,
    CHANNEL,
    FANS_ROLE,
    GUILD,
    OTHER_THREAD,
    SELF_ID,
    SELF_ROLE,
    SELF_USER,
    THREAD,
    guild_create,
    message_create,
)
from tests.kit.fake_discord import FakeDiscord

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

NOW = 1_764_259_300.5


class Clock:
    """The client's epoch clock, set by the test."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def request(**kw: Any) -> ActionRequest:
    fields: dict[str, Any] = dict(request_id=1, guild_id=GUILD, channel_id=CHANNEL,
                                  action="reply", mood="bubbly", decided_at=NOW - 1,
                                  deadline=NOW + 60, priority=0)
    fields.update(kw)
    return ActionRequest(**fields)


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[PersonaClient]:
    """Logged in over REST, its cache fed GUILD_CREATE (with the threads) directly."""
    events: list[Any] = []
    client = PersonaClient(deliver=events.append, channel_of={GUILD: CHANNEL}.get,
                           clock=Clock())
    try:
        await client.login("fake-token")
        state = client._connection
        state.user = discord.ClientUser(state=state, data=SELF_USER)
        state._users[SELF_ID] = state.user  # type: ignore[assignment]
        state.parsers["GUILD_CREATE"](guild_create(GUILD))
        client.test_events = events  # type: ignore[attr-defined]
        yield client
    finally:
        await client.close()


def feed(client: PersonaClient, data: dict[str, Any]) -> list[Any]:
    events: list[Any] = client.test_events  # type: ignore[attr-defined]
    events.clear()
    client._connection.parsers["MESSAGE_CREATE"](data)
    return list(events)


async def test_mention_of_her_managed_role_addresses_her(client: PersonaClient) -> None:
    """@miku the role (tags.bot_id her) addresses her; another role does not."""
    (ev,) = feed(client, message_create(6001, ALICE, mention_roles=(SELF_ROLE,)))
    assert ev.addresses_self and ev.channel_id == CHANNEL
    (ev,) = feed(client, message_create(6002, ALICE, mention_roles=(FANS_ROLE,)))
    assert not ev.addresses_self


async def test_in_a_thread_she_is_addressed_there(client: PersonaClient) -> None:
    """A mention or a reply to her in a thread under the channel is delivered with the
    thread's id; the thread's other talk, and threads under other channels, are not."""
    assert feed(client, message_create(6003, ALICE, channel_id=THREAD, mentions=(SELF_ID,))) == [
        MessageSeen(guild_id=GUILD, channel_id=THREAD, author_id=ALICE, at=NOW,
                    addresses_self=True, message_id=6003)]
    hers = message_create(6004, SELF_ID, channel_id=THREAD)
    (ev,) = feed(client, message_create(6005, BOB, channel_id=THREAD, reply_to=hers))
    assert (ev.channel_id, ev.author_id, ev.addresses_self) == (THREAD, BOB, True)
    assert feed(client, message_create(6006, BOB, channel_id=THREAD)) == []
    assert feed(client, message_create(6007, ALICE, channel_id=OTHER_THREAD,
                                       mentions=(SELF_ID,))) == []


async def test_reply_in_a_thread_is_sent_there(fake: FakeDiscord,
                                               client: PersonaClient) -> None:
    """A reply whose channel is a thread under the autonomous channel goes to the thread, as a
    reply; a thread under another channel is refused without touching Discord."""
    fake.history[THREAD] = [message_create(6003, ALICE, channel_id=THREAD, content="miku?")]
    await client.send(request(channel_id=THREAD, reply_to_message_id=6003), "hi!")
    (sent,) = fake.sent
    assert sent.channel_id == THREAD
    assert sent.body["message_reference"]["message_id"] == 6003
    assert sent.body["allowed_mentions"] == {"parse": []}
    with pytest.raises(SendRejected, match="thread under it"):
        await client.send(request(channel_id=OTHER_THREAD), "hi")
    assert len(fake.sent) == 1


async def test_context_ends_with_the_message_she_answers(fake: FakeDiscord,
                                                         client: PersonaClient) -> None:
    """With upto_message_id the lines end with that message (asked for with before=id+1), and
    what came after it is not included; each line carries its author and message ids."""
    fake.history[CHANNEL] = [
        message_create(10, ALICE, content="miku, what's your favourite song?"),
        message_create(11, BOB, content="lol"),
        message_create(12, BOB, content="anyway, dinner?"),
    ]
    lines = await client.fetch_context(GUILD, CHANNEL, 10, upto_message_id=10)
    assert [(c.author, c.text) for c in lines] == [
        ("Alice", "miku, what's your favourite song?")]
    assert fake.history_requests[-1][1]["before"] == "11"
    assert (lines[0].author_id, lines[0].message_id) == (ALICE, 10)
    everything = await client.fetch_context(GUILD, CHANNEL, 10)
    assert [c.text for c in everything][-1] == "anyway, dinner?"
    fake.history[THREAD] = [message_create(20, ALICE, channel_id=THREAD, content="in here")]
    assert [c.text for c in await client.fetch_context(GUILD, THREAD, 5)] == ["in here"]


async def test_typing_while_she_writes(fake: FakeDiscord, client: PersonaClient) -> None:
    """typing_for posts the typing indicator to the request's channel while held; a 403 on it
    is silent and the words still go out."""
    async with client.typing_for(request(channel_id=THREAD)):
        await fake.typing_posted.wait()
    assert fake.typing == [THREAD]
    fake.typing_posted.clear()
    fake.typing_status[CHANNEL] = (403, {"message": "Missing Permissions", "code": 50013})
    async with client.typing_for(request()):
        await fake.typing_posted.wait()
        await client.send(request(), "words anyway")
    assert fake.typing == [THREAD, CHANNEL] and len(fake.sent) == 1
    async with client.typing_for(request(channel_id=OTHER_THREAD)):
        pass  # not hers: nothing posted, no error
    assert fake.typing == [THREAD, CHANNEL]


async def test_no_send_after_the_deadline(fake: FakeDiscord, client: PersonaClient) -> None:
    """A request past its deadline is refused without a POST; a 429 longer than discord.py's
    max_ratelimit_timeout fails the send at once; a shorter 429 wait that would end after the
    deadline is cut off and the words are not posted on retry."""
    with pytest.raises(SendRejected, match="deadline passed"):
        await client.send(request(deadline=NOW - 0.5), "too late")
    assert fake.sent == []
    fake.send_status[CHANNEL] = (429, {
        "message": "You are being rate limited.", "retry_after": 3600.0, "global": False})
    with pytest.raises(SendRejected, match="rate limited") as info:
        await client.send(request(), "an hour's wait")
    assert info.value.status == 429 and len(fake.sent) == 1
    fake.send_status[CHANNEL] = (429, {
        "message": "You are being rate limited.", "retry_after": 30.0, "global": False})
    # A 30 s wait with 0.2 s left: discord.py would sleep and post again; the deadline stops it.
    with pytest.raises(SendRejected, match="deadline passed"):
        await client.send(request(deadline=NOW + 0.2), "stale soon")
    assert len(fake.sent) == 2
    assert client.statistics().deadline_passed == 2


def _typing_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "gateway-typing"]


async def test_typing_only_where_someone_waits(fake: FakeDiscord, client: PersonaClient) -> None:
    """A reply shows "typing…"; an action nobody waits for (an unprompted post, a greeting,
    joining a conversation) does not spend a request on it."""
    for action in ("break_silence", "engage_user", "join_conversation", "share_tweet"):
        async with client.typing_for(request(action=action)):
            assert _typing_tasks() == []
    async with client.typing_for(request()):
        assert len(_typing_tasks()) == 1
        await fake.typing_posted.wait()
    assert fake.typing == [CHANNEL]
