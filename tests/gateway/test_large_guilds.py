"""Guilds over the large threshold: Discord sends only online members at connect; the guilds
with an autonomous channel are asked for the rest, and a member offline at connect still counts
when they come online and start a game."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest
from structlog.testing import capture_logs

from actors.events import GuildReady, PresenceChanged
from runtime.gateway import PersonaClient
from runtime.gateway.members import UncachedPresences
from tests.kit.discord_payloads import (
    ALICE,
    BOB,
    CHANNEL,
    FILLER,
    GUILD,
    SELF_ID,
    UNCONFIGURED_GUILD,
    game,
    guild_create,
    presence,
)
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import connected

#: discord.py runs on asyncio only.
on_asyncio = pytest.mark.parametrize("anyio_backend", ["asyncio"])

#: discord.py identifies with large_threshold 250: 4 members + 300 filler is a large guild.
FILLER_COUNT = 300


@pytest.mark.anyio
@on_asyncio
async def test_offline_at_connect_is_greeted_in_a_large_guild(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In a large guild GUILD_CREATE has only the online members; the guild with a channel is
    chunked (opcode 8 with presences, answered with nonce), the one without is not, and bob,
    offline at connect, coming online and starting a game becomes a PresenceChanged."""
    guilds = [guild_create(GUILD, filler=FILLER_COUNT),
              guild_create(UNCONFIGURED_GUILD, filler=FILLER_COUNT)]
    async with FakeDiscord(guilds=guilds) as fake, connected(fake, monkeypatch) as (client, rec):
        (ready,) = await rec.wait_for(GuildReady)
        assert ready.online_user_ids == (ALICE,)
        guild = client.get_guild(GUILD)
        assert guild is not None and guild.large and guild.member_count == FILLER_COUNT + 4
        await client.members_complete()
        (asked,) = fake.member_requests
        assert (asked["guild_id"], asked["query"], asked["limit"], asked["presences"]) == (
            GUILD, "", 0, True)
        assert asked["nonce"]
        assert len(guild.members) == FILLER_COUNT + 4 and guild.chunked
        other = client.get_guild(UNCONFIGURED_GUILD)
        assert other is not None and not other.chunked  # not worth the memory
        assert client.statistics().chunks.completed == 1  # type: ignore[union-attr]
        # Bob was offline at connect; the chunk made him known, so his update counts.
        await fake.dispatch("PRESENCE_UPDATE",
                            presence(BOB, "online", [game("Project DIVA Mega Mix+")]))
        (changed,) = await rec.wait_for(PresenceChanged)
        assert (changed.user_id, changed.status, changed.activity) == (
            BOB, "online", "Project DIVA Mega Mix+")
        assert client.statistics().presences_uncached == 0


@pytest.mark.anyio
@on_asyncio
async def test_uncached_members_count_without_the_members_intent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Server Members nothing is chunked, and a member discord.py never cached still
    counts from the raw update: coming online with a game once, the same game again not."""
    guilds = [guild_create(GUILD, filler=FILLER_COUNT)]
    with capture_logs() as logs:
        async with FakeDiscord(guilds=guilds) as fake, connected(
                fake, monkeypatch, members=False) as (client, rec):
            await rec.wait_for(GuildReady)
            guild = client.get_guild(GUILD)
            assert guild is not None and guild.get_member(FILLER + 7) is None
            await fake.dispatch("PRESENCE_UPDATE",
                                presence(FILLER + 7, "online", [game("osu!")]))
            await fake.dispatch("PRESENCE_UPDATE",
                                presence(FILLER + 7, "online", [game("osu!")]))
            await fake.dispatch("PRESENCE_UPDATE", presence(FILLER + 7, "idle", [game("osu!")]))
            changes = await rec.wait_for(PresenceChanged, 2)
            assert [(c.user_id, c.status, c.activity) for c in changes] == [
                (FILLER + 7, "online", "osu!"), (FILLER + 7, "idle", None)]
            assert fake.member_requests == []
            assert client.statistics().chunks is None
    offs = [e for e in logs if e["event"] == "gateway.intent_off"]
    assert [e["intent"] for e in offs] == ["members"]


@pytest.mark.anyio
@on_asyncio
async def test_without_presence_intent_only_she_is_listed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the Presence intent Discord sends only her own member: nobody is online at ready,
    and the guild is chunked (without presences) so joins and names still work."""
    async with FakeDiscord() as fake, connected(fake, monkeypatch,
                                                presences=False) as (client, rec):
        (ready,) = await rec.wait_for(GuildReady)
        assert ready.online_user_ids == ()
        await client.members_complete()
        (asked,) = fake.member_requests
        assert asked["presences"] is False
        guild = client.get_guild(GUILD)
        assert guild is not None and {m.id for m in guild.members} >= {ALICE, BOB, SELF_ID}
        assert fake.identifies[0]["intents"] & (1 << 8) == 0
        assert client.get_channel(CHANNEL) is not None


def test_uncached_memory_is_bounded_and_forgotten() -> None:
    """The memory of uncached members keeps at most its limit (oldest out first) and drops a
    guild's members at once when it is chunked or removed."""
    client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get)
    state = client._connection
    memory = UncachedPresences(limit=3)

    def raw(uid: int, guild_id: int = GUILD) -> discord.RawPresenceUpdateEvent:
        return discord.RawPresenceUpdateEvent(
            data=presence(uid, "online", [game("osu!")], guild_id=guild_id),  # type: ignore[arg-type]
            state=state)

    for uid in (1, 2, 3, 4):
        assert memory.event(raw(uid), now=1.0, is_bot=lambda u: False) is not None
    assert len(memory) == 3
    # 1 was forgotten first: seen again, it is new again; 4 is remembered: no change.
    assert memory.event(raw(1), now=2.0, is_bot=lambda u: False) is not None
    assert memory.event(raw(4), now=2.0, is_bot=lambda u: False) is None
    assert memory.event(raw(5), now=2.0, is_bot=lambda u: True) is None  # a bot
    memory.event(raw(6, UNCONFIGURED_GUILD), now=2.0, is_bot=lambda u: False)
    memory.forget_guild(GUILD)
    assert len(memory) == 1


class Timers:
    """The client's ``call_later``, recorded: the test runs a timer when it chooses."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, Any]] = []
        self.added = asyncio.Event()

    def __call__(self, delay: float, fn: Any) -> None:
        self.calls.append((delay, fn))
        self.added.set()


@pytest.mark.anyio
@on_asyncio
async def test_a_rate_limited_member_request_is_asked_again_after_retry_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Discord allows one all-members request per guild per 30 s and answers a second with a
    RATE_LIMITED event (discord.py ignores it, and the chunker waited 30 s for chunks that
    never come): the request is asked again once retry_after has passed, and then served."""
    clock = [0.0]
    timers = Timers()
    guilds = [guild_create(GUILD, filler=FILLER_COUNT)]
    async with FakeDiscord(guilds=guilds, clock=lambda: clock[0]) as fake, connected(
            fake, monkeypatch, call_later=timers) as (client, rec):
        await rec.wait_for(GuildReady)
        await client.members_complete()
        assert len(fake.member_requests) == 1
        await fake.invalidate_session(resumable=False)  # a new session: GUILD_CREATE again
        await rec.wait_for(GuildReady, 2)
        await asyncio.wait_for(timers.added.wait(), 10)
        [(delay, again)] = [(d, f) for d, f in timers.calls if d > 1]
        assert 29 <= delay <= 31
        assert fake.rate_limited == [GUILD]
        stats = client.statistics().chunks
        assert stats is not None and stats.timed_out == 0 and stats.rate_limited == 1
        clock[0] += 30
        again()
        await client.members_complete()
        guild = client.get_guild(GUILD)
        assert guild is not None and guild.chunked
        assert len(fake.member_requests) == 3
        assert client.statistics().chunks.completed == 2  # type: ignore[union-attr]
