"""Sending and fetching context through discord.py's HTTP layer, against a loopback Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from actors.events import ActionRequest
from runtime.errors import SendRejected
from runtime.gateway import MAX_MESSAGE_CHARS, PersonaClient
from tests.kit.discord_payloads import ALICE, CHANNEL, GUILD, OTHER_CHANNEL, SELF_ID, message_create
from tests.kit.fake_discord import FakeDiscord

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

TOKEN = "test-token-not-real"
#: The client's clock: requests decided at 100 with a deadline at 200 are in time.
NOW = 150.0


def request(**kw: Any) -> ActionRequest:
    fields: dict[str, Any] = dict(request_id=1, guild_id=GUILD, channel_id=CHANNEL,
                                  action="break_silence", mood="bubbly", decided_at=100.0,
                                  deadline=200.0)
    fields.update(kw)
    return ActionRequest(**fields)


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[PersonaClient]:
    client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get,
                           clock=lambda: NOW)
    try:
        await client.login(TOKEN)
        yield client
    finally:
        await client.close()


async def test_send_disables_every_mention(fake: FakeDiscord, client: PersonaClient) -> None:
    """The POST carries allowed_mentions with parse [] (no @everyone, no pings)."""
    await client.send(request(), "hello @everyone, <@11>!")
    (sent,) = fake.sent
    assert sent.channel_id == CHANNEL
    assert sent.authorization == f"Bot {TOKEN}"
    assert sent.body["content"] == "hello @everyone, <@11>!"
    # Discord reads an absent replied_user as false.
    assert sent.body["allowed_mentions"] == {"parse": []}
    assert "message_reference" not in sent.body
    assert client.statistics().sent == 1


async def test_reply_carries_the_reference(fake: FakeDiscord, client: PersonaClient) -> None:
    """A reply references the message she answers (failing, not posting unanchored, if it
    is gone), and still pings nobody."""
    fake.history[CHANNEL] = [message_create(5001, ALICE, content="miku?")]
    await client.send(request(action="reply", priority=0, reply_to_message_id=5001,
                              target_user_id=ALICE), "hi!")
    body = fake.sent[0].body
    assert body["message_reference"]["message_id"] == 5001
    assert body["message_reference"]["fail_if_not_exists"] is True
    assert body["allowed_mentions"] == {"parse": []}


async def test_long_text_is_cut_to_discords_limit(fake: FakeDiscord,
                                                  client: PersonaClient) -> None:
    """Text past 2,000 characters is cut rather than refused by Discord."""
    await client.send(request(), "la" * 1500)
    assert len(fake.sent[0].body["content"]) == MAX_MESSAGE_CHARS


async def test_forbidden_is_logged_and_rejected(fake: FakeDiscord,
                                                client: PersonaClient) -> None:
    """A 403 (missing permission) is logged with ids and status and raised as SendRejected;
    the text never reaches the log."""
    fake.send_status[CHANNEL] = (403, {"message": "Missing Permissions", "code": 50013})
    with capture_logs() as logs, pytest.raises(SendRejected) as info:
        await client.send(request(), "secret words")
    assert info.value.status == 403
    assert info.value.reason == "forbidden (403, code 50013)"
    (entry,) = [e for e in logs if e["event"] == "send.forbidden"]
    assert entry["guild_id"] == GUILD and entry["channel_id"] == CHANNEL
    assert entry["log_level"] == "warning"
    assert "secret words" not in repr(logs)
    assert client.statistics().send_rejected == 1


async def test_only_the_autonomous_channel(fake: FakeDiscord, client: PersonaClient) -> None:
    """A request for another channel is refused without touching Discord."""
    with pytest.raises(SendRejected, match="autonomous channel"):
        await client.send(request(channel_id=OTHER_CHANNEL), "hi")
    with pytest.raises(SendRejected, match="empty"):
        await client.send(request(), "   ")
    assert fake.sent == []


async def test_fetch_context_oldest_first(fake: FakeDiscord, client: PersonaClient) -> None:
    """History comes back oldest first, with display names and her own lines marked."""
    fake.history[CHANNEL] = [  # Discord returns newest first
        message_create(3, SELF_ID, content="yes!"),
        message_create(2, ALICE, content="miku, you there?"),
        message_create(1, ALICE, content=""),
    ]
    lines = await client.fetch_context(GUILD, CHANNEL, 10)
    assert [(c.author, c.text, c.is_self) for c in lines] == [
        ("Alice", "miku, you there?", False), ("Miku", "yes!", True)]
    assert await client.fetch_context(GUILD, OTHER_CHANNEL, 10) == []


async def test_fetch_context_forbidden_is_empty(fake: FakeDiscord,
                                                client: PersonaClient) -> None:
    """When Discord refuses the history, the context is empty (logged), not an error."""
    fake.send_status[CHANNEL] = (403, {"message": "Missing Access", "code": 50001})
    with capture_logs() as logs:
        assert await client.fetch_context(GUILD, CHANNEL, 10) == []
    assert [e["event"] for e in logs] == ["context.unavailable"]


async def test_markdown_that_would_change_the_message_is_neutralised(
        fake: FakeDiscord, client: PersonaClient) -> None:
    """Her words are posted as she wrote them: a line starting with a heading or subtext
    marker, or a code fence, is escaped so Discord shows the characters, not a giant heading,
    small grey text or a code block; ordinary punctuation is left alone."""
    await client.send(request(), "# hi!\n## also\n-# psst\n```py\nx```\nso - yes #1 > 2")
    assert fake.sent[0].body["content"] == (
        "\\# hi!\n\\## also\n\\-# psst\n\\`\\`\\`py\nx\\`\\`\\`\nso - yes #1 > 2")


async def test_spoilers_in_the_context_stay_hidden(fake: FakeDiscord,
                                                   client: PersonaClient) -> None:
    """What someone wrote behind a spoiler is "[spoiler]" in her context: she cannot repeat
    it unspoilered."""
    fake.history[CHANNEL] = [message_create(
        1, ALICE, content="the ending: ||she was the robot all along|| wow")]
    [line] = await client.fetch_context(GUILD, CHANNEL, 10)
    assert line.text == "the ending: [spoiler] wow"
