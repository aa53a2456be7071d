"""How far one process goes: gateway payloads through discord.py, the adapter, the supervisor
and a decision (run by hand; results in docs/SCALING.md).

    .venv/bin/python bench/bench_gateway.py --guilds 1000
    .venv/bin/python bench/bench_gateway.py --guilds 10000 --events 50000

What runs: a ``PersonaClient`` (discord.py's ``AutoShardedClient``) whose ``ConnectionState``
is fed dispatch payloads of the shape Discord sends (``state.parsers[t](data)``, exactly what
the shard's websocket reader calls after decoding a frame), and the whole ``Runtime``
(supervisor, actors, engine, pool with the offline backend, an in-memory store). No socket:
the JSON decoding of frames is left out of the layers (measured apart, with what discord.py
uses: ``orjson`` when installed, as it is a dependency, and stdlib ``json`` for comparison).

Three layers, each measured over the same payloads:

  discord.py   the parser alone (the adapter's handlers switched off): building the Message
               or updating the Member, its cache, its dispatch
  + adapter    the same with our handlers converting to actor events (deliver does nothing)
  + yield      the same, the reader yielding to the loop after every frame (what awaiting
               the next frame costs; deliver still does nothing)
  full path    + ``Supervisor.deliver`` -> mailbox -> actor task -> engine observe + decide
               (one wake-up per event: consecutive real events almost always go to
               different guilds)

Times are CPU seconds of this process (``time.process_time``), not wall-clock: the machine is
shared, and another process's turn on the core would otherwise count as ours. The process has
no busy threads (in-memory store, offline words), so its CPU time is the loop's work.

Guilds: N small guilds (12 members, 8 online) whose autonomous channel gets MESSAGE_CREATE from
random members, and 10 large guilds (1,000 online members each, as GUILD_CREATE lists them)
whose members' PRESENCE_UPDATEs start and stop games. Each event goes to a random guild.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord

import anyio
import anyio.lowlevel
import msgspec
import structlog

from runtime.config import Config, GuildDefaults, GuildOverride, LLMConfig, RuntimeConfig
from runtime.core import Runtime
from runtime.gateway import PersonaClient
from runtime.store import MemoryStore
from runtime.supervisor import SupervisorConfig

SELF_ID = 900
T = "2026-11-27T16:00:00.000000+00:00"
LARGE_GUILDS = 10
LARGE_MEMBERS = 1000
SMALL_MEMBERS = 12


def guild_id(i: int) -> int:
    # Real snowflakes: a timestamp in the high bits, so (id >> 22) % shard_count spreads them.
    return ((1_400_000_000_000 + i * 7919) << 22) | (i & 0x3FFFFF)


def user(uid: int) -> dict[str, Any]:
    return {"id": str(uid), "username": f"user{uid}", "discriminator": "0",
            "global_name": f"User {uid}", "avatar": "a" * 32, "public_flags": 0}


def member(uid: int) -> dict[str, Any]:
    return {"user": user(uid), "nick": None, "avatar": None, "roles": [], "joined_at": T,
            "premium_since": None, "deaf": False, "mute": False, "pending": False, "flags": 0}


def channel(cid: int, gid: int, name: str) -> dict[str, Any]:
    return {"id": str(cid), "type": 0, "guild_id": str(gid), "name": name, "position": 0,
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
            "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}


def presence(uid: int, gid: int, game: str | None) -> dict[str, Any]:
    acts = [] if game is None else [{"id": "ec0b28a579ecb4bd", "name": game, "type": 0,
                                     "created_at": 1764259200000,
                                     "timestamps": {"start": 1764259200000}}]
    return {"user": {"id": str(uid)}, "guild_id": str(gid), "status": "online",
            "activities": acts, "client_status": {"desktop": "online"}}


def guild_create(gid: int, cid: int, users: list[int], online: int) -> dict[str, Any]:
    members = [member(u) for u in users] + [member(SELF_ID)]
    return {
        "id": str(gid), "name": f"guild {gid}", "icon": None, "splash": None,
        "discovery_splash": None, "banner": None, "description": None, "owner_id": str(users[0]),
        "afk_channel_id": None, "afk_timeout": 300, "verification_level": 1,
        "default_message_notifications": 1, "explicit_content_filter": 0,
        "roles": [{"id": str(gid), "name": "@everyone", "permissions": "1071698660929",
                   "position": 0, "color": 0, "hoist": False, "managed": False,
                   "mentionable": False, "flags": 0}],
        "emojis": [], "stickers": [], "features": [], "mfa_level": 0, "application_id": None,
        "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
        "public_updates_channel_id": None, "vanity_url_code": None, "premium_tier": 0,
        "premium_subscription_count": 0, "preferred_locale": "en-US", "nsfw_level": 0,
        "premium_progress_bar_enabled": False, "max_video_channel_users": 25, "joined_at": T,
        "large": len(users) > 250, "member_count": len(members), "voice_states": [],
        "members": members, "threads": [],
        "channels": [channel(cid, gid, "miku-chat"), channel(cid + 1, gid, "general")],
        "presences": [presence(u, gid, None) for u in users[:online]],
        "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
    }


def message_create(mid: int, gid: int, cid: int, author: int) -> dict[str, Any]:
    return {
        "id": str(mid), "type": 0, "channel_id": str(cid), "guild_id": str(gid),
        "author": user(author), "member": {k: v for k, v in member(author).items() if k != "user"},
        "content": "did anyone see the new module pack? it looks amazing", "timestamp": T,
        "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
        "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "flags": 0,
        "components": [], "nonce": str(mid * 7),
    }


class World:
    """The guilds and the events of one run, made up front (payload building is not timed)."""

    def __init__(self, guilds: int, events: int, seed: int) -> None:
        rng = random.Random(seed)
        self.small = [(guild_id(i), 10_000_000 + 2 * i) for i in range(guilds)]
        self.large = [(guild_id(guilds + i), 20_000_000 + 2 * i) for i in range(LARGE_GUILDS)]
        self.members: dict[int, list[int]] = {}
        uid = 1_000_000
        for gid, _ in self.small:
            self.members[gid] = list(range(uid, uid + SMALL_MEMBERS))
            uid += SMALL_MEMBERS
        for gid, _ in self.large:
            self.members[gid] = list(range(uid, uid + LARGE_MEMBERS))
            uid += LARGE_MEMBERS
        self.creates = [guild_create(g, c, self.members[g], 8) for g, c in self.small] + \
                       [guild_create(g, c, self.members[g], LARGE_MEMBERS) for g, c in self.large]
        self.messages = []
        for i in range(events):
            g, c = self.small[rng.randrange(len(self.small))]
            self.messages.append(message_create(50_000_000 + i, g, c,
                                                rng.choice(self.members[g][:8])))
        self.presences = []
        playing: set[int] = set()
        games = ("Project DIVA Mega Mix", "Hatsune Miku: Colorful Stage!", "osu!")
        for _ in range(events):
            g, _c = self.large[rng.randrange(len(self.large))]
            u = rng.choice(self.members[g])
            game = None if u in playing else rng.choice(games)
            playing.symmetric_difference_update({u})
            self.presences.append(presence(u, g, game))

    @property
    def channels(self) -> dict[int, int]:
        return dict(self.small + self.large)


def build_config(world: World) -> Config:
    guilds = {g: GuildOverride(autonomous_channel_id=c) for g, c in world.channels.items()}
    return Config(defaults=GuildDefaults(quiet_hours=()), guilds=guilds,
                  llm=LLMConfig(queue_size=4096),
                  runtime=RuntimeConfig(snapshot_interval_s=3600.0, control_socket="unused"))


def time_parse(parser: Any, payloads: list[dict[str, Any]], copy: bool) -> float:
    """Seconds per payload of ``parser`` alone. discord.py keeps and mutates what it is
    given, so each run parses fresh dicts (as decoded from a frame); the copy is not timed."""
    fresh = [msgspec.json.decode(msgspec.json.encode(p)) for p in payloads] if copy else payloads
    t0 = time.process_time()
    for p in fresh:
        parser(p)
    return (time.process_time() - t0) / len(fresh)


async def time_yielding(parser: Any, payloads: list[dict[str, Any]], rt: Runtime | None
                        ) -> tuple[float, int]:
    """Seconds per payload, yielding to the loop after every frame as the websocket reader
    does, until every task is idle again (every actor has handled its events); and how many
    events reached the router (action results included)."""
    fresh = [msgspec.json.decode(msgspec.json.encode(p)) for p in payloads]
    sup = rt.supervisor if rt is not None else None
    delivered0 = sup.statistics().delivered if sup is not None else 0
    t0 = time.process_time()
    for p in fresh:
        parser(p)
        await anyio.lowlevel.checkpoint()
    await anyio.wait_all_tasks_blocked()
    dt = time.process_time() - t0
    delivered = sup.statistics().delivered - delivered0 if sup is not None else 0
    return dt / len(fresh), delivered


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    world = World(args.guilds, args.events, args.seed)
    config = build_config(world)
    holder: list[Runtime] = []
    sink: dict[str, Any] = {"deliver": lambda e: None}
    channels = world.channels
    client = PersonaClient(deliver=lambda e: sink["deliver"](e), channel_of=channels.get)
    state = client._connection
    state.user = discord.ClientUser(state=state, data={**user(SELF_ID), "bot": True})
    state._users[SELF_ID] = state.user  # type: ignore[assignment]

    async def sender(request: Any, text: str) -> None:
        holder.append(request)

    rss0 = rss_mb()
    rt = Runtime(config, sender=sender, store=MemoryStore(), seed=args.seed,
                 supervisor_config=SupervisorConfig(startup_grace_s=0,
                                                    snapshot_interval_s=3600.0),
                 control_socket=False)
    out: dict[str, Any] = {"guilds": args.guilds, "large_guilds": LARGE_GUILDS,
                           "events": args.events, "python": sys.version.split()[0],
                           "discord.py": discord.__version__}
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        sink["deliver"] = rt.deliver
        t0 = time.process_time()
        for g in world.creates:
            state.parsers["GUILD_CREATE"](g)
            await anyio.lowlevel.checkpoint()
        await anyio.wait_all_tasks_blocked()
        out["guild_create_s"] = round(time.process_time() - t0, 3)
        out["rss_mb_after_guilds"] = round(rss_mb() - rss0, 1)
        assert rt.supervisor is not None
        out["live_actors"] = rt.supervisor.statistics().live
        t0 = time.process_time()
        rt.metrics.exposition()
        out["metrics_scrape_ms"] = round((time.process_time() - t0) * 1000, 2)
        # Our adapter's dispatch table (PersonaClient.dispatch looks events up here);
        # discord.py's own client._handlers is its internal waiters, not ours.
        handlers = client._event_handlers
        frames = [json.dumps({"op": 0, "t": "MESSAGE_CREATE", "s": 1, "d": p})
                  for p in world.messages[:2000]]
        # What the shard's reader decodes a frame with: orjson.loads when orjson is
        # installed (a dependency), json.loads otherwise; both timed, for the comparison.
        for key, decode in (("json_decode_us_per_frame", discord.utils._from_json),
                            ("stdlib_json_decode_us_per_frame", json.loads)):
            best = float("inf")
            for _ in range(3):
                t0 = time.process_time()
                for f in frames:
                    decode(f)
                best = min(best, (time.process_time() - t0) / len(frames))
            out[key] = round(best * 1e6, 2)
        out["discord_py_uses_orjson"] = bool(getattr(discord.utils, "HAS_ORJSON", False))
        for kind, payloads, parser in (
                ("MESSAGE_CREATE", world.messages, state.parsers["MESSAGE_CREATE"]),
                ("PRESENCE_UPDATE", world.presences, state.parsers["PRESENCE_UPDATE"])):
            rows: dict[str, float] = {}
            for _ in range(args.repeat):
                gc.collect()
                client._event_handlers = {}  # discord.py alone: our dispatch finds none
                dpy = time_parse(parser, payloads, copy=True)
                client._event_handlers = handlers
                sink["deliver"] = lambda e: None
                adapter = time_parse(parser, payloads, copy=True)
                yielding, _ = await time_yielding(parser, payloads, None)
                sink["deliver"] = rt.deliver
                full, routed = await time_yielding(parser, payloads, rt)
                rows["routed_per_payload"] = routed / len(payloads)
                for key, value in (("discord_py_us", dpy), ("with_adapter_us", adapter),
                                   ("with_adapter_and_yield_us", yielding),
                                   ("full_path_us", full)):
                    rows[key] = min(rows.get(key, float("inf")), value * 1e6)
            rows["adapter_us"] = rows["with_adapter_us"] - rows["discord_py_us"]
            rows["reader_yield_us"] = rows["with_adapter_and_yield_us"] - rows["with_adapter_us"]
            rows["router_actor_decision_us"] = (rows["full_path_us"]
                                                - rows["with_adapter_and_yield_us"])
            rows["discord_py_share"] = rows["discord_py_us"] / rows["full_path_us"]
            rows["ours_share"] = 1 - rows["discord_py_share"]
            rows["events_per_s_full"] = 1e6 / rows["full_path_us"]
            rows["events_per_s_discord_py_only"] = 1e6 / rows["discord_py_us"]
            out[kind] = {k: round(v, 3 if "share" in k else 1) for k, v in rows.items()}
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            await time_yielding(state.parsers["MESSAGE_CREATE"], world.messages, rt)
            prof.disable()
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        stats = rt.supervisor.statistics()
        out["delivered"] = stats.delivered
        out["mailbox_overflow"] = stats.mailbox_overflow
        out["actions_sent"] = len(holder)
        out["rss_mb_total"] = round(rss_mb(), 1)
        rt.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guilds", type=int, default=1000)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="also profile one full-path MESSAGE_CREATE pass (to stderr)")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40),
                        cache_logger_on_first_use=True)
    print(json.dumps(anyio.run(run, args, backend="asyncio"), indent=2))


if __name__ == "__main__":
    main()
