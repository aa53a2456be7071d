"""Two real ``python -m runtime run`` processes, shards 0 and 1 of 2, sharing one real
PostgreSQL, against the Discord stand-in: every mention is answered exactly once, and a shard
moved to the other process goes on from its stored state; the two starting together sync
the command tree once between them (the hash kept in the store), and a later start with the
same tree does not sync it again; their IDENTIFYs are paced through the store (the stand-in
refuses two within 5 s, as Discord does with max_concurrency 1).

Needs: the PostgreSQL store (``[store] url``, shard leases; branch store), a process running
only its own shards' guilds (branch core), and the stand-in routing each guild's events to the
connection of the shard that owns it (``FakeDiscord.dispatch_to_owner``). Skips naming what is
missing. Each process serves its metrics, scraped to see it holds only its own guilds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.config import StoreConfig
from runtime.ops.control import request
from tests.kit.discord_payloads import (
    ALICE,
    BOB,
    SELF_ID,
    guild_create,
    message_create,
    text_channel,
)
from tests.kit.fake_discord import FakeDiscord
from tests.kit.fake_interactions import FakeCommands
from tests.kit.run_process import BotProcess

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

SHARDS = 2
#: Two guilds per shard: (n << 22) + 5 is on shard n % 2.
GUILDS = [(n << 22) + 5 for n in (1000, 1001, 1002, 1003)]
START_S = 60.0


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % SHARDS


def channel_of(guild_id: int) -> int:
    return guild_id + 1


def guild(guild_id: int) -> dict[str, Any]:
    """The stand-in's GUILD_CREATE for one test guild, with channels of its own."""
    d = guild_create(guild_id)
    d["channels"] = [text_channel(channel_of(guild_id), "miku-chat", guild_id),
                     text_channel(guild_id + 2, "general", guild_id)]
    return d


def missing() -> str | None:
    """What the test cannot run without, or None."""
    if "url" not in StoreConfig.__struct_fields__:
        return "[store] url and the PostgreSQL store (branch store)"
    if not hasattr(FakeDiscord, "dispatch_to_owner"):
        return "FakeDiscord.dispatch_to_owner: events routed to the owning shard's connection"
    return None


class Bot(BotProcess):
    """One ``python -m runtime run`` subprocess (``tests.kit.run_process``), and its
    /metrics."""

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Its /metrics now (the port it logged as ``metrics.serving``)."""
        await self.wait_for("metrics.serving")
        port = self.events("metrics.serving")[0]["port"]
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}


def write_config(path: Path, fake: FakeDiscord, store_url: str, shard_ids: list[int]) -> Path:
    guilds = "".join(f"[guilds.{g}]\nautonomous_channel_id = {channel_of(g)}\n" for g in GUILDS)
    path.write_text(f"""
[defaults]
quiet_hours = []
rotate_moods = false
{guilds}
[discord]
shard_ids = {shard_ids}
shard_count = {SHARDS}
api_base_url = "{fake.api_base}"
gateway_url = "{fake.gateway_url}"
[store]
url = "{store_url}"
[runtime]
control_socket = "{path.with_suffix(".sock")}"
shutdown_timeout_s = 5
reply_cooldown_s = 0
log_level = "info"
metrics_address = "127.0.0.1:0"
""")
    return path



def replies(fake: FakeDiscord) -> dict[int, list[int]]:
    """Message ids each posted reply answers, per channel."""
    out: dict[int, list[int]] = {}
    for m in fake.sent:
        ref = (m.body.get("message_reference") or {}).get("message_id")
        out.setdefault(m.channel_id, []).append(int(ref) if ref else 0)
    return out


async def wait_replies(fake: FakeDiscord, n: int) -> None:
    async with asyncio.timeout(START_S):
        while len(fake.sent) < n:
            fake.message_posted.clear()
            await fake.message_posted.wait()


async def control(bot: Bot, req: dict[str, Any]) -> Any:
    return await anyio.to_thread.run_sync(request, str(bot.config.with_suffix(".sock")), req)


async def appeared(bot: Bot, guild_id: int) -> float:
    """The guild's last appearance (her reply) once its result has reached the actor: the
    post is seen by the stand-in a moment before the pool reports it back."""
    async with asyncio.timeout(START_S):
        while True:
            detail = await control(bot, {"type": "guild", "guild_id": guild_id})
            if detail["state"]["last_appearance_at"] > 0:
                return float(detail["state"]["last_appearance_at"])
            await asyncio.sleep(0.05)  # another process: nothing to wait on from here


def ready_line(guild_id: int) -> Callable[[str], bool]:
    return lambda line: "gateway.guild_ready" in line and str(guild_id) in line


async def test_two_shard_processes_answer_once_and_hand_a_shard_over(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Shards 0 and 1 in two processes: each mention gets exactly one reply, from the process
    of its guild's shard. Then process 1 stops, process 0 restarts with both shards, and the
    guilds of shard 1 carry on from the state process 1 stored (mood, last reply)."""
    reason = missing()
    if reason is not None:
        pytest.skip(f"needs {reason}")
    url = request.getfixturevalue("store_url")
    routes = FakeCommands()
    async with FakeDiscord(guilds=[guild(g) for g in GUILDS], mounts=(routes.mount,)) as fake:
        bots = [Bot(f"shard-{i}", write_config(tmp_path / f"shard-{i}.toml", fake, url, [i]))
                for i in range(SHARDS)]
        try:
            for bot in bots:
                await bot.start()
            for g in GUILDS:
                await bots[shard_of(g)].wait_for(ready_line(g))
            # Both started together with a tree the store had not seen: one synced it (each
            # decides before it connects), the other was told by the store.
            assert len(routes.syncs) == 1
            # and identified at least 5 s apart (paced through the store): none refused.
            assert fake.identify_refused == [] and len(fake.identified_at) == 2
            assert fake.identified_at[1][1] - fake.identified_at[0][1] >= 5.0
            assert sum(any("commands.synced_elsewhere" in line for line in bot.lines)
                       for bot in bots) == 1
            mentions = {}
            for k, g in enumerate(GUILDS):
                mid = 9_000_000 + k
                mentions[channel_of(g)] = [mid]
                await fake.dispatch_to_owner("MESSAGE_CREATE", message_create(
                    mid, ALICE, channel_id=channel_of(g), guild_id=g, mentions=(SELF_ID,)))
            await wait_replies(fake, len(GUILDS))
            for i, bot in enumerate(bots):  # each process shows its own guilds only
                m = await bot.metrics()
                assert m[("miku_guilds", (("state", "ready"),))] == 2
                assert m[("miku_decisions_total", (("action", "reply"), ("policy", "v2")))] == 2
                assert m[("miku_supervisor_refused_other_shard_total", ())] == 0, i
            moved = [g for g in GUILDS if shard_of(g) == 1]
            before = {}
            for g in moved:
                await control(bots[1], {"type": "set_mood", "guild_id": g, "mood": "shy"})
                before[g] = await appeared(bots[1], g)
            assert (await bots[1].stop())[0] == 0
            assert (await bots[0].stop())[0] == 0
            assert replies(fake) == mentions  # exactly once each, none twice, none lost

            both = Bot("shards-0-1", write_config(tmp_path / "both.toml", fake, url, [0, 1]))
            bots.append(both)
            await both.start()
            for g in GUILDS:
                await both.wait_for(ready_line(g))
            assert len(routes.syncs) == 1  # the same tree: synced already
            assert (await both.metrics())[("miku_guilds", (("state", "ready"),))] == 4
            for g in moved:
                after = await control(both, {"type": "guild", "guild_id": g})
                assert after["mood"] == "shy"
                assert after["state"]["last_appearance_at"] == before[g]
            g = moved[0]
            await fake.dispatch_to_owner("MESSAGE_CREATE", message_create(
                9_100_000, BOB, channel_id=channel_of(g), guild_id=g, mentions=(SELF_ID,)))
            await wait_replies(fake, len(GUILDS) + 1)
            assert (await both.stop())[0] == 0
            mentions[channel_of(g)].append(9_100_000)
            assert replies(fake) == mentions
        finally:
            for bot in bots:
                await bot.kill()
