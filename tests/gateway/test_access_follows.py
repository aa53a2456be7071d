"""Her access follows the channel setting and ends with a timeout: a guild that gets its
channel after it became ready (``/miku channel``, a reload) is tracked from then on, and a
timeout (which discord.py masks into missing permissions, and whose end Discord sends no
event for) is named as such and checked again when it ends."""

from __future__ import annotations

import datetime
from typing import Any

import aiohttp
import discord
import pytest

from actors.events import ActionRequest, ChannelAccess, GuildReady, MessageSeen
from runtime.errors import SendRejected
from tests.kit.discord_payloads import (
    ALICE,
    CHANNEL,
    GUILD,
    OTHER_CHANNEL,
    SELF_ID,
    SEND_MESSAGES,
    deny,
    guild_create,
    member,
    message_create,
    text_channel,
)
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import Fed, connected

NOW = 1_764_259_300.0
EVERYONE = GUILD


def denied_other() -> dict[str, Any]:
    g = guild_create(GUILD)
    for ch in g["channels"]:
        if ch["id"] == str(OTHER_CHANNEL):
            ch["permission_overwrites"] = [deny(EVERYONE, SEND_MESSAGES)]
    return g


def test_a_channel_set_after_ready_is_tracked_and_a_fixed_overwrite_noticed() -> None:
    """No channel at GUILD_CREATE; an admin names one where she cannot send: the guild is
    ready from then on, silent, and when the overwrite is fixed she may speak again; a
    permission lost later is noticed too."""
    h = Fed(now=NOW)
    assert h.feed("GUILD_CREATE", denied_other()) == []
    h.channels[GUILD] = OTHER_CHANNEL
    [ready] = h.call(lambda: h.client.channel_changed(GUILD))
    assert isinstance(ready, GuildReady) and not ready.can_speak
    assert ready.missing == "Send Messages"
    fixed = text_channel(OTHER_CHANNEL, "general", GUILD)
    assert h.feed("CHANNEL_UPDATE", fixed) == [
        ChannelAccess(guild_id=GUILD, at=NOW, can_speak=True)]
    lost = text_channel(OTHER_CHANNEL, "general", GUILD,
                        overwrites=[deny(EVERYONE, SEND_MESSAGES)])
    assert h.feed("CHANNEL_UPDATE", lost) == [
        ChannelAccess(guild_id=GUILD, at=NOW, can_speak=False, missing="Send Messages")]
    assert h.client.statistics().guilds_ready == 1


def test_a_channel_from_a_reload_is_ready_at_the_guilds_next_event() -> None:
    """A channel that appears without a command (SIGHUP): the first message of the guild
    makes it ready first, so a mention is not dropped as "not ready"."""
    h = Fed(now=NOW)
    h.feed("GUILD_CREATE", guild_create(GUILD))
    h.channels[GUILD] = CHANNEL
    events = h.feed("MESSAGE_CREATE", message_create(5001, ALICE, content="<@900> hi",
                                                     mentions=(SELF_ID,)))
    assert [type(e) for e in events] == [GuildReady, MessageSeen]
    assert events[1].addresses_self
    assert [type(e) for e in h.feed("MESSAGE_CREATE", message_create(5002, ALICE))] == [
        MessageSeen]


def test_a_cleared_channel_is_no_longer_tracked() -> None:
    """Clearing the channel forgets the guild's access: no ChannelAccess for a channel she
    no longer has, and a new channel later is a new ready."""
    h = Fed({GUILD: CHANNEL}, now=NOW)
    h.feed("GUILD_CREATE", guild_create(GUILD))
    del h.channels[GUILD]
    assert h.call(lambda: h.client.channel_changed(GUILD)) == []
    assert h.client.statistics().guilds_ready == 0
    assert h.feed("CHANNEL_UPDATE", text_channel(CHANNEL, "miku-chat", GUILD,
                                                 overwrites=[deny(EVERYONE, SEND_MESSAGES)])
                  ) == []


class UtcNow:
    """discord.py's clock (``discord.utils.utcnow``), which ``Member.is_timed_out`` reads."""

    def __init__(self) -> None:
        self.now = datetime.datetime.fromtimestamp(NOW, datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now


def test_a_timeout_is_named_and_rechecked_when_it_ends(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    """A moderator times her out: she is silent "timed out until ..." (not "missing Send
    Messages" forever); a recheck is set for the end; at the end she may speak again."""
    clock = UtcNow()
    monkeypatch.setattr(discord.utils, "utcnow", clock)
    h = Fed({GUILD: CHANNEL}, now=NOW)
    h.feed("GUILD_CREATE", guild_create(GUILD))
    until = clock.now + datetime.timedelta(minutes=10)
    timed_out = {**member(SELF_ID, (3000,)), "guild_id": str(GUILD),
                 "communication_disabled_until": until.isoformat()}
    [lost] = h.feed("GUILD_MEMBER_UPDATE", timed_out)
    assert isinstance(lost, ChannelAccess) and not lost.can_speak
    assert lost.missing == "Send Messages (she is timed out until 2025-11-27 16:11 UTC)"
    [(delay, recheck)] = h.timers
    assert 600.0 <= delay <= 602.0
    clock.now = until + datetime.timedelta(seconds=1)
    assert h.call(recheck) == [ChannelAccess(guild_id=GUILD, at=NOW, can_speak=True)]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_timed_out_on_the_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the stand-in times her out (her member updated, her sends refused 403 as
    Discord does); the client reports the timeout and refuses the send itself, so Discord
    never sees it; the end is awaited on the loop."""
    async with FakeDiscord() as fake, connected(fake, monkeypatch) as (client, rec):
        await rec.wait_for(GuildReady)
        until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
        await fake.time_out_self(GUILD, until.isoformat())
        [lost] = await rec.wait_for(ChannelAccess)
        assert not lost.can_speak and "timed out until" in lost.missing
        now = client._clock()
        with pytest.raises(SendRejected, match="timed out until"):
            await client.send(ActionRequest(
                request_id=1, guild_id=GUILD, channel_id=CHANNEL, action="break_silence",
                mood="bubbly", decided_at=now, deadline=now + 60), "hi")
        assert fake.sent == []
        async with aiohttp.ClientSession() as http, http.post(
                f"{fake.api_base}/channels/{CHANNEL}/messages", json={"content": "x"},
                headers={"Authorization": "Bot x"}) as r:
            assert (r.status, (await r.json())["code"]) == (403, 50013)
