"""The simulator's report as plain text for a terminal (``format_report``)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_report"]



def _processes(report: dict[str, Any]) -> int:
    return int((report.get("params") or {}).get("processes") or 1)


#: What each policy's guilds are called in a report split by policy.
_POLICY_TITLES = {"v2": "V2", "shadow": "shadow (V1 acts)", "v1": "v1 (timer)"}


def _span(hours: float) -> str:
    """A window for a person: ``6 h``, ``6 min``, ``45 s``."""
    if hours >= 1:
        return f"{hours:g} h"
    if hours * 60 >= 1:
        return f"{hours * 60:.3g} min"
    return f"{hours * 3600:.0f} s"


def _short_span(report: dict[str, Any]) -> str | None:
    """The window, when it is shorter than a day (figures per guild in it, not per
    guild-day); None for a day or more."""
    t = report["traffic"]
    if t.get("human_messages_per_guild_day") is not None:
        return None
    return _span(t.get("hours") or report["params"]["hours"])


def _rate(count: float, per_day: float | None, guilds: int) -> float:
    """Per guild-day when there is one, else the count per guild (a short window)."""
    return per_day if per_day is not None else count / max(guilds, 1)


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
    if k is None:  # a report that counted the posts but not their answers
        return f"-/{n}"
    return f"{k}/{n} ({100.0 * k / n:.0f}%)"


def _keywords(p: dict[str, Any]) -> str:
    kw = p.get("keywords") or []
    if kw and isinstance(kw[0], list):
        return "; ".join(", ".join(k) for k in kw) + " (by guild)"
    return ", ".join(kw) or "(none)"


def _extras(report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    span = _short_span(report)
    guilds = report["params"]["guilds"]
    if report.get("chattiness"):
        parts = [f"{c} -> "
                 f"{_rate(x['actions'], x['actions_per_guild_day'], x.get('guilds', guilds)):.2f}"
                 for c, x in report["chattiness"].items()]
        per = "actions per guild-day" if span is None else f"actions per guild in {span}"
        out.append(f"Chattiness (V2, same traffic), {per}: " + ", ".join(parts) + ".")
    if report.get("learning"):
        lr = report["learning"]
        parts = []
        if report.get("v1"):
            parts.append(f"V1 {_share(report['v1'])}")
        parts += [f"V2 {k} learning {_share(x)}" for k, x in sorted(
            lr.items(), key=lambda kv: kv[0] != "without")]
        out.append("Unprompted posts a human answered within 30 min: " + ", ".join(parts)
                   + ". Learned hours steer nothing before a whole day has been seen: the "
                   "first simulated day shows no difference; give it days (--hours 336).")
    rs = report.get("restart")
    if rs:
        down = report["params"].get("downtime_s") or 0
        out.append(f"Restart after {down / 3600:g} h down: {rs['guilds_acted']:,} of "
                   f"{rs['guilds']:,} guilds ({100 * rs['guilds_acted_share']:.1f}%) acted "
                   f"within {rs['window_s'] / 60:g} minutes of the start"
                   + (f" (the first {rs['first_action_after_s']:.0f} s after it; "
                      + ", ".join(f"{n} {a}" for a, n in rs["by_action"].items()) + ")."
                      if rs.get("first_action_after_s") is not None else "."))
    out += _reactive(report)
    out += _affinity(report)
    out += _tone(report)
    examples = report.get("examples") or []
    if examples:
        out.append("Her words, three examples:")
        for e in examples:
            out.append(f"  [{e['action']}, {e['mood']}, {e['sim_time']}] {e['text']}")
    return out


def _answered(x: dict[str, Any] | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    if not x["actions"]:
        return "0/0"
    return (f"{100 * x['answered_10m_share']:.{digits}f}% / "
            f"{100 * x['answered_30m_share']:.{digits}f}% of {x['actions']:,}")


def _reactive(report: dict[str, Any]) -> list[str]:
    """``--reactive``: answered shares by action, V2 beside V1, and pestering."""
    r = report.get("reactive")
    if not r:
        return []
    v2, v1 = r["v2"], r["v1"]
    runs = [("V2", v2)] + ([("V1", v1)] if v1 is not None else [])
    actions = sorted({a for _, x in runs for a in x["by_action"]})
    rows = [["every action"] + [_answered(x) for _, x in runs]]
    rows += [[a] + [_answered(x["by_action"].get(a)) for _, x in runs] for a in actions]
    out = ["Answered by a simulated person within 10 / 30 min (--reactive: people answer "
           "her; only answers to the action count):"]
    out += _table(["", *(name for name, _ in runs)], rows)
    out.append("Pestering (naming someone who ignored her last two times and has not spoken "
               "to her since): " + ", ".join(f"{name} {_pester(x)}" for name, x in runs)
               + ".")
    rx = r.get("reactions")
    if rx:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.0f}%"
        per_day = rx["per_guild_day"]
        out.append(f"Her emoji reactions (V2): {rx['reactions']:,}"
                   + (f", {per_day:.2f} per guild-day" if per_day is not None else "")
                   + f"; drew a human reply or reaction within 10 / 30 min: "
                   f"{pct(rx['answered_10m_share'])} / {pct(rx['answered_30m_share'])} "
                   f"({rx['answered_by_message']:,} by a message, "
                   f"{rx['answered_by_reaction']:,} by a reaction back).")
    return out


def _pester(x: dict[str, Any]) -> str:
    out = f"{x['pestering']:,} of {x['addressed']:,} addressed"
    if "pestering_after_day" in x:
        out += (f" ({x['pestering_after_day']:,} a day or more after the last ignore; "
                f"{x['pestering_any']:,} counting those who spoke to her since)")
    return out


def _affinity(report: dict[str, Any]) -> list[str]:
    """``--compare-affinity``: V2 with affinity off and on, side by side."""
    af = report.get("affinity")
    if not af:
        return []
    runs = [(f"affinity {k}", af[k]) for k in ("off", "on") if k in af]
    rows = [["actions", *(f"{x['actions']:,}" for _, x in runs)],
            ["engage_user", *(f"{x['engage_user']['actions']:,}" for _, x in runs)]]
    if "pestering" in runs[0][1]:
        rows += [["engage_user answered in 10 / 30 min",
                  *(_answered(x["engage_user"], 1) for _, x in runs)],
                 ["every action answered in 10 / 30 min",
                  *(f"{100 * (x['answered_10m_share'] or 0):.1f}% / "
                    f"{100 * (x['answered_30m_share'] or 0):.1f}%" for _, x in runs)],
                 ["pestering (a day or more after / any since)",
                  *(f"{x['pestering']:,} of {x['addressed']:,} ({x['pestering_after_day']:,}"
                    f" / {x['pestering_any']:,})" for _, x in runs)]]
    return ["User affinity (V2, same traffic):", *_table(["", *(n for n, _ in runs)], rows)]


def _tone(report: dict[str, Any]) -> list[str]:
    """``--tone-episodes``: her playful posts and joins during tone episodes, per run."""
    t = report.get("tone")
    if not t:
        return []
    runs = [(name, t[key]) for name, key in (("V2", "v2"), ("V2 tone off", "v2_tone_off"),
                                             ("V1", "v1")) if t.get(key) is not None]
    rows = [["shares, silence-breakers (V1: general) in episodes"]
            + [f"{x['playful_in_episodes']:,}" for _, x in runs],
            ["joins + FOMO in episodes"] + [f"{x['joins_in_episodes']:,}" for _, x in runs]]
    if all("answered_30m_share" in x for _, x in runs):
        rows.append(["answered in 10 / 30 min, all actions"] + [
            "-" if x["answered_30m_share"] is None else
            f"{100 * x['answered_10m_share']:.1f}% / {100 * x['answered_30m_share']:.1f}%"
            for _, x in runs])
    out = [f"Tone episodes (--tone-episodes): {t['episodes']:,} ({t['by_kind']['sad']} sad, "
           f"{t['by_kind']['argument']} arguments), {t['episode_hours']:g} h in all:"]
    out += _table(["", *(name for name, _ in runs)], rows)
    return out


def _by(p: dict[str, Any], table: str, key: str, guilds: int) -> float:
    x = p[table].get(key)
    if x is None:
        return 0.0
    return _rate(x["count"], x["per_guild_day"], p.get("guilds", guilds))


def _greet(p: dict[str, Any]) -> str:
    med = p["time_to_greet_median_s"]
    when = f", median {med / 60:.1f} min" if med is not None else ""
    return f"{p['games_greeted']}/{p['related_game_starts']}{when}"


def _columns(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The table's columns: V2 (or each policy's guilds of the owner's config), then V1."""
    p, v1, by = report["params"], report["v1"], report.get("by_policy")
    if by:
        cols = [(f"{_POLICY_TITLES.get(k, k)}, {x['guilds']:,} guilds", x)
                for k, x in by.items()]
    else:
        cols = [("V2 (your config)" if p.get("config") else "V2 (rules)", report["v2"])]
    if v1:
        cols.append((f"V1 (timer, all {p['guilds']:,})" if by else "V1 (timer)", v1))
    return cols


def _split_note(report: dict[str, Any]) -> list[str]:
    by = report.get("by_policy")
    if not by:
        return []
    parts = [f"{_POLICY_TITLES.get(k, k)} in {x['guilds']:,}" for k, x in by.items()]
    return [f"Your config's guilds run {', '.join(parts)}: each column counts its own "
            "guilds (shadow: V1 acts, V2 only logs what it would have done); V1 (timer) "
            "is every guild replayed on V1.", ""]


def format_report(report: dict[str, Any]) -> str:
    """A few plain-text tables for a terminal."""
    p, t, v2, rt = report["params"], report["traffic"], report["v2"], report["runtime"]
    clock = "virtual" if p["clock"] == "virtual" else "wall-clock"
    hours = f"{p['hours']:g} h"
    if p.get("interrupted_after_h") is not None:
        hours = f"{p['interrupted_after_h']:g} h (interrupted; {p['hours']:g} h planned)"
    span = _short_span(report)
    per = "per guild-day" if span is None else f"per guild in {span}"
    guilds = p["guilds"]
    humans = _rate(t["human_messages"], t["human_messages_per_guild_day"], guilds)
    presence = _rate(t["presence_changes"], t["presence_changes_per_guild_day"], guilds)
    out = [f"Simulated {p['guilds']} guilds for {hours} from {p['start_utc']} "
           f"(seed {p['seed']}, {clock} time, {p['llm']} words).",
           f"Traffic: {t['human_messages']:,} human messages "
           f"({humans:,.0f} {per}), "
           f"{t['presence_changes']:,} presence changes "
           f"({presence:,.0f} {per}), "
           f"{t['game_starts']:,} games started ({t['related_game_starts']} related), "
           f"{t['member_joins']:,} joins, {t['lively_conversations']:,} lively conversations.",
           f"Related games: names with the whole words {_keywords(p)}. Moods: "
           f"{len(p.get('moods', []))} ({', '.join(p.get('moods', []))}); asleep, the 14th, is "
           "her mood in quiet hours and takes no autonomous action.",
           ""]
    out += _split_note(report)
    columns = _columns(report)
    cols = ["", *(c for c, _ in columns)]
    pols = [x for _, x in columns]
    lively = t["lively_conversations"]
    if report.get("by_policy"):
        joined = ["lively conversations joined"] + [
            f"{x['conversations_joined']:,}/{x['lively_conversations']:,}" for x in pols]
    else:
        joined = [f"lively conversations joined (of {lively:,})"] + [
            x["conversations_joined"] for x in pols]
    rows = [
        [f"actions {per}"] + [_rate(x["actions"], x["actions_per_guild_day"],
                                    x.get("guilds", guilds)) for x in pols],
        ["actions"] + [x["actions"] for x in pols],
        ["into empty rooms"] + [x["empty_room_actions"] for x in pols],
        joined,
        ["during quiet hours"] + [x["quiet_hour_actions"] for x in pols],
        ["related games greeted"] + [_greet(x) for x in pols],
        ["unprompted posts answered in 30 min"] + [_share(x) for x in pols],
        ["replies (she was spoken to)"] + [x["replies"] for x in pols],
    ]
    out += _table(cols, rows)
    out.append("")
    actions = sorted({a for x in pols for a in x["by_action"]})
    rows = [[a] + [_by(x, "by_action", a, guilds) for x in pols] for a in actions]
    out += _table([f"{per}, by action", *cols[1:]], rows)
    out.append("")
    if v2 is not None:
        moods = sorted(v2["by_mood"], key=lambda m: -v2["by_mood"][m]["count"])
        rows = [[m, v2["by_mood"][m]["count"], _by(v2, "by_mood", m, guilds)] for m in moods]
        out += _table(["V2 by mood", "actions", per], rows)
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
    if any(x["pinged_messages"] for x in pols):
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
