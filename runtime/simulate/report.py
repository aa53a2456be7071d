"""The simulator's report, computed only from what happened: the traffic, what was sent, and
the runtime's counters. Nothing in it is written in.

Definitions (also in ``params`` of the JSON, so a reader sees the numbers they were made with):

- An *action* is an autonomous send (replies to someone who spoke to her are counted apart).
- *Empty room*: at the moment of the send no human was online and no human had written or
  joined in the last hour.
- A *conversation* is a run of human messages with no gap over ``CONVERSATION_GAP_S``; it is
  *lively* when some 5 minutes of it hold at least ``LIVELY_MSGS_5M`` human messages; it was
  *joined* when the persona sent an action between its first message and
  ``JOIN_GRACE_S`` after its last.
- *Quiet hours*: the guild's local quiet hours (``setup.QUIET_HOURS``, or the owner's).
- *Related game*: one whose name has one of the guild's keywords as a whole word, in any
  case (``engine.is_related``: the engine's own test, with the engine's default keywords or
  the owner's).
- *Time to greet a new game*: from a human starting a related game to the first
  ``engage_user`` sent for that user within ``GREET_WINDOW_S``; the median over the greeted.
- *Unprompted post*: ``break_silence`` or ``share_tweet`` (and V1's ``general``, its post
  into the room on a timer). It was *answered* when a human wrote within ``ANSWER_WINDOW_S``
  after it. The traffic does not react to her, so this counts posts made when people were
  there to read them; no rule can game it.
- *Acted after the restart* (``--resume``): a guild that sent an autonomous action within
  ``RESTART_WINDOW_S`` of the resumed run's start.
- *Per guild-day*: a count over the guilds it is about, divided by their number and the
  window in days. Only for a window of at least a day (``DAY_S``): the traffic follows the
  hours of the day, so a shorter window says nothing about a day and its per-day figures are
  None (the text gives counts per guild in the window instead).
- *Policy*: under an owner's config the guilds may run different policies (``v2``, ``v1``,
  ``shadow`` where V1 acts and V2 only logs); each policy's guilds are then reported apart
  (``by_policy``), and ``v2`` holds only the guilds that run V2.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from actors.events import MemberJoined, MessageSeen, PresenceChanged
from engine import MOOD_NAMES, GuildConfig, in_quiet_hours, is_related
from runtime.simulate.answered import affinity_report, reactive_report, spoke_to_her
from runtime.simulate.channel import SentRecord
from runtime.simulate.reacted import reactions_report
from runtime.simulate.setup import QUIET_HOURS, RunResult
from runtime.simulate.traffic import GuildTraffic, Traffic

__all__ = [
    "ANSWER_WINDOW_S",
    "CONVERSATION_GAP_S",
    "DAY_S",
    "GREET_WINDOW_S",
    "JOIN_GRACE_S",
    "LIVELY_MSGS_5M",
    "RESTART_WINDOW_S",
    "UNPROMPTED",
    "build_report",
    "default_configs",
    "policy_report",
    "restart_report",
    "traffic_summary",
]

LIVELY_MSGS_5M = 15
CONVERSATION_GAP_S = 600.0
JOIN_GRACE_S = 120.0
GREET_WINDOW_S = 3600.0
EMPTY_WINDOW_S = 3600.0
ANSWER_WINDOW_S = 1800.0
RESTART_WINDOW_S = 120.0
UNPROMPTED = ("break_silence", "share_tweet", "general")
#: The shortest window whose figures are given per guild-day.
DAY_S = 86400.0
#: The order of the policies' columns.
POLICY_ORDER = ("v2", "shadow", "v1")


class _GuildView:
    """What the report needs of one guild's traffic, as sorted arrays."""

    def __init__(self, g: GuildTraffic, cfg: GuildConfig) -> None:
        self.cfg = cfg
        keywords = cfg.keywords
        self.humans: list[float] = []
        self.joins: list[float] = []
        self.online_at: list[float] = []
        self.online_n: list[int] = []
        self.related: list[tuple[float, int]] = []
        self.presence = self.bot_msgs = self.addressed = self.games = 0
        online = set(g.ready.online_user_ids)
        self.online0 = len(online)
        for e in g.events:
            kind = type(e)
            if kind is MessageSeen:
                if e.author_is_bot:
                    self.bot_msgs += 1
                else:
                    self.humans.append(e.at)
                    self.addressed += e.addresses_self
            elif kind is PresenceChanged:
                self.presence += 1
                if e.is_bot:
                    continue
                if e.status == "offline":
                    online.discard(e.user_id)
                else:
                    online.add(e.user_id)
                self.online_at.append(e.at)
                self.online_n.append(len(online))
                if e.activity:
                    self.games += 1
                    if is_related(e.activity, keywords):
                        self.related.append((e.at, e.user_id))
            elif kind is MemberJoined and not e.is_bot:
                self.joins.append(e.at)
        self.conversations = _conversations(self.humans)

    def online(self, t: float) -> int:
        i = bisect.bisect_right(self.online_at, t) - 1
        return self.online_n[i] if i >= 0 else self.online0

    def empty(self, t: float) -> bool:
        if self.online(t):
            return False
        for times in (self.humans, self.joins):
            i = bisect.bisect_right(times, t)
            if i and t - times[i - 1] < EMPTY_WINDOW_S:
                return False
        return True

    def quiet(self, t: float) -> bool:
        return in_quiet_hours(self.cfg, t)[0]

    def answered(self, t: float) -> bool:
        """A human wrote within ``ANSWER_WINDOW_S`` after ``t``."""
        i = bisect.bisect_right(self.humans, t)
        return i < len(self.humans) and self.humans[i] <= t + ANSWER_WINDOW_S


def _conversations(times: list[float]) -> list[tuple[float, float, bool]]:
    """(first, last, lively) for each run of messages with no gap over the limit; lively:
    some ``LIVELY_MSGS_5M`` of its messages fall within 5 minutes."""
    out = []
    i, n = 0, len(times)
    k = LIVELY_MSGS_5M - 1
    while i < n:
        j = i
        while j + 1 < n and times[j + 1] - times[j] <= CONVERSATION_GAP_S:
            j += 1
        run = times[i:j + 1]
        lively = any(b - a < 300.0 for a, b in zip(run, run[k:], strict=False))
        out.append((times[i], times[j], lively))
        i = j + 1
    return out


def default_configs(traffic: Traffic) -> dict[int, GuildConfig]:
    """The simulated guilds' settings without an owner's config: their own time zone, quiet
    hours ``QUIET_HOURS``, the engine's keywords."""
    return {g.plan.guild_id: GuildConfig(timezone=g.plan.timezone, quiet_hours=QUIET_HOURS)
            for g in traffic.guilds}


def _views(traffic: Traffic, configs: dict[int, GuildConfig] | None = None
           ) -> dict[int, _GuildView]:
    configs = configs or default_configs(traffic)
    return {g.plan.guild_id: _GuildView(g, configs[g.plan.guild_id]) for g in traffic.guilds}


def _guild_days(traffic: Traffic, guilds: int) -> float | None:
    """Guild-days of ``guilds`` guilds over the window, or None when the window is shorter
    than a day (no per-day figure is given for it)."""
    window = traffic.end - traffic.start
    return guilds * window / DAY_S if window >= DAY_S - 1e-6 else None


def _per_day(n: float, guild_days: float | None) -> float | None:
    return round(n / guild_days, 3) if guild_days else None


def traffic_summary(traffic: Traffic, views: dict[int, _GuildView] | None = None
                    ) -> dict[str, Any]:
    """Counts of the traffic itself (the same for every policy)."""
    views = views or _views(traffic)
    gd = _guild_days(traffic, len(traffic.guilds))
    human = sum(len(v.humans) for v in views.values())
    presence = sum(v.presence for v in views.values())
    convs = [c for v in views.values() for c in v.conversations]
    return {
        "guild_days": round(len(traffic.guilds) * (traffic.end - traffic.start) / DAY_S, 4),
        "hours": round((traffic.end - traffic.start) / 3600.0, 4),
        "events": traffic.event_count,
        "human_messages": human,
        "human_messages_per_guild_day": _per_day(human, gd),
        "bot_messages": sum(v.bot_msgs for v in views.values()),
        "messages_to_persona": sum(v.addressed for v in views.values()),
        "presence_changes": presence,
        "presence_changes_per_guild_day": _per_day(presence, gd),
        "game_starts": sum(v.games for v in views.values()),
        "related_game_starts": sum(len(v.related) for v in views.values()),
        "member_joins": sum(len(v.joins) for v in views.values()),
        "conversations": len(convs),
        "lively_conversations": sum(1 for c in convs if c[2]),
    }


def _counts(values: list[str], gd: float | None) -> dict[str, dict[str, float | None]]:
    return {k: {"count": n, "per_guild_day": _per_day(n, gd)}
            for k, n in sorted(Counter(values).items())}


def policy_report(traffic: Traffic, result: RunResult,
                  views: dict[int, _GuildView] | None = None,
                  guilds: Collection[int] | None = None) -> dict[str, Any]:
    """One policy's figures from its sends over ``traffic``: over every guild, or over
    ``guilds`` only (the guilds of one policy of a run under an owner's config)."""
    views = views or _views(traffic)
    sent = result.sent
    if guilds is not None:
        views = {gid: v for gid, v in views.items() if gid in guilds}
        sent = [r for r in sent if r.guild_id in views]
    gd = _guild_days(traffic, len(views))
    actions = [r for r in sent if r.priority > 0]
    by_guild: dict[int, list[SentRecord]] = {}
    for r in actions:
        by_guild.setdefault(r.guild_id, []).append(r)
    empty = quiet = joined = lively = unprompted = answered = 0
    delays: list[float] = []
    starts = 0
    for gid, v in views.items():
        mine = by_guild.get(gid, [])
        times = [r.at for r in mine]
        for r in mine:
            empty += v.empty(r.at)
            quiet += v.quiet(r.at)
            if r.action in UNPROMPTED:
                unprompted += 1
                answered += v.answered(r.at)
        for first, last, is_lively in v.conversations:
            if not is_lively:
                continue
            lively += 1
            i = bisect.bisect_left(times, first)
            if i < len(times) and times[i] <= last + JOIN_GRACE_S:
                joined += 1
        greets = [r for r in mine if r.action == "engage_user"]
        for t0, user in v.related:
            starts += 1
            for r in greets:
                if r.target_user_id == user and t0 <= r.at <= t0 + GREET_WINDOW_S:
                    delays.append(r.at - t0)
                    break
    n = len(actions)
    return {
        "guilds": len(views),
        "actions": n,
        "actions_per_guild_day": _per_day(n, gd),
        "by_action": _counts([r.action for r in actions], gd),
        "by_mood": _counts([r.mood for r in actions], gd),
        "empty_room_actions": empty,
        "lively_conversations": lively,
        "conversations_joined": joined,
        "quiet_hour_actions": quiet,
        "unprompted_posts": unprompted,
        "unprompted_answered": answered,
        "unprompted_answered_share": round(answered / unprompted, 4) if unprompted else None,
        "related_game_starts": starts,
        "games_greeted": len(delays),
        "time_to_greet_median_s": round(statistics.median(delays), 1) if delays else None,
        "replies": len(sent) - n,
        "pinged_messages": sum(1 for r in sent if r.pinged),
        "runtime": result.runtime,
    }


def restart_report(traffic: Traffic, result: RunResult) -> dict[str, Any]:
    """How many guilds acted within ``RESTART_WINDOW_S`` of a resumed run's start."""
    cutoff = traffic.start + RESTART_WINDOW_S
    early = [r for r in result.sent if r.priority > 0 and r.at < cutoff]
    acted = len({r.guild_id for r in early})
    n = len(traffic.guilds)
    return {"window_s": RESTART_WINDOW_S, "guilds": n, "guilds_acted": acted,
            "guilds_acted_share": round(acted / n, 4), "actions": len(early),
            "first_action_after_s": round(min(r.at for r in early) - traffic.start, 3)
            if early else None,
            "by_action": dict(sorted(Counter(r.action for r in early).items()))}


#: The order in which the report picks its three examples of her words.
_EXAMPLE_ORDER = ("join_conversation", "engage_user", "reply", "break_silence",
                  "share_tweet", "fomo_response", "general")


def _examples(result: RunResult, n: int = 3) -> list[dict[str, Any]]:
    """Up to ``n`` of her messages, of different actions first."""
    pools = [list(result.examples.get(a, ())) for a in _EXAMPLE_ORDER]
    out: list[dict[str, Any]] = []
    while len(out) < n and any(pools):
        for pool in pools:
            if pool and len(out) < n:
                out.append(pool.pop(0))
    return out


def _brief(traffic: Traffic, result: RunResult, views: dict[int, _GuildView],
           guilds: Collection[int] | None) -> dict[str, Any]:
    p = policy_report(traffic, result, views, guilds)
    return {k: p[k] for k in ("guilds", "actions", "actions_per_guild_day", "unprompted_posts",
                              "unprompted_answered", "unprompted_answered_share",
                              "quiet_hour_actions", "empty_room_actions")}


def _policy_rank(policy: str) -> int:
    return POLICY_ORDER.index(policy) if policy in POLICY_ORDER else len(POLICY_ORDER)


def build_report(traffic: Traffic, v2: RunResult, v1: RunResult | None,
                 params: dict[str, Any], *, configs: dict[int, GuildConfig] | None = None,
                 chattiness: dict[float, RunResult] | None = None,
                 learning: dict[bool, RunResult] | None = None,
                 affinity: dict[bool, RunResult] | None = None,
                 resumed: bool = False,
                 policies: dict[int, str] | None = None,
                 reactive: bool = False) -> dict[str, Any]:
    """The whole report: ``{"params", "traffic", "v2", "v1", "runtime", "timing"}``, plus
    ``chattiness`` / ``learning`` (the comparison runs, when made), ``restart`` (a resumed
    run), ``examples`` (three of her messages) and ``by_policy`` (when the guilds of the
    main run do not all run V2). Everything but ``timing`` and the words of ``examples`` is
    a function of the seed and the options.

    Args:
        traffic, v2, v1: the traffic and the runs over it (V1 None when skipped).
        params: the options, echoed into ``params``.
        configs: each guild's engine settings (quiet hours, time zone, keywords); None for
            the simulator's own (``default_configs``).
        chattiness: V2 runs by chattiness, on the same traffic.
        learning: V2 runs by ``learn_hours``, on the same traffic.
        affinity: V2 runs by ``affinity``, on the same traffic: add ``affinity``
            (``answered.affinity_report``: ``off`` and ``on``, each with its actions,
            ``engage_user`` and, when ``reactive``, their answered shares and pestering).
        resumed: the run continued a store after a downtime: add ``restart``.
        policies: each guild's policy in the main run (None: V2 everywhere). When not all
            are ``v2``, ``by_policy`` reports each policy's guilds apart, ``v2`` holds only
            the V2 guilds (None if there are none) and the comparisons count them only.
        reactive: the simulated people answered her (``--reactive``): add ``reactive``
            (``answered.reactive_report``: answered shares and pestering, V1 beside V2;
            ``reactions``: her emoji reactions per guild-day and what they drew,
            ``reacted.reactions_report``).
    """
    configs = configs or default_configs(traffic)
    views = _views(traffic, configs)
    groups: dict[str, set[int]] = {}
    for gid, policy in (policies or {}).items():
        groups.setdefault(policy, set()).add(gid)
    split = set(groups) - {"v2"} != set()
    mine: set[int] | None = groups.get("v2", set()) if split else None
    keywords = sorted({c.keywords for c in configs.values()})
    quiet = sorted({c.quiet_hours or () for c in configs.values()})
    report: dict[str, Any] = {
        "params": {**params, "lively_msgs_5m": LIVELY_MSGS_5M,
                   "conversation_gap_s": CONVERSATION_GAP_S, "join_grace_s": JOIN_GRACE_S,
                   "greet_window_s": GREET_WINDOW_S, "answer_window_s": ANSWER_WINDOW_S,
                   "quiet_hours": list(quiet[0]) if len(quiet) == 1 else [list(q) for q in quiet],
                   "keywords": list(keywords[0]) if len(keywords) == 1
                   else [list(k) for k in keywords],
                   "moods": list(MOOD_NAMES),
                   "start": traffic.start,
                   "start_utc": datetime.fromtimestamp(traffic.start, UTC).isoformat()},
        "traffic": traffic_summary(traffic, views),
        "v2": policy_report(traffic, v2, views, mine) if mine is None or mine else None,
        "v1": policy_report(traffic, v1, views) if v1 is not None else None,
        "runtime": v2.runtime,
        "examples": _examples(v2),
    }
    if split:
        report["by_policy"] = {p: policy_report(traffic, v2, views, groups[p])
                               for p in sorted(groups, key=_policy_rank)}
    if chattiness and mine != set():
        report["chattiness"] = {f"{c:g}": _brief(traffic, r, views, mine)
                                for c, r in sorted(chattiness.items())}
    if learning and mine != set():
        report["learning"] = {("with" if on else "without"): _brief(traffic, r, views, mine)
                              for on, r in sorted(learning.items())}
    spoke = spoke_to_her(traffic) if reactive else None
    if affinity and mine != set():
        report["affinity"] = {("on" if on else "off"): {
            **_brief(traffic, r, views, mine),
            **affinity_report(r, mine, reactive=reactive, spoke=spoke)}
            for on, r in sorted(affinity.items())}
    if resumed:
        report["restart"] = restart_report(traffic, v2)
    if reactive:
        report["reactive"] = reactive_report(v2, v1, mine, spoke)
        gd = _guild_days(traffic, len(views) if mine is None else len(mine))
        report["reactive"]["reactions"] = reactions_report(v2, gd, mine)
    report["timing"] = {"v2_wall_s": round(v2.wall_s, 3),
                        "v1_wall_s": round(v1.wall_s, 3) if v1 is not None else None,
                        "events_per_s": round(v2.runtime["traffic_events"] / v2.wall_s)
                        if v2.wall_s > 0 else None}
    return report
