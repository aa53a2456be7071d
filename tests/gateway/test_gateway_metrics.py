"""/readyz and the per-shard gateway series follow a real discord.py client connecting to the
loopback Discord stand-in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import discord
import httpx
import pytest
import yarl
from prometheus_client.parser import text_string_to_metric_families

from actors.events import GuildReady
from runtime.config import decode_config
from runtime.core import Runtime
from runtime.gateway import PersonaClient
from runtime.store import MemoryStore
from runtime.supervisor import SupervisorConfig
from tests.kit.discord_payloads import CHANNEL, GUILD
from tests.kit.fake_discord import FakeDiscord

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


async def test_readyz_waits_for_the_shards(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """Before the gateway connects /readyz is 503 naming it; once the owned shard is ready it
    is 200 and /metrics has that shard's ready flag and latency, and no other shard."""
    shard_count = 2
    own = (GUILD >> 22) % shard_count
    async with FakeDiscord() as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                            yarl.URL(fake.gateway_url))
        ready = asyncio.Event()

        def deliver(event: object) -> None:
            rt.deliver(event)
            if isinstance(event, GuildReady):
                ready.set()

        client = PersonaClient(deliver=deliver, channel_of={GUILD: CHANNEL}.get,
                               shard_ids=[own], shard_count=shard_count,
                               guild_ready_timeout=0.05)
        config = decode_config(f'[guilds.{GUILD}]\nautonomous_channel_id = {CHANNEL}\n'
                               f'[runtime]\nmetrics_address = "127.0.0.1:0"\n'
                               f'control_socket = "{tmp_path / "ctl.sock"}"\n')

        async def sender(req: object, text: str) -> None:
            await client.send(req, text)  # type: ignore[arg-type]

        rt = Runtime(config, sender=sender, store=MemoryStore(), gateway=client,
                     supervisor_config=SupervisorConfig(gc_freeze=False))
        async with anyio.create_task_group() as tg:
            await tg.start(rt.run)
            assert rt.metrics_server is not None
            base = f"http://127.0.0.1:{rt.metrics_server.port}"
            async with httpx.AsyncClient(base_url=base) as http, asyncio.timeout(30):
                before = await http.get("/readyz")
                assert before.status_code == 503
                assert "gateway not connected" in before.text
                runner = asyncio.create_task(client.start("fake-token"))
                try:
                    await ready.wait()
                    await client.wait_until_ready()
                    after = await http.get("/readyz")
                    assert (after.status_code, after.text) == (200, "ready\n")
                    page = (await http.get("/metrics")).text
                finally:
                    await client.close()
                    await runner
                closed = await http.get("/readyz")
                assert closed.status_code == 503
            rt.stop()
    shard = {}
    for family in text_string_to_metric_families(page):
        for s in family.samples:
            if s.name.startswith("miku_gateway_") and "shard" in s.labels:
                shard[(s.name, s.labels["shard"])] = s.value
    assert shard[("miku_gateway_shard_ready", str(own))] == 1
    assert ("miku_gateway_shard_ready", str(1 - own)) not in shard
    assert shard.get(("miku_gateway_latency_seconds", str(own)), 0.0) >= 0.0
