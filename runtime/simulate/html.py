"""``simulate --html report.html``: the report as one self-contained page with plots.

The page needs nothing but itself to open: the report's text in a ``<pre>``, and three
figures drawn by matplotlib as inline SVG (glyphs drawn as paths, so no font is fetched;
no script, no style sheet, no image file beside it):

1. *Per hour of the day*: human messages, and her autonomous actions by type, V2 beside V1
   (each guild's local hour).
2. *Unprompted posts answered within 30 minutes*, by local hour, V2 and V1.
3. *One guild's day*: the guild with the most human messages, its people's messages and
   both policies' actions on its first day, quiet hours shaded.
4. With ``--reactive`` (``data["reactive"]``, the report's part): her actions answered by a
   simulated person within 10 and 30 minutes, by action, V2 beside V1.
5. With ``--reactive --compare-affinity`` (``data["affinity"]``): ``engage_user`` with user
   affinity off and on: how many, the share answered within 10 and 30 minutes, pestering.
6. With ``--tone-episodes`` (``data["tone"]``): her shares and silence-breakers, and her
   joins, posted during tone episodes: V2, V2 with tone off (``--compare-tone``), V1.

Every plotted element carries an ``id`` (a bar ``hour-v2-join_conversation-18``, a line
``answered-v1``, a guild's day ``day-v2-engage_user``, ...), so a test or a reader can find
it. ``figure_data`` is the
numbers, a pure function of the run; ``render`` draws them (matplotlib is imported only
there: it is the ``html`` extra of pyproject.toml).
"""

from __future__ import annotations

import bisect
import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from actors.events import MessageSeen
from engine import GuildConfig, in_quiet_hours, zone
from runtime.simulate.report import ANSWER_WINDOW_S, UNPROMPTED
from runtime.simulate.setup import RunResult
from runtime.simulate.traffic import Traffic

__all__ = ["figure_data", "missing_library", "render", "write_html"]

#: One color per action, the same in every figure.
COLORS = {"join_conversation": "#4c72b0", "engage_user": "#55a868", "fomo_response": "#c44e52",
          "break_silence": "#8172b2", "share_tweet": "#ccb974", "general": "#64b5cd",
          "reply": "#8c8c8c", "react": "#dd8452"}
_DAY_S = 86400.0


def missing_library() -> str | None:
    """A one-line reason when matplotlib cannot be imported, else None."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ("--html needs matplotlib, the html extra: .venv/bin/pip install -e "
                "'.[html]'")
    return None


def _hour(cfg: GuildConfig, t: float) -> int:
    return datetime.fromtimestamp(t, zone(cfg.timezone)).hour


def _answered(humans: list[float], t: float) -> bool:
    i = bisect.bisect_right(humans, t)
    return i < len(humans) and humans[i] <= t + ANSWER_WINDOW_S


def figure_data(traffic: Traffic, runs: dict[str, RunResult],
                configs: dict[int, GuildConfig]) -> dict[str, Any]:
    """The numbers the figures show, from the traffic and the runs (``{"V2": ..., "V1":
    ...}``, in the order drawn).

    Returns:
        ``humans_by_hour`` (24 counts), ``actions_by_hour`` (``{run: {action: 24
        counts}}``), ``answered_by_hour`` (``{run: [(posts, answered)] * 24}``) and
        ``day`` (one guild's first day: ``guild_id``, ``timezone``, ``start``, ``humans``
        (hours since its start), ``actions`` (``{run: [(hours, action)]}``), ``quiet``
        (``[(from, to)]`` hours)).
    """
    humans_by_hour = [0] * 24
    humans: dict[int, list[float]] = {}
    for g in traffic.guilds:
        cfg = configs[g.plan.guild_id]
        times = [e.at for e in g.events if type(e) is MessageSeen and not e.author_is_bot]
        humans[g.plan.guild_id] = times
        for t in times:
            humans_by_hour[_hour(cfg, t)] += 1
    actions_by_hour: dict[str, dict[str, list[int]]] = {}
    answered_by_hour: dict[str, list[list[int]]] = {}
    for name, run in runs.items():
        by: dict[str, list[int]] = {}
        answered = [[0, 0] for _ in range(24)]
        for r in run.sent:
            if r.priority <= 0:
                continue
            h = _hour(configs[r.guild_id], r.at)
            by.setdefault(r.action, [0] * 24)[h] += 1
            if r.action in UNPROMPTED:
                answered[h][0] += 1
                answered[h][1] += _answered(humans[r.guild_id], r.at)
        actions_by_hour[name] = dict(sorted(by.items()))
        answered_by_hour[name] = answered
    busiest = max(traffic.guilds, key=lambda g: (len(humans[g.plan.guild_id]),
                                                 -g.plan.guild_id))
    gid = busiest.plan.guild_id
    cfg = configs[gid]
    start, end = traffic.start, min(traffic.end, traffic.start + _DAY_S)
    quiet: list[tuple[float, float]] = []
    t = start
    while t < end:  # quiet hours by 5-minute steps, merged into spans
        if in_quiet_hours(cfg, t)[0]:
            x = (t - start) / 3600.0
            if quiet and abs(quiet[-1][1] - x) < 1e-9:
                quiet[-1] = (quiet[-1][0], x + 1 / 12)
            else:
                quiet.append((x, x + 1 / 12))
        t += 300.0
    day: dict[str, Any] = {
        "guild_id": gid, "timezone": cfg.timezone, "start": start,
        "hours": (end - start) / 3600.0,
        "humans": [(x - start) / 3600.0 for x in humans[gid] if x < end],
        "actions": {name: [((r.at - start) / 3600.0, r.action) for r in run.sent
                           if r.guild_id == gid and r.priority > 0 and r.at < end]
                    for name, run in runs.items()},
        "quiet": quiet,
    }
    return {"humans_by_hour": humans_by_hour, "actions_by_hour": actions_by_hour,
            "answered_by_hour": answered_by_hour, "day": day}


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    # No metadata: its RDF names web addresses (namespaces, never fetched, but a page that
    # names none is plainly self-contained).
    fig.savefig(buf, format="svg", bbox_inches="tight",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # inline: no XML declaration or doctype


def _gids(bars: Any, prefix: str) -> None:
    """Name each bar of a bar plot ``prefix-HOUR``."""
    for h, patch in enumerate(bars):
        patch.set_gid(f"{prefix}-{h}")


def _hourly(data: dict[str, Any]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2))
    hours = list(range(24))
    _gids(top.bar(hours, data["humans_by_hour"], color="#999999", width=0.8), "hour-humans")
    top.set_ylabel("human messages")
    top.set_title("Per local hour of the day: what people wrote, and what she did")
    runs = data["actions_by_hour"]
    width = 0.8 / max(len(runs), 1)
    for k, (name, by) in enumerate(runs.items()):
        x = [h - 0.4 + width * (k + 0.5) for h in hours]
        base = [0] * 24
        for action, counts in by.items():
            b = bottom.bar(x, counts, width=width * 0.95, bottom=base,
                           color=COLORS.get(action, "#333333"),
                           hatch="//" if k else None, edgecolor="white", linewidth=0.3,
                           label=f"{name} {action}")
            _gids(b, f"hour-{name.lower()}-{action}")
            base = [a + c for a, c in zip(base, counts, strict=True)]
    bottom.set_ylabel("her autonomous actions" + ("" if len(runs) < 2 else
                                                  "  (left: " + ", right: ".join(runs) + ")"))
    bottom.set_xlabel("local hour of the guild")
    bottom.set_xticks(hours)
    bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _svg(fig)


def _answered_plot(data: dict[str, Any]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.5))
    ax = fig.subplots()
    for name, rows in data["answered_by_hour"].items():
        hs = [h for h in range(24) if rows[h][0]]
        share = [100.0 * rows[h][1] / rows[h][0] for h in hs]
        (line,) = ax.plot(hs, share, marker="o", label=f"{name} "
                          f"({sum(r[0] for r in rows)} posts)")
        line.set_gid(f"answered-{name.lower()}")
    ax.set_ylim(0, 105)
    ax.set_xticks(range(24))
    ax.set_xlabel("local hour of the guild")
    ax.set_ylabel("% answered in 30 min")
    ax.set_title("Unprompted posts a human answered within 30 minutes, by hour")
    ax.legend(fontsize=8)
    return _svg(fig)


def _day_plot(data: dict[str, Any]) -> str:
    from matplotlib.figure import Figure

    day = data["day"]
    runs = day["actions"]
    fig = Figure(figsize=(10, 1.2 + 0.6 * (len(runs) + 1)))
    ax = fig.subplots()
    for a, b in day["quiet"]:
        ax.axvspan(a, b, color="#dddddd", zorder=0, gid="day-quiet")
    rows = ["people", *runs]
    events: Any = ax.eventplot([day["humans"]], lineoffsets=[0], linelengths=0.6,
                          colors="#777777", linewidths=0.5)
    events[0].set_gid("day-humans")
    labelled: set[str] = set()
    for k, (name, acts) in enumerate(runs.items(), start=1):
        for action in sorted({a for _, a in acts}):
            xs = [t for t, a in acts if a == action]
            pts = ax.scatter(xs, [k] * len(xs), s=28, color=COLORS.get(action, "#333333"),
                             label=None if action in labelled else action, zorder=3)
            labelled.add(action)
            pts.set_gid(f"day-{name.lower()}-{action}")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0, day["hours"])
    ax.set_xlabel(f"hours since {datetime.fromtimestamp(day['start'], UTC):%Y-%m-%d %H:%M} "
                  f"UTC (the guild's time zone: {day['timezone']}; grey: quiet hours)")
    ax.set_title(f"One guild's day: guild {day['guild_id']}, the one with the most messages")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _svg(fig)


def _reactive_plot(reactive: dict[str, Any]) -> str:
    from matplotlib.figure import Figure

    runs = {name: x for name, x in (("V2", reactive.get("v2")), ("V1", reactive.get("v1")))
            if x is not None}
    actions = sorted({a for x in runs.values() for a in x["by_action"]})
    fig = Figure(figsize=(10, 3.8))
    ax = fig.subplots()
    slots = [(name, w) for name in runs for w in ("10m", "30m")]
    width = 0.8 / max(len(slots), 1)
    for k, (name, w) in enumerate(slots):
        shares = [100.0 * (runs[name]["by_action"].get(a, {}).get(f"answered_{w}_share")
                           or 0.0) for a in actions]
        bars = ax.bar([i - 0.4 + width * (k + 0.5) for i in range(len(actions))], shares,
                      width=width * 0.95, color="#4c72b0" if name == "V2" else "#c44e52",
                      alpha=0.55 if w == "10m" else 1.0, label=f"{name}, within {w[:-1]} min")
        for a, patch in zip(actions, bars, strict=True):
            patch.set_gid(f"reactive-{name.lower()}-{a}-{w}")
    ax.set_xticks(range(len(actions)), actions)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of her actions answered")
    ax.set_title("Answered by a simulated person (--reactive), by action")
    ax.legend(fontsize=8)
    return _svg(fig)


def _affinity_plot(affinity: dict[str, Any]) -> str:
    from matplotlib.figure import Figure

    runs = [(k, affinity[k]) for k in ("off", "on") if k in affinity]
    fig = Figure(figsize=(10, 3.4))
    share, count = fig.subplots(1, 2)
    for i, (k, x) in enumerate(runs):
        e = x["engage_user"]
        for j, w in enumerate(("10m", "30m")):
            bar = share.bar(i * 3 + j, 100.0 * (e.get(f"answered_{w}_share") or 0.0),
                            color="#4c72b0" if k == "on" else "#999999",
                            alpha=0.55 if w == "10m" else 1.0)
            bar[0].set_gid(f"affinity-{k}-answered-{w}")
        for j, (what, n) in enumerate((("engage_user", e["actions"]),
                                       ("pestering", x.get("pestering", 0)))):
            bar = count.bar(i * 3 + j, n, color="#4c72b0" if k == "on" else "#999999",
                            alpha=1.0 if j == 0 else 0.55)
            bar[0].set_gid(f"affinity-{k}-{what}")
    share.set_xticks([0, 1, 3, 4], ["off, 10 min", "off, 30 min", "on, 10 min", "on, 30 min"])
    share.set_ylim(0, 100)
    share.set_ylabel("% of engage_user answered")
    count.set_xticks([0, 1, 3, 4], ["off: engages", "off: pestering", "on: engages",
                                    "on: pestering"])
    count.set_ylabel("count")
    fig.suptitle("User affinity off and on, same traffic (--compare-affinity)")
    return _svg(fig)


def _tone_plot(tone: dict[str, Any]) -> str:
    from matplotlib.figure import Figure

    runs = [(name, tone[key]) for name, key in (("V2", "v2"), ("V2 tone off", "v2_tone_off"),
                                                ("V1", "v1")) if tone.get(key) is not None]
    kinds = (("playful_in_episodes", "shares + silence-breakers"),
             ("joins_in_episodes", "joins + FOMO"))
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    width = 0.8 / max(len(runs), 1)
    for k, (name, x) in enumerate(runs):
        bars = ax.bar([i - 0.4 + width * (k + 0.5) for i in range(len(kinds))],
                      [x[key] for key, _ in kinds], width=width * 0.95, label=name,
                      color=("#4c72b0", "#8c8c8c", "#c44e52")[k % 3])
        for (key, _), patch in zip(kinds, bars, strict=True):
            patch.set_gid(f"tone-{name.lower().replace(' ', '-')}-{key}")
    ax.set_xticks(range(len(kinds)), [label for _, label in kinds])
    ax.set_ylabel("her actions during episodes")
    ax.set_title(f"Posted into a sad or tense room ({tone['episodes']} tone episodes)")
    ax.legend(fontsize=8)
    return _svg(fig)


def render(report_text: str, data: dict[str, Any], title: str) -> str:
    """The page: the report's text and the three figures, nothing to fetch."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "miku-simulate"}):
        figures = [("hourly", "Per hour of the day", _hourly(data)),
                   ("answered", "Answered by hour", _answered_plot(data)),
                   ("day", "One guild's day", _day_plot(data))]
        if data.get("reactive"):
            figures.append(("reactive", "Answered by a simulated person, by action",
                            _reactive_plot(data["reactive"])))
        if data.get("affinity") and "pestering" in data["affinity"].get("on", {}):
            figures.append(("affinity", "engage_user with user affinity off and on",
                            _affinity_plot(data["affinity"])))
        if data.get("tone"):
            figures.append(("tone", "Posted during tone episodes", _tone_plot(data["tone"])))
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}"
        "pre{font-size:12px;overflow-x:auto;background:#f6f6f6;padding:1em}"
        "figure{margin:2em 0}svg{max-width:100%;height:auto}</style>",
        "</head>", "<body>", f"<h1>{html.escape(title)}</h1>",
    ]
    for fid, caption, svg in figures:
        parts += [f'<figure id="figure-{fid}">', svg,
                  f"<figcaption>{html.escape(caption)}</figcaption>", "</figure>"]
    parts += ['<h2>The report</h2>', f'<pre id="report">{html.escape(report_text)}</pre>',
              "</body>", "</html>", ""]
    return "\n".join(parts)


def write_html(path: str | Path, report_text: str, data: dict[str, Any], title: str) -> None:
    """Write the page to ``path`` (UTF-8)."""
    Path(path).write_text(render(report_text, data, title), encoding="utf-8")
