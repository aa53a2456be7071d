"""Replay the simulator's traffic straight into the engine: actions per guild-day by
chattiness, and how well unprompted posts are timed (learned hours). Run by hand, not a test.

No runtime, no actors, no LLM: each guild's events (``runtime.simulate.traffic``, the same
traffic ``python -m runtime simulate`` replays) go through the pure engine as the actor
would use it: observe each event, rotate the mood, decide after each event and again at the
decision's ``next_at``, and record every decided action as sent at once. The guilds get the
simulator's settings (their time zones, quiet hours 1-7, rotating moods).

Printed, for the last ``--days`` days after ``--warmup`` days of the same traffic (so the
learned hours have history; the warm-up's actions are not counted):

* autonomous actions per guild-day for V1 and for V2 at chattiness 0.5 / 1 / 2 (and
  their ratio to chattiness 1);
* unprompted posts (V2: break_silence, share_tweet; V1: general, share_tweet) per guild-day,
  and the share of them after which a human speaks within 30 minutes, for V1, V2 with
  ``learn_hours = false`` and V2 with it. The traffic does not react to her, so this share
  counts posts made when people were there to read them.

Usage: .venv/bin/python bench/bench_chattiness.py [--guilds 200] [--warmup 7] [--days 7]
[--seed 1] [--learning-only]
"""

from __future__ import annotations

import argparse
import bisect
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.events import MemberJoined, MessageSeen, PresenceChanged
from engine import (
    GuildConfig,
    decide,
    decide_v1,
    new_state,
    observe_join,
    observe_message,
    observe_presence,
    record_action,
    rotate_mood,
    seed_online,
)
from runtime.simulate.traffic import START_EPOCH, GuildTraffic, generate_guild

QUIET_HOURS = (1, 7)  # as the simulator configures its guilds
SEED = 12345
UNPROMPTED = {"v2": ("break_silence", "share_tweet"), "v1": ("general", "share_tweet")}
ANSWER_WITHIN_S = 1800.0


def replay(g: GuildTraffic, cfg: GuildConfig, policy: str, count_from: float
           ) -> tuple[int, list[float]]:
    """One guild through the engine; the actions decided at or after ``count_from`` and the
    times of its unprompted posts among them."""
    state = new_state(g.plan.guild_id, g.ready.at)
    seed_online(state, g.ready.online_user_ids)
    decide_fn = decide if policy == "v2" else decide_v1
    unprompted = UNPROMPTED[policy]
    actions = 0
    posts: list[float] = []

    def consider(t: float) -> float:
        nonlocal actions
        if policy == "v2":
            rotate_mood(state, cfg, t, SEED)
        d = decide_fn(state, cfg, t, SEED)
        if d.action is None:
            nxt = d.next_at
            if policy == "v2" and state.next_rotation_at > t:
                nxt = min(nxt, state.next_rotation_at)
            return nxt
        record_action(state, t, d.action, d.target_user_id, d.target_activity)
        if t >= count_from:
            actions += 1
            if d.action in unprompted:
                posts.append(t)
        return t + cfg.min_gap_s  # the actor looks again once the gap is over

    wake = consider(g.ready.at)
    for e in g.events:
        at = e.at
        while wake <= at:
            wake = max(consider(wake), wake + 1.0)
        if isinstance(e, MessageSeen):
            observe_message(state, at, e.author_is_bot, e.is_self)
        elif isinstance(e, PresenceChanged):
            observe_presence(state, at, e.user_id, e.status, e.activity, e.is_bot, cfg)
        elif isinstance(e, MemberJoined):
            observe_join(state, at, e.user_id, e.is_bot)
        wake = min(wake, consider(at))
    return actions, posts


def answered_share(g: GuildTraffic, posts: list[float]) -> tuple[int, int]:
    """How many of ``posts`` a human message followed within 30 minutes, of how many."""
    humans = [e.at for e in g.events if isinstance(e, MessageSeen) and not e.author_is_bot]
    hit = 0
    for t in posts:
        i = bisect.bisect_right(humans, t)
        hit += i < len(humans) and humans[i] <= t + ANSWER_WITHIN_S
    return hit, len(posts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guilds", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=7.0, help="days before counting")
    parser.add_argument("--days", type=float, default=7.0, help="days counted")
    parser.add_argument("--seed", type=int, default=1, help="traffic seed")
    parser.add_argument("--learning-only", action="store_true",
                        help="only V2 with and without learn_hours")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}; "
          f"{args.guilds} simulated guilds, {args.warmup:g} days of warm-up, "
          f"{args.days:g} days counted (traffic seed {args.seed})")
    t0 = time.perf_counter()
    start = START_EPOCH
    count_from = start + args.warmup * 86400.0
    end = count_from + args.days * 86400.0
    traffic = [generate_guild(args.seed, i, start, end) for i in range(args.guilds)]
    print(f"traffic: {sum(len(g.events) for g in traffic):,} events in "
          f"{time.perf_counter() - t0:.0f} s")
    guild_days = args.guilds * args.days

    runs = [("v1", 1.0, False), ("v2", 0.5, True), ("v2", 1.0, True), ("v2", 2.0, True),
            ("v2", 1.0, False)]
    if args.learning_only:
        runs = [("v1", 1.0, False), ("v2", 1.0, True), ("v2", 1.0, False)]
    results: dict[tuple[str, float, bool], tuple[int, int, int]] = {}
    for policy, c, learn in runs:
        t1 = time.perf_counter()
        actions = hits = posts = 0
        for g in traffic:
            cfg = GuildConfig(timezone=g.plan.timezone, quiet_hours=QUIET_HOURS,
                              chattiness=c, learn_hours=learn)
            n, times = replay(g, cfg, policy, count_from)
            h, p = answered_share(g, times)
            actions, hits, posts = actions + n, hits + h, posts + p
        results[(policy, c, learn)] = (actions, hits, posts)
        print(f"  replayed {policy} c={c:g} learn_hours={learn}: "
              f"{time.perf_counter() - t1:.0f} s")
    base = results[("v2", 1.0, True)][0]
    print("autonomous actions per guild-day:")
    for key, (actions, _, _) in results.items():
        policy, c, learn = key
        label = "V1" if policy == "v1" else f"V2 chattiness {c:g}" + (
            "" if learn else ", learn_hours = false")
        ratio = f"  ({actions / base:.2f}x chattiness 1)" if policy == "v2" and learn else ""
        print(f"  {label:<36} {actions / guild_days:6.2f}{ratio}")
    print("unprompted posts, and the share a human answered within 30 min:")
    for key, label in ((("v1", 1.0, False), "V1"),
                       (("v2", 1.0, False), "V2, learn_hours = false"),
                       (("v2", 1.0, True), "V2, learn_hours = true")):
        _, hits, posts = results[key]
        share = hits / posts if posts else 0.0
        print(f"  {label:<26} {posts / guild_days:5.2f} per guild-day, {share:.1%} answered")
    _, h0, p0 = results[("v2", 1.0, False)]
    _, h1, p1 = results[("v2", 1.0, True)]
    if p0 and p1 and h0:
        print(f"learning: answered share x{(h1 / p1) / (h0 / p0):.2f} (relative), "
              f"posts x{p1 / p0:.2f}")


if __name__ == "__main__":
    main()
