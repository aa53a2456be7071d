"""Discord REST requests per action, by action and by request (run by hand; results in
docs/SCALING.md, "Where the limits are").

    .venv/bin/python bench/bench_rest_budget.py
    .venv/bin/python bench/bench_rest_budget.py --actions 50 --llm-delay 12

What runs: the loopback stand-in for Discord (``tests/kit/fake_discord.py``: REST and
gateway), a ``PersonaClient`` connected to it (READY, GUILD_CREATE, so her access is known),
and the LLM pool with the offline persona wired as the runtime wires it (the client's
``send``, ``fetch_context``, ``typing_for``, ``display_name``), standing in for a model (a
``react`` therefore takes the model's path: the one message read, then the reaction). For
each action the engine takes, ``--actions`` requests are submitted one after another; every
REST request the stand-in receives is counted by route. ``--llm-delay`` makes each answer
take that long (a real model takes seconds: the typing indicator is renewed every 8 s while
it writes).

The weighted line uses the simulator's action mix (``python -m runtime simulate --guilds 100
--seed 1``: actions per guild-day by kind) to give requests per active guild-day, and what
Discord's global 50 requests/s then allows.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord

import structlog
import yarl

from actors.events import ActionFinished, ActionRequest
from runtime.gateway import PersonaClient
from runtime.pool import LLMPool, OfflineBackend
from runtime.pool.models import FeedItem
from tests.kit.discord_payloads import ALICE, CHANNEL, GUILD, guild_create, message_create
from tests.kit.fake_discord import FakeDiscord

#: Actions per guild-day by kind, from the simulator (``python -m runtime simulate``: 100
#: guilds, seed 1; re-run 2026-12-07 with round 3 merged, ``react`` included).
SIMULATOR_MIX = {"join_conversation": 7.01, "engage_user": 5.22, "reply": 5.63,
                 "fomo_response": 3.92, "break_silence": 1.17, "share_tweet": 1.15,
                 "react": 3.09}
GLOBAL_LIMIT = 50  # requests/s per bot token, all processes together


class SlowWords:
    """The offline persona, answering after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.inner = OfflineBackend(None, seed=1)
        self.delay = delay

    async def generate(self, prompt: Any) -> Any:
        if self.delay:
            await asyncio.sleep(self.delay)
        if prompt.action == "react":
            return "✨"  # as a model answers: one emoji of the mood's set
        return await self.inner.generate(prompt)


class Items:
    """One feed item, always: share_tweet gets words to share."""

    def __init__(self) -> None:
        self.n = 0

    def pick(self, guild_id: int) -> FeedItem:
        self.n += 1
        return FeedItem(id=str(self.n), title="Miku Expo 2026 announced",
                        url="https://example.com/expo")


async def measure(n: int, delay: float) -> dict[str, dict[str, float]]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    out: dict[str, dict[str, float]] = {}
    async with FakeDiscord(guilds=[guild_create(GUILD)]) as fake:
        discord.http.Route.BASE = fake.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
        client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get,
                               shard_count=1, guild_ready_timeout=0.01)
        runner = asyncio.create_task(client.start("bench-token"))
        await asyncio.wait_for(client.wait_until_ready(), 30)
        finished: asyncio.Queue[ActionFinished] = asyncio.Queue()
        async with LLMPool(SlowWords(delay), workers=1, deliver=finished.put_nowait,
                           sender=client.send, context=client.fetch_context,
                           typing=client.typing_for, names=client.display_name,
                           items=Items(), seed=1) as pool:
            ids = iter(range(1, 1_000_000))
            mid = 10_000
            for action in SIMULATOR_MIX:
                fake.requests.clear()
                outcomes: collections.Counter[str] = collections.Counter()
                for _ in range(n):
                    mid += 1
                    # The channel has something said, and a line that spoke to her.
                    await fake.dispatch("MESSAGE_CREATE", message_create(
                        mid, ALICE, content="miku, what do you think?"))
                    now = time.time()
                    pool.submit(ActionRequest(
                        request_id=next(ids), guild_id=GUILD, channel_id=CHANNEL,
                        action=action, mood="bubbly", decided_at=now,  # type: ignore[arg-type]
                        deadline=now + 120, priority=0 if action == "reply" else 1,
                        target_user_id=ALICE if action in ("reply", "engage_user", "react")
                        else None,
                        target_activity="Project DIVA" if action == "engage_user" else None,
                        reply_to_message_id=mid if action == "reply" else None,
                        target_message_id=mid if action == "react" else None))
                    done = await asyncio.wait_for(finished.get(), 60 + 2 * delay)
                    outcomes[done.outcome] += 1
                counts = {k: v / n for k, v in sorted(fake.requests.items())}
                counts["total"] = sum(fake.requests.values()) / n
                out[action] = counts
                if outcomes["sent"] != n:
                    print(f"{action}: {dict(outcomes)}", file=sys.stderr)
        await client.close()
        await runner
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=20, help="requests per action kind")
    parser.add_argument("--llm-delay", type=float, default=0.0,
                        help="seconds each answer takes (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    result = asyncio.run(measure(args.actions, args.llm_delay))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    routes = sorted({r for counts in result.values() for r in counts if r != "total"})
    print(f"requests per action (n={args.actions}, LLM delay {args.llm_delay:g} s)")
    print(f"{'action':18} " + " ".join(f"{r:>34}" for r in routes) + f" {'total':>6}")
    for action, counts in result.items():
        print(f"{action:18} " + " ".join(f"{counts.get(r, 0):34.2f}" for r in routes)
              + f" {counts['total']:6.2f}")
    per_day = sum(SIMULATOR_MIX[a] * result[a]["total"] for a in SIMULATOR_MIX)
    actions = sum(SIMULATOR_MIX.values())
    print(f"simulator mix: {per_day:.1f} requests per active guild-day "
          f"({per_day / actions:.2f} per action); at {GLOBAL_LIMIT}/s: "
          f"{GLOBAL_LIMIT * 86_400 / per_day:,.0f} active guilds")


if __name__ == "__main__":
    main()
