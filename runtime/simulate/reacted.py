"""The report's ``reactive.reactions`` part: her emoji reactions (``react``) and what they drew.

Per run (V2; V1 never reacts): how many reactions per guild-day, and the share that drew an
answer from a simulated person (``--reactive``: only the author of the message she reacted
to answers, by a message or a reaction back; ``people``) within each of
``answered.ANSWER_WINDOWS_S``, with how many of those answers were reactions back.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from runtime.simulate.answered import ANSWER_WINDOWS_S
from runtime.simulate.setup import RunResult

__all__ = ["reactions_report"]


def reactions_report(result: RunResult, guild_days: float | None,
                     guilds: Collection[int] | None = None) -> dict[str, Any]:
    """One run's reactions: ``{"reactions", "per_guild_day", "answered_10m_share",
    "answered_30m_share", "answered_by_reaction", "answered_by_message"}``."""
    mine = [r for r in result.sent if r.action == "react" and r.priority > 0
            and (guilds is None or r.guild_id in guilds)]
    first: dict[tuple[int, float], tuple[float, str]] = {}
    for a in result.answers:
        if a.action != "react" or (guilds is not None and a.guild_id not in guilds):
            continue
        key = (a.guild_id, a.action_at)
        delay = a.at - a.action_at
        if key not in first or delay < first[key][0]:
            first[key] = (delay, a.kind)
    n = len(mine)
    out: dict[str, Any] = {
        "reactions": n,
        "per_guild_day": round(n / guild_days, 3) if guild_days else None,
    }
    for w in ANSWER_WINDOWS_S:
        k = sum(1 for r in mine if first.get((r.guild_id, r.at), (w + 1, ""))[0] <= w)
        out[f"answered_{w / 60:g}m_share"] = round(k / n, 4) if n else None
    drawn = [first[(r.guild_id, r.at)][1] for r in mine if (r.guild_id, r.at) in first]
    out["answered_by_reaction"] = drawn.count("reaction")
    out["answered_by_message"] = drawn.count("message")
    return out
