"""Tone episodes in the simulated traffic (``--tone-episodes``, ``--compare-tone``), and the
report's ``tone`` part.

An *episode* is a stretch when a guild's room feels bad while the conversation goes on:

- ``sad`` (a sad announcement): it starts at a human message (the announcement); 6 to 16
  people react to it over the next 5 to 40 minutes with sad emoji (😢 😭 💔 😔 😞), each
  scored by the gateway's table (``runtime.gateway.reactions.emoji_value``) as a real
  reaction would be.
- ``argument``: it starts at a human message; over the next 10 to 40 minutes 3 to 8 angry
  reactions (😠 😡 👎 😤), a moderator deleting 2 to 6 of the messages (by their ids), and
  with a chance of 0.6 a member timed out for 10 minutes to an hour.

An episode lasts from its first signal (before it nothing content-free tells the room from
any other) to 30 minutes after its last (``AFTER_S``): the time in which a playful post
would land badly. Episodes are drawn per guild, ``EPISODES_PER_DAY``
(0.5) per guild-day on average, at human messages (so there is conversation), from their own
stream of the seed (``miku-tone:{seed}:{guild}``): the base traffic is the same with or
without them, and V1 and V2 (and tone on and off) see the same episodes. The reactive
people (``people``) answer her less in an episode, a playful post least.

Report (``tone_report``): per run, her shares and silence-breakers (V1: and its timer posts)
posted during an episode,
her joins (``join_conversation``, ``fomo_response``) during one, and the share of her
actions answered (``--reactive``); V2 beside V1, and V2 with ``tone = false`` beside it
(``--compare-tone``).
"""

from __future__ import annotations

import bisect
import math
import random
from typing import Any

import msgspec

from actors.events import MemberTimedOut, MessagesDeleted, MessageSeen, ReactionChanged
from runtime.gateway.reactions import emoji_key, emoji_value
from runtime.simulate.traffic import GuildTraffic, Traffic, on_grid

__all__ = [
    "AFTER_S",
    "EPISODES_PER_DAY",
    "Episode",
    "add_tone_episodes",
    "in_episode",
    "tone_report",
]

EPISODES_PER_DAY = 0.5
AFTER_S = 1800.0
SAD = ("😢", "😭", "💔", "😔", "😞")
ANGRY = ("😠", "😡", "👎", "😤")
#: The actions that are playful posts (V1's timer post, ``general``, is one too), and those
#: that join a conversation.
PLAYFUL = ("share_tweet", "break_silence", "general")
JOINS = ("join_conversation", "fomo_response")


class Episode(msgspec.Struct, frozen=True):
    """A guild's room feels bad from ``start`` to ``end``."""

    guild_id: int
    kind: str
    start: float
    end: float


def _episodes(g: GuildTraffic, seed: int, start: float, end: float,
              per_day: float) -> tuple[list[Episode], list[Any]]:
    rng = random.Random(f"miku-tone:{seed}:{g.plan.index}")
    plan = g.plan
    humans = [e for e in g.events if type(e) is MessageSeen and not e.author_is_bot
              and not e.is_self]
    if not humans:
        return [], []
    n = sum(1 for _ in range(max(1, round((end - start) / 86400.0 * 20)))
            if rng.random() < per_day / 20)
    episodes: list[Episode] = []
    events: list[Any] = []
    people = list(plan.humans)
    times = [m.at for m in humans]
    taken_until = -math.inf
    for at in sorted(rng.uniform(start, end) for _ in range(n)):
        i = bisect.bisect_left(times, at)
        if i >= len(humans) or humans[i].at < taken_until:
            continue
        first = humans[i]
        t0 = first.at
        kind = "sad" if rng.random() < 0.5 else "argument"
        signals: list[Any] = []
        if kind == "sad":
            for uid in rng.sample(people, min(len(people), rng.randint(6, 16))):
                t = on_grid(t0 + rng.uniform(5.0, rng.uniform(300.0, 2400.0)))
                name = SAD[rng.randrange(len(SAD))]
                signals.append(ReactionChanged(plan.guild_id, plan.channel_id, uid,
                                               first.message_id, emoji_key(None, name),
                                               emoji_value(None, name), t))
        else:
            span = rng.uniform(600.0, 2400.0)
            window = [m for m in humans[i:] if m.at < t0 + span]
            for _ in range(rng.randint(3, 8)):
                m = window[rng.randrange(len(window))]
                uid = people[rng.randrange(len(people))]
                name = ANGRY[rng.randrange(len(ANGRY))]
                signals.append(ReactionChanged(plan.guild_id, plan.channel_id, uid,
                                               m.message_id, emoji_key(None, name),
                                               emoji_value(None, name),
                                               on_grid(m.at + rng.uniform(2.0, 120.0))))
            gone = rng.sample(window, min(len(window), rng.randint(2, 6)))
            signals.append(MessagesDeleted(plan.guild_id, plan.channel_id,
                                           tuple(sorted(m.message_id for m in gone)),
                                           on_grid(max(m.at for m in gone)
                                                   + rng.uniform(30.0, 300.0))))
            if rng.random() < 0.6:
                t = on_grid(t0 + rng.uniform(60.0, span))
                signals.append(MemberTimedOut(plan.guild_id, people[rng.randrange(
                    len(people))], t + rng.uniform(600.0, 3600.0), t))
        signals = [s for s in signals if s.at < end]
        if not signals:
            continue
        first_at, last = min(s.at for s in signals), max(s.at for s in signals)
        episodes.append(Episode(plan.guild_id, kind, first_at, last + AFTER_S))
        taken_until = last + AFTER_S
        events.extend(signals)
    return episodes, events


def add_tone_episodes(traffic: Traffic, per_day: float = EPISODES_PER_DAY) -> Traffic:
    """The same traffic with tone episodes added to every guild (``GuildTraffic.episodes``
    says when each was)."""
    guilds = []
    for g in traffic.guilds:
        episodes, events = _episodes(g, traffic.seed, traffic.start, traffic.end, per_day)
        merged = sorted([*g.events, *events], key=lambda e: e.at)
        guilds.append(GuildTraffic(g.plan, g.ready, merged, episodes))
    return Traffic(traffic.seed, traffic.start, traffic.end, guilds)


def in_episode(episodes: list[Episode], t: float) -> bool:
    """``t`` falls in one of ``episodes``."""
    return any(e.start <= t < e.end for e in episodes)


def _run_figures(traffic: Traffic, result: Any, answered: dict[str, Any] | None
                 ) -> dict[str, Any]:
    by_guild = {g.plan.guild_id: g.episodes for g in traffic.guilds}
    playful = joins = 0
    for r in result.sent:
        if r.priority <= 0:
            continue
        eps = by_guild.get(r.guild_id) or []
        if not in_episode(eps, r.at):
            continue
        if r.action in PLAYFUL:
            playful += 1
        elif r.action in JOINS:
            joins += 1
    out: dict[str, Any] = {"playful_in_episodes": playful, "joins_in_episodes": joins}
    if answered is not None:
        out["answered_30m_share"] = answered.get("answered_30m_share")
        out["answered_10m_share"] = answered.get("answered_10m_share")
    return out


def tone_report(traffic: Traffic, v2: Any, v1: Any | None, tone_off: Any | None,
                reactive: bool) -> dict[str, Any]:
    """``{"episodes", "episode_hours", "v2", "v1", "v2_tone_off"}``."""
    from runtime.simulate.answered import answered_report

    episodes = [e for g in traffic.guilds for e in g.episodes]

    def figures(r: Any) -> dict[str, Any] | None:
        if r is None:
            return None
        return _run_figures(traffic, r, answered_report(r) if reactive else None)

    return {"episodes": len(episodes),
            "by_kind": {k: sum(1 for e in episodes if e.kind == k)
                        for k in ("sad", "argument")},
            "episode_hours": round(sum(e.end - e.start for e in episodes) / 3600.0, 1),
            "v2": figures(v2), "v1": figures(v1), "v2_tone_off": figures(tone_off)}
