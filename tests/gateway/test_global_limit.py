"""What the bot does when Discord's global limit (50 requests/s for every process of the bot)
is reached, as docs/SCALING.md says: Discord answers 429 ``global: true``; discord.py waits
``retry_after`` (holding the process's other requests) and tries again; a wait longer than
``max_ratelimit_timeout`` (60 s here) fails the send at once; and a 429 without Discord's
``Via`` header (a proxy in front of Discord that drops it) is read by discord.py as a
Cloudflare ban: the send fails at once, so a proxy must pass it through."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from actors.events import ActionRequest
from runtime.errors import SendRejected
from runtime.gateway import PersonaClient
from tests.kit.discord_payloads import CHANNEL, GUILD
from tests.kit.fake_discord import FakeDiscord

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

NOW = 150.0
POST = "POST /channels/{cid}/messages"


def request() -> ActionRequest:
    return ActionRequest(request_id=1, guild_id=GUILD, channel_id=CHANNEL,
                         action="break_silence", mood="bubbly", decided_at=100.0,
                         deadline=200.0)


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[PersonaClient]:
    client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get,
                           clock=lambda: NOW)
    try:
        await client.login("fake-token")
        yield client
    finally:
        await client.close()


async def test_a_short_global_limit_is_waited_out(fake: FakeDiscord,
                                                  client: PersonaClient) -> None:
    """A global 429 of 0.05 s: discord.py waits and posts again; the message goes once."""
    fake.global_limits.append((0.05, True))
    await client.send(request(), "hello")
    assert fake.requests[POST] == 2
    assert [m.message_id is not None for m in fake.sent] == [True]
    assert client.statistics().sent == 1


async def test_a_long_global_limit_fails_the_send_at_once(fake: FakeDiscord,
                                                          client: PersonaClient) -> None:
    """A global 429 of 10 minutes is over ``max_ratelimit_timeout``: refused at once, not
    waited for (the pool counts a failure; the engine backs off)."""
    fake.global_limits.append((600.0, True))
    with pytest.raises(SendRejected, match="rate limited for 600 s") as info:
        await client.send(request(), "hello")
    assert info.value.status == 429 and fake.requests[POST] == 1


async def test_a_429_without_via_is_a_failure(fake: FakeDiscord,
                                              client: PersonaClient) -> None:
    """A proxy that answers 429 without Discord's ``Via`` header: discord.py takes it for a
    Cloudflare ban and does not retry; the send fails with ``http 429``."""
    fake.global_limits.append((0.05, False))
    with pytest.raises(SendRejected, match="http 429"):
        await client.send(request(), "hello")
    assert fake.requests[POST] == 1
