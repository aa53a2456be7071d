"""RSS over repeated re-IDENTIFYs of one shard, with the GC guard held (issue 19, "Memory").

Run by hand (results in docs/BENCHMARKS.md, "Memory over reconnects"):

    .venv/bin/python bench/bench_reconnect_memory.py                 # thaw as the runtime does
    .venv/bin/python bench/bench_reconnect_memory.py --no-thaw       # the guard as it was

A ``PersonaClient`` connects to the loopback Discord (tests/kit/fake_discord.py) with
``--guilds`` guilds of ``--members`` members each; the stand-in then invalidates the session
``--cycles`` times (opcode 9, not resumable: a new IDENTIFY, every GUILD_CREATE again, and
discord.py drops the old Guild and Member objects, which are cyclic). The GC guard is held as
the supervisor holds it; with the thaw, ``GCGuard.thaw_if_grown`` runs after each cycle (the
supervisor runs it every minute). Printed: RSS after the first session and after each cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import warnings
from pathlib import Path

# The tests' stand-in for Discord lives in tests/kit: the repository, not the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord

import structlog
import yarl

from actors.events import GuildReady
from runtime.gateway import PersonaClient
from runtime.supervisor.gcguard import GCGuard
from tests.kit.discord_payloads import CHANNEL, guild_create
from tests.kit.fake_discord import FakeDiscord


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def main(args: argparse.Namespace) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    guilds = [guild_create(1_000_000 + i, filler=args.members) for i in range(args.guilds)]
    ready = 0
    got_all = asyncio.Event()

    def deliver(event: object) -> bool:
        nonlocal ready
        if isinstance(event, GuildReady):
            ready += 1
            if ready % args.guilds == 0:
                got_all.set()
        return True

    gc.collect()
    GCGuard.hold()
    try:
        async with FakeDiscord(guilds=guilds, max_guilds_per_shard=100_000) as fake:
            discord.http.Route.BASE = fake.api_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
            channels = {1_000_000 + i: CHANNEL for i in range(args.guilds)}
            client = PersonaClient(deliver=deliver, channel_of=channels.get,
                                   guild_ready_timeout=0.5, members=False)
            runner = asyncio.create_task(client.start("fake-token"))
            try:
                await asyncio.wait_for(got_all.wait(), 300)
                if not args.no_thaw:
                    GCGuard.thaw_if_grown()
                first = rss_mb()
                print(f"session 1: RSS {first:.1f} MB, frozen {gc.get_freeze_count():,}")
                for cycle in range(2, args.cycles + 2):
                    got_all.clear()
                    await fake.invalidate_session(resumable=False)
                    await asyncio.wait_for(got_all.wait(), 300)
                    gc.collect(1)  # what the running process's young passes do anyway
                    reclaimed = 0 if args.no_thaw else GCGuard.thaw_if_grown()
                    print(f"session {cycle}: RSS {rss_mb():.1f} MB "
                          f"({rss_mb() - first:+.1f}), frozen {gc.get_freeze_count():,}, "
                          f"thaw reclaimed {reclaimed:,}")
            finally:
                await client.close()
                await runner
    finally:
        GCGuard.release()
    print(f"thaws: {GCGuard.thaws}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--guilds", type=int, default=1500)
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--no-thaw", action="store_true")
    asyncio.run(main(p.parse_args()))
