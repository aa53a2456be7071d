"""A mention during a shard's initial guild stream is not dropped: discord.py holds every
guild's ``guild_available`` until the whole stream is in (``guild_ready_timeout`` after the
last GUILD_CREATE), but the guild's GUILD_CREATE is already parsed, so the gateway reports it
ready at its first event, and only once."""

from __future__ import annotations

import asyncio

import pytest

from actors.events import GuildReady, MessageSeen
from tests.kit.discord_payloads import ALICE, CHANNEL, GUILD, SELF_ID, guild_create, message_create
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import Fed, connected

ASYNCIO = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@pytest.mark.anyio
@ASYNCIO
async def test_a_mention_during_the_initial_stream_is_ready_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the stream still open (a long guild_ready_timeout), a mention arrives: the guild
    is reported ready before the message, so the actor takes it."""
    async with FakeDiscord() as fake, connected(fake, monkeypatch,
                                                guild_ready_timeout=60) as (_, rec):
        await fake.ready.wait()
        await fake.dispatch("MESSAGE_CREATE", message_create(
            5001, ALICE, content="<@900> hi", mentions=(SELF_ID,)))
        [seen] = await rec.wait_for(MessageSeen)
        assert seen.addresses_self
        assert [type(e) for e in rec.events] == [GuildReady, MessageSeen]


def test_the_held_guild_available_does_not_report_it_again() -> None:
    """When discord.py finally dispatches guild_available for a guild already reported at its
    first event, nothing more is delivered."""
    h = Fed({GUILD: CHANNEL})
    # The shard's stream is open: discord.py holds the guild's GUILD_CREATE.
    h.state._ready_states[0] = asyncio.Queue()  # type: ignore[attr-defined]
    assert h.feed("GUILD_CREATE", guild_create(GUILD)) == []
    events = h.feed("MESSAGE_CREATE", message_create(5001, ALICE))
    assert [type(e) for e in events] == [GuildReady, MessageSeen]
    guild = h.client.get_guild(GUILD)
    assert h.call(lambda: h.client.dispatch("guild_available", guild)) == []
