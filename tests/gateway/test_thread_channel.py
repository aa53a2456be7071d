"""A thread as the autonomous channel survives its auto-archive: discord.py drops an archived
thread from its cache (as if deleted) and Discord leaves it out of GUILD_CREATE, but an
archived, unlocked thread is one she can still speak in: her message unarchives it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.events import ActionRequest, ChannelAccess, GuildReady
from runtime.gateway import channel_access
from tests.kit.discord_payloads import (
    CHANNEL,
    GUILD,
    THREAD,
    guild_create,
    thread_channel,
)
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import Fed, connected

NOW = 1_764_259_300.0


def thread_update(*, archived: bool, locked: bool = False) -> dict[str, Any]:
    return thread_channel(THREAD, CHANNEL, archived=archived, locked=locked)


def test_an_auto_archived_thread_is_still_hers() -> None:
    """THREAD_UPDATE archiving her thread changes nothing: she can still speak there
    (speaking unarchives it); its unarchiving (a thread_join in discord.py) neither."""
    h = Fed({GUILD: THREAD}, now=NOW)
    [ready] = h.feed("GUILD_CREATE", guild_create(GUILD))
    assert ready.can_speak
    assert h.feed("THREAD_UPDATE", thread_update(archived=True)) == []
    guild = h.client.get_guild(GUILD)
    assert guild is not None and guild.get_thread(THREAD) is None  # discord.py dropped it
    assert h.client.statistics().guilds_silent == 0
    assert h.feed("THREAD_UPDATE", thread_update(archived=False)) == []
    assert guild.get_thread(THREAD) is not None


def test_a_locked_archived_thread_is_silence_saying_why() -> None:
    """Archived and locked, only a member with Manage Threads may unarchive it: she is
    silent and says the thread is locked; deleted while archived, it is gone."""
    h = Fed({GUILD: THREAD}, now=NOW)
    h.feed("GUILD_CREATE", guild_create(GUILD))
    [lost] = h.feed("THREAD_UPDATE", thread_update(archived=True, locked=True))
    assert lost == ChannelAccess(guild_id=GUILD, at=NOW, can_speak=False,
                                 missing="Manage Threads (the thread is locked)")
    [gone] = h.feed("THREAD_DELETE", {"id": str(THREAD), "guild_id": str(GUILD),
                                      "parent_id": str(CHANNEL), "type": 11})
    assert not gone.can_speak and gone.missing.startswith("the channel (deleted")


def test_access_without_the_archived_thread_is_the_deleted_answer() -> None:
    """channel_access on its own (no archived threads known) still says a missing thread is
    deleted or hidden: what is known of archived threads is the client's to pass."""
    h = Fed({GUILD: THREAD}, now=NOW)
    h.feed("GUILD_CREATE", guild_create(GUILD))
    h.feed("THREAD_UPDATE", thread_update(archived=True))
    guild = h.client.get_guild(GUILD)
    assert guild is not None
    assert channel_access(guild, THREAD)[0] is False


def archived_at_start() -> dict[str, Any]:
    g = guild_create(GUILD)
    g["threads"] = [thread_channel(THREAD, CHANNEL, archived=True)]
    return g


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_archived_at_start_is_looked_up_and_speaking_unarchives_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """GUILD_CREATE leaves the archived thread out; she looks it up (Get Channel) and may
    speak; her message unarchives it (THREAD_UPDATE from Discord) and discord.py caches it
    again."""
    async with FakeDiscord(guilds=[archived_at_start()]) as fake, connected(
            fake, monkeypatch, channels={GUILD: THREAD}) as (client, rec):
        [ready] = await rec.wait_for(GuildReady)
        assert not ready.can_speak
        [back] = await rec.wait_for(ChannelAccess)
        assert back.can_speak
        joined = asyncio.ensure_future(client.wait_for("thread_join"))
        await client.send(ActionRequest(
            request_id=1, guild_id=GUILD, channel_id=THREAD, action="break_silence",
            mood="bubbly", decided_at=client._clock(), deadline=client._clock() + 60), "hi!")
        async with asyncio.timeout(10):
            thread = await joined
        assert thread.id == THREAD and not thread.archived
        assert [m.channel_id for m in fake.sent] == [THREAD]
        assert len(rec.of(ChannelAccess)) == 1  # unarchiving changed nothing
