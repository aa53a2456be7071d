"""The V1 comparison, replayed straight through the engine (``engine.decide_v1``).

V1 is the old random timer: it is blind to the channel (no message counts, no quiet hours,
no mood in its choice), so running it through the whole runtime only spends time on events
it never looks at. What it does depend on is replayed here exactly as the actor does it:

- one tick per 15-minute slot, at the slot's start (the actor's timer and the supervisor's
  wake-up of a passivated guild both fall there), and the first look at the window's start;
- the mood, rotated at those looks (``engine.rotate_mood`` replays missed rotations, so the
  mood at a moment does not depend on when it was last asked);
- who is online (for ``engage_user``'s target), from the presence events;
- what was shared (``FeedItems.pick``: a guild with nothing left to share fails the share);
- replies to people who speak to her, with the actor's per-user cooldown;
- with ``RunSetup.reactive``, the simulated people's answers to its actions (``_answers``).

The offline words come back at once in virtual time, so nothing is ever pending at a slot's
start and a send happens at its decision's time. ``tests/simulate/test_replay.py`` holds the
replay to the runtime's own V1 run on the same traffic: the same sends.
"""

from __future__ import annotations

import time
from typing import Any

from actors.cooldown import ReplyCooldown
from actors.events import MemberJoined, MessageSeen, PresenceChanged
from engine import (
    NO_ITEM,
    SHARE_TWEET,
    V1_PERIOD_S,
    GuildConfig,
    decide_v1,
    new_state,
    observe_join,
    observe_presence,
    record_action,
    record_failure,
    rotate_mood,
    seed_online,
    set_mood,
)
from runtime.pool import FeedItems
from runtime.settings import guild_settings
from runtime.simulate.channel import SentRecord, sim_items
from runtime.simulate.people import AnswerRecord, People
from runtime.simulate.setup import RunResult, RunSetup, build_config
from runtime.simulate.traffic import GuildTraffic, Traffic

__all__ = ["replay_v1"]

#: The runtime's reply cooldown (``RuntimeConfig.reply_cooldown_s``) and the actor's cap.
_REPLY_COOLDOWN_S = 60.0
_MAX_COOLDOWNS = 512


def _replay_guild(g: GuildTraffic, cfg: GuildConfig, mood: str | None, traffic: Traffic,
                  setup: RunSetup, items: FeedItems, sent: list[SentRecord],
                  counts: dict[str, int]) -> None:
    gid = g.plan.guild_id
    seed = setup.seed
    start, end = traffic.start, traffic.end
    state = new_state(gid, start, grace_until=start + setup.grace_s)
    seed_online(state, g.ready.online_user_ids)
    if mood is not None:
        set_mood(state, mood)
    cooldowns = ReplyCooldown(_REPLY_COOLDOWN_S, max_users=_MAX_COOLDOWNS)
    rotate = cfg.rotate_moods

    def look(t: float) -> None:
        if rotate:
            rotate_mood(state, cfg, t, seed)
        d = decide_v1(state, cfg, t, seed)
        if d.action is None:
            return
        counts["decisions"] += 1
        if d.action == SHARE_TWEET and items.pick(gid) is None:
            record_failure(state, t, d.action, NO_ITEM)
            counts["failed"] += 1
            return
        sent.append(SentRecord(gid, d.action, t, state.mood, 0, 1, d.target_user_id,
                               d.target_activity))
        record_action(state, t, d.action, d.target_user_id)

    look(start)
    next_slot = (start // V1_PERIOD_S + 1) * V1_PERIOD_S
    for e in g.events:
        at = e.at
        while next_slot <= at:
            look(next_slot)
            next_slot += V1_PERIOD_S
        kind = type(e)
        if kind is PresenceChanged:
            observe_presence(state, at, e.user_id, e.status, e.activity, e.is_bot, cfg)
        elif kind is MessageSeen:
            if e.addresses_self and not e.author_is_bot and not e.is_self \
                    and cooldowns.try_acquire(e.author_id, at):
                sent.append(SentRecord(gid, "reply", at, state.mood, 0, 0, e.author_id))
        elif kind is MemberJoined:
            observe_join(state, at, e.user_id, e.is_bot)
    while next_slot < end:
        look(next_slot)
        next_slot += V1_PERIOD_S


def replay_v1(traffic: Traffic, setup: RunSetup) -> RunResult:
    """Replay every guild of ``traffic`` under the V1 timer, without the runtime.

    Args:
        traffic: the simulated guilds' events (the same the V2 run saw).
        setup: the seed, the grace period and the pinned moods (store, socket and LLM
            settings are not used: V1's words are not written).

    Returns:
        A ``RunResult`` like ``run_virtual``'s (policy ``v1``, clock ``replay``); its sends
        carry no text length, and its ``runtime`` figures are the replay's own counts.
    """
    wall0 = time.perf_counter()
    config = build_config(traffic, "v1", setup)
    items = FeedItems(sim_items())
    sent: list[SentRecord] = []
    counts = {"decisions": 0, "failed": 0}
    moods = setup.pinned_moods
    for i, g in enumerate(traffic.guilds):
        cfg, _, _ = guild_settings(config, g.plan.guild_id)
        _replay_guild(g, cfg, moods[i % len(moods)] if moods else None, traffic, setup,
                      items, sent, counts)
    sent.sort(key=lambda r: (r.at, r.guild_id, r.priority, r.action))
    answers = _answers(traffic, setup, sent) if setup.reactive else []
    figures: dict[str, Any] = {
        "traffic_events": traffic.event_count,
        "decisions": counts["decisions"],
        "pool_sent": len(sent),
        "pool_failed": counts["failed"],
    }
    return RunResult("v1", "replay", sent, figures, time.perf_counter() - wall0, traffic.end,
                     answers=answers)


def _answers(traffic: Traffic, setup: RunSetup, sent: list[SentRecord]) -> list[AnswerRecord]:
    """The simulated people's answers to V1's actions. V1 is blind to the channel, so the
    answers could not have changed what it did: drawing them after the replay gives what a
    run with them fed in would (but for V1's replies to answers that speak to her, which
    are not autonomous actions and draw no answers)."""
    people = People(traffic.guilds, setup.seed)
    for r in sent:
        guild = people.guild(r.guild_id)
        if r.priority > 0 and guild is not None:
            guild.on_action(r.action, r.at, r.target_user_id, r.target_activity)
    return people.answers()
