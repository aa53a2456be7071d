"""The simulator's report as plain text for a terminal (``format_report``)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_report"]



def _processes(report: dict[str, Any]) -> int:
    return int((report.get("params") or {}).get("processes") or 1)

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


def _share(p: dict[str, Any]) -> str:
    n, k = p.get("unprompted_posts"), p.get("unprompted_answered")
    if not n:
        return "0/0"
    return f"{k}/{n} ({100.0 * k / n:.0f}%)"


def _keywords(p: dict[str, Any]) -> str:
    kw = p.get("keywords") or []
    if kw and isinstance(kw[0], list):
        return "; ".join(", ".join(k) for k in kw) + " (by guild)"
    return ", ".join(kw) or "(none)"


def _extras(report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if report.get("chattiness"):
        parts = [f"{c} -> {x['actions_per_guild_day']:.2f}"
                 for c, x in report["chattiness"].items()]
        out.append("Chattiness (V2, same traffic), actions per guild-day: " + ", ".join(parts)
                   + ".")
    if report.get("learning"):
        lr = report["learning"]
        parts = []
        if report.get("v1"):
            parts.append(f"V1 {_share(report['v1'])}")
        parts += [f"V2 {k} learning {_share(x)}" for k, x in sorted(
            lr.items(), key=lambda kv: kv[0] != "without")]
        out.append("Unprompted posts a human answered within 30 min: " + ", ".join(parts)
                   + ".")
    rs = report.get("restart")
    if rs:
        down = report["params"].get("downtime_s") or 0
        out.append(f"Restart after {down / 3600:g} h down: {rs['guilds_acted']:,} of "
                   f"{rs['guilds']:,} guilds ({100 * rs['guilds_acted_share']:.1f}%) acted "
                   f"within {rs['window_s'] / 60:g} minutes of the start"
                   + (f" (the first {rs['first_action_after_s']:.0f} s after it; "
                      + ", ".join(f"{n} {a}" for a, n in rs["by_action"].items()) + ")."
                      if rs.get("first_action_after_s") is not None else "."))
    examples = report.get("examples") or []
    if examples:
        out.append("Her words, three examples:")
        for e in examples:
            out.append(f"  [{e['action']}, {e['mood']}, {e['sim_time']}] {e['text']}")
    return out


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
           f"Related games: names containing {_keywords(p)}. Moods: {len(p.get('moods', []))}"
           f" ({', '.join(p.get('moods', []))}); asleep, the 14th, is her mood in quiet hours "
           "and takes no autonomous action.",
           ""]
    main = "V2 (your config)" if p.get("config") else "V2 (rules)"
    cols = ["", main] + (["V1 (timer)"] if v1 else [])
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
        ["unprompted posts answered in 30 min"] + [_share(x) for x in pols],
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
        f"{rt['snapshots_written']:,} snapshots written in {rt['snapshot_batches']:,} batches"
        f"{f' ({n} processes)' if (n := _processes(report)) > 1 else ''}; "
        f"pool {rt['pool_sent']:,} sent / {rt['pool_stale']} stale / {rt['pool_failed']} failed"
        f" / {rt['pool_rejected']} rejected; mailbox overflow {rt['mailbox_overflow']}.")
    extras = _extras(report)
    if extras:
        out += extras
        out.append("")
    if v2["pinged_messages"] or (v1 and v1["pinged_messages"]):
        out.append("WARNING: some sent messages carried a ping (see pinged_messages).")
    tm = report.get("timing") or {}
    if tm:
        v1_part = f", V1 {tm['v1_wall_s']:.1f} s" if tm.get("v1_wall_s") is not None else ""
        n = _processes(report)
        split = f" in {n} processes" if n > 1 else ""
        if v1_part:
            v1_part += " (V1 replayed through the engine)"
        out.append(f"Wall clock: V2 {tm['v2_wall_s']:.1f} s{split}{v1_part}; "
                   f"{tm['events_per_s'] or 0:,} events/s.")
    return "\n".join(out)
