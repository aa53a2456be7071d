"""A guild is ready only on the current connection: new sessions, resumes and outages, as the
loopback Discord plays them; the shards' state is visible in the statistics and ``stats``."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from actors.events import GuildReady, GuildUnavailable, MessageSeen
from runtime.config import decode_config
from runtime.core import Runtime
from runtime.ops.control import StatsRequest
from runtime.store import MemoryStore
from tests.kit.discord_payloads import ALICE, GUILD, guild_create, message_create
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import connected

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


async def test_new_session_takes_readiness_back_until_guild_create(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """After a non-resumable INVALID_SESSION the client identifies again: the guild is
    unavailable from the new READY until its GUILD_CREATE makes it ready again."""
    async with FakeDiscord() as fake, connected(fake, monkeypatch) as (client, rec):
        await rec.wait_for(GuildReady)
        assert rec.of(GuildUnavailable) == []  # the first session takes nothing back
        await client.wait_until_ready()
        await fake.invalidate_session(resumable=False)
        await rec.wait_for(GuildReady, 2)
        kinds = [type(e).__name__ for e in rec.events]
        assert kinds == ["GuildReady", "GuildUnavailable", "GuildReady"]
        assert len(fake.identifies) == 2 and fake.resumes == []
        (shard,) = client.statistics().shards
        # shard_ready follows guild_ready_timeout after the last GUILD_CREATE.
        assert shard.state in {"connected", "ready"} and shard.last_event in {"connect", "ready"}


async def test_resume_keeps_the_guild_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    """RECONNECT then RESUME: the session goes on, nothing is taken back, events flow again."""
    async with FakeDiscord() as fake, connected(fake, monkeypatch) as (client, rec):
        await rec.wait_for(GuildReady)
        await client.wait_until_ready()  # shard_ready has come: the start-up is over
        await fake.reconnect()
        # The message can only arrive on the resumed connection, after RESUMED.
        await fake.resumed.wait()
        await fake.dispatch("MESSAGE_CREATE", message_create(9100, ALICE))
        await rec.wait_for(MessageSeen)
        assert rec.of(GuildUnavailable) == [] and len(rec.of(GuildReady)) == 1
        assert len(fake.identifies) == 1 and len(fake.resumes) == 1
        (shard,) = client.statistics().shards
        assert (shard.state, shard.last_event) == ("ready", "resumed")
        assert client.statistics().guilds_ready == 1


async def test_outage_pauses_until_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """GUILD_DELETE with unavailable gives GuildUnavailable; GUILD_CREATE unavailable=false
    gives GuildReady again."""
    async with FakeDiscord() as fake, connected(fake, monkeypatch) as (client, rec):
        await rec.wait_for(GuildReady)
        await fake.dispatch("GUILD_DELETE", {"id": str(GUILD), "unavailable": True})
        await rec.wait_for(GuildUnavailable)
        assert client.statistics().guilds_ready == 0
        await fake.dispatch("GUILD_CREATE", guild_create(GUILD, unavailable=False))
        await rec.wait_for(GuildReady, 2)
        assert client.statistics().guilds_ready == 1


async def test_stats_reply_carries_the_gateway(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """The control socket's stats reply has the gateway's counters and each shard's state and
    latency under "gateway"."""
    config = decode_config('[guilds.1000]\nautonomous_channel_id = 2000\n[runtime]\n'
                           f'control_socket = "{tmp_path / "ctl.sock"}"\n')

    async def sender(request: object, text: str) -> None:
        raise AssertionError("nothing is sent here")

    async with FakeDiscord() as fake, connected(fake, monkeypatch) as (client, rec):
        await rec.wait_for(GuildReady)
        runtime = Runtime(config, sender=sender, store=MemoryStore(), control_socket=False,
                          gateway=client)
        async with anyio.create_task_group() as tg:
            await tg.start(runtime.run)
            stats = await runtime.handle_control(StatsRequest())
            runtime.stop()
    gateway = stats["gateway"]
    assert gateway["delivered"] == 1 and gateway["guilds_ready"] == 1
    (shard,) = gateway["shards"]
    assert shard["shard_id"] == 0 and shard["state"] in {"connected", "ready"}
    assert shard["latency_s"] is None or shard["latency_s"] >= 0
