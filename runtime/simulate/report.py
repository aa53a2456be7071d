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
- *Quiet hours*: the guild's local quiet hours (``run.QUIET_HOURS``).
- *Time to greet a new game*: from a human starting a game related to the persona to the first
  ``engage_user`` sent for that user within ``GREET_WINDOW_S``; the median over the greeted.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from actors.events import MemberJoined, MessageSeen, PresenceChanged
from runtime.simulate.run import QUIET_HOURS, RunResult, SentRecord
from runtime.simulate.traffic import GuildTraffic, LocalClock, Traffic, is_related

__all__ = [
    "CONVERSATION_GAP_S",
    "GREET_WINDOW_S",
    "JOIN_GRACE_S",
    "LIVELY_MSGS_5M",
    "build_report",
    "format_report",
    "policy_report",
    "traffic_summary",
]

LIVELY_MSGS_5M = 15
CONVERSATION_GAP_S = 600.0
JOIN_GRACE_S = 120.0
GREET_WINDOW_S = 3600.0
EMPTY_WINDOW_S = 3600.0


class _GuildView:
    """What the report needs of one guild's traffic, as sorted arrays."""

    def __init__(self, g: GuildTraffic) -> None:
        self.local = LocalClock(g.plan.timezone)
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
                    if is_related(e.activity):
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
        start, end = QUIET_HOURS
        return start <= int(self.local.hour(t)) < end


def _conversations(times: list[float]) -> list[tuple[float, float, bool]]:
    """(first, last, lively) for each run of messages with no gap over the limit."""
    out = []
    i, n = 0, len(times)
    while i < n:
        j = i
        while j + 1 < n and times[j + 1] - times[j] <= CONVERSATION_GAP_S:
            j += 1
        lively = False
        lo = i
        for hi in range(i, j + 1):
            while times[hi] - times[lo] >= 300.0:
                lo += 1
            if hi - lo + 1 >= LIVELY_MSGS_5M:
                lively = True
                break
        out.append((times[i], times[j], lively))
        i = j + 1
    return out


def _views(traffic: Traffic) -> dict[int, _GuildView]:
    return {g.plan.guild_id: _GuildView(g) for g in traffic.guilds}


def _per_day(n: float, guild_days: float) -> float:
    return round(n / guild_days, 3)


def traffic_summary(traffic: Traffic, views: dict[int, _GuildView] | None = None
                    ) -> dict[str, Any]:
    """Counts of the traffic itself (the same for every policy)."""
    views = views or _views(traffic)
    gd = len(traffic.guilds) * (traffic.end - traffic.start) / 86400.0
    human = sum(len(v.humans) for v in views.values())
    presence = sum(v.presence for v in views.values())
    convs = [c for v in views.values() for c in v.conversations]
    return {
        "guild_days": round(gd, 4),
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


def _counts(values: list[str], gd: float) -> dict[str, dict[str, float]]:
    return {k: {"count": n, "per_guild_day": _per_day(n, gd)}
            for k, n in sorted(Counter(values).items())}


def policy_report(traffic: Traffic, result: RunResult,
                  views: dict[int, _GuildView] | None = None) -> dict[str, Any]:
    """One policy's figures from its sends over ``traffic``."""
    views = views or _views(traffic)
    gd = len(traffic.guilds) * (traffic.end - traffic.start) / 86400.0
    actions = [r for r in result.sent if r.priority > 0]
    by_guild: dict[int, list[SentRecord]] = {}
    for r in actions:
        by_guild.setdefault(r.guild_id, []).append(r)
    empty = quiet = joined = lively = 0
    delays: list[float] = []
    starts = 0
    for gid, v in views.items():
        mine = by_guild.get(gid, [])
        times = [r.at for r in mine]
        for r in mine:
            empty += v.empty(r.at)
            quiet += v.quiet(r.at)
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
        "actions": n,
        "actions_per_guild_day": _per_day(n, gd),
        "by_action": _counts([r.action for r in actions], gd),
        "by_mood": _counts([r.mood for r in actions], gd),
        "empty_room_actions": empty,
        "lively_conversations": lively,
        "conversations_joined": joined,
        "quiet_hour_actions": quiet,
        "related_game_starts": starts,
        "games_greeted": len(delays),
        "time_to_greet_median_s": round(statistics.median(delays), 1) if delays else None,
        "replies": len(result.sent) - n,
        "pinged_messages": sum(1 for r in result.sent if r.pinged),
        "runtime": result.runtime,
    }


def build_report(traffic: Traffic, v2: RunResult, v1: RunResult | None,
                 params: dict[str, Any]) -> dict[str, Any]:
    """The whole report: ``{"params", "traffic", "v2", "v1", "runtime", "timing"}``.
    Everything but ``timing`` is a function of the seed and the options."""
    views = _views(traffic)
    report: dict[str, Any] = {
        "params": {**params, "lively_msgs_5m": LIVELY_MSGS_5M,
                   "conversation_gap_s": CONVERSATION_GAP_S, "join_grace_s": JOIN_GRACE_S,
                   "greet_window_s": GREET_WINDOW_S, "quiet_hours": list(QUIET_HOURS),
                   "start": traffic.start,
                   "start_utc": datetime.fromtimestamp(traffic.start, UTC).isoformat()},
        "traffic": traffic_summary(traffic, views),
        "v2": policy_report(traffic, v2, views),
        "v1": policy_report(traffic, v1, views) if v1 is not None else None,
        "runtime": v2.runtime,
    }
    total = v2.wall_s + (v1.wall_s if v1 is not None else 0.0)
    events = v2.runtime["traffic_events"] + (v1.runtime["traffic_events"] if v1 else 0)
    report["timing"] = {"v2_wall_s": round(v2.wall_s, 3),
                        "v1_wall_s": round(v1.wall_s, 3) if v1 is not None else None,
                        "events_per_s": round(events / total) if total > 0 else None}
    return report


# --- text ---------------------------------------------------------------------------------

def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.2f}"
    return f"{x:,}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header] + [[_fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                      for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if k == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def _greet(p: dict[str, Any]) -> str:
    med = p["time_to_greet_median_s"]
    when = f", median {med / 60:.1f} min" if med is not None else ""
    return f"{p['games_greeted']}/{p['related_game_starts']}{when}"


def format_report(report: dict[str, Any]) -> str:
    """A few plain-text tables for a terminal."""
    p, t, v2, v1, rt = (report["params"], report["traffic"], report["v2"], report["v1"],
                        report["runtime"])
    clock = "virtual" if p["clock"] == "virtual" else "wall-clock"
    hours = f"{p['hours']:g} h"
    if p.get("interrupted_after_h") is not None:
        hours = f"{p['interrupted_after_h']:g} h (interrupted; {p['hours']:g} h planned)"
    out = [f"Simulated {p['guilds']} guilds for {hours} from {p['start_utc']} "
           f"(seed {p['seed']}, {clock} time, {p['llm']} words).",
           f"Traffic: {t['human_messages']:,} human messages "
           f"({t['human_messages_per_guild_day']:,.0f} per guild-day), "
           f"{t['presence_changes']:,} presence changes "
           f"({t['presence_changes_per_guild_day']:,.0f} per guild-day), "
           f"{t['game_starts']:,} games started ({t['related_game_starts']} related), "
           f"{t['member_joins']:,} joins, {t['lively_conversations']:,} lively conversations.",
           ""]
    cols = ["", "V2 (rules)"] + (["V1 (timer)"] if v1 else [])
    pols = [v2] + ([v1] if v1 else [])
    lively = t["lively_conversations"]
    rows = [
        ["actions per guild-day"] + [x["actions_per_guild_day"] for x in pols],
        ["actions"] + [x["actions"] for x in pols],
        ["into empty rooms"] + [x["empty_room_actions"] for x in pols],
        [f"lively conversations joined (of {lively:,})"]
        + [x["conversations_joined"] for x in pols],
        ["during quiet hours"] + [x["quiet_hour_actions"] for x in pols],
        ["related games greeted"] + [_greet(x) for x in pols],
        ["replies (she was spoken to)"] + [x["replies"] for x in pols],
    ]
    out += _table(cols, rows)
    out.append("")
    actions = sorted(set(v2["by_action"]) | set(v1["by_action"] if v1 else ()))
    rows = [[a] + [x["by_action"].get(a, {}).get("per_guild_day", 0.0) for x in pols]
            for a in actions]
    out += _table(["per guild-day, by action", *cols[1:]], rows)
    out.append("")
    moods = sorted(v2["by_mood"], key=lambda m: -v2["by_mood"][m]["count"])
    rows = [[m, v2["by_mood"][m]["count"], v2["by_mood"][m]["per_guild_day"]] for m in moods]
    out += _table(["V2 by mood", "actions", "per guild-day"], rows)
    out.append("")
    out.append(
        f"Runtime (V2): {rt['traffic_events']:,} traffic events, {rt['events_delivered']:,} "
        f"delivered to actors, {rt['actors_spawned']:,} actor starts "
        f"({rt['passivations']:,} passivations), {rt['restarts']} restarts, "
        f"{rt['snapshots_written']:,} snapshots written in {rt['snapshot_batches']:,} batches; "
        f"pool {rt['pool_sent']:,} sent / {rt['pool_stale']} stale / {rt['pool_failed']} failed"
        f" / {rt['pool_rejected']} rejected; mailbox overflow {rt['mailbox_overflow']}.")
    if v2["pinged_messages"] or (v1 and v1["pinged_messages"]):
        out.append("WARNING: some sent messages carried a ping (see pinged_messages).")
    tm = report.get("timing") or {}
    if tm:
        v1_part = f", V1 {tm['v1_wall_s']:.1f} s" if tm.get("v1_wall_s") is not None else ""
        out.append(f"Wall clock: V2 {tm['v2_wall_s']:.1f} s{v1_part}; "
                   f"{tm['events_per_s'] or 0:,} events/s.")
    return "\n".join(out)
