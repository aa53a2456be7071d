"""What the commands say: values rendered for Discord, the channel answer, ``status``.

Pure functions of what they are given (no discord.py, no I/O), so every answer's wording is
read and tested in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["ADMIN_PERMISSION", "STARTING", "channel_text", "channel_value", "hours_text",
           "quiet_text", "right_now", "status_text", "when"]

#: What admin subcommands need, as Discord's client names it.
ADMIN_PERMISSION = "Manage Server"
STARTING = "She is starting up here: try again in a moment."


def when(epoch: float) -> str:
    """A Discord timestamp: each reader sees it in their own time zone."""
    return f"<t:{int(epoch)}:f> (<t:{int(epoch)}:R>)"


def hours_text(h: float) -> str:
    return f"{h:g} hour{'' if h == 1 else 's'}"


def channel_value(cid: int | None) -> str:
    return f"<#{cid}>" if cid else "none"


def quiet_text(q: Any) -> str:
    return f"{q[0]:02d}:00–{q[1]:02d}:00" if q else "off"


def channel_text(channel_id: int | None, before: int | None, access: tuple[bool, str]) -> str:
    """The answer to ``/miku channel``: what changed and whether she can speak there
    (``access`` is ``channel_access``'s answer for the new channel)."""
    if channel_id is None:
        return (f"Channel cleared (was {channel_value(before)}): she no longer speaks on her "
                "own here, nor answers.")
    text = f"Channel set to {channel_value(channel_id)} (was {channel_value(before)}). "
    can_speak, missing = access
    if not can_speak:
        return text + f"But she is missing {missing} there: until she has it she stays silent."
    return text + "She can read and speak there."


def status_text(desc: dict[str, Any], detail: dict[str, Any] | None) -> str:
    """``/miku status``: her mood, each setting with where it comes from, and what she would
    do now.

    Args:
        desc: ``Settings.describe(guild_id)``.
        detail: the supervisor's ``guild_detail`` (None: the guild has no actor yet).
    """
    mood = (detail or {}).get("mood") or "not seen yet"
    lines = [f"**Mood**: {mood}"]
    if desc["mood"].get("until"):
        lines[0] += f" (held until {when(desc['mood']['until'])})"
    lines.append("**Settings** (where from):")
    shown: dict[str, Callable[[Any], str]] = {
        "channel": channel_value,
        "pause": lambda v: f"until {when(v)}" if v else "no",
        "chattiness": lambda v: f"{v:g}",
        "quiet_hours": quiet_text,
        "timezone": str, "policy": str}
    for key, render in shown.items():
        item = desc[key]
        where = [item["source"]]
        if key == "pause" and item["value"] is None:
            where = []  # not paused: no layer to name
        if item["locked"]:
            where.append("locked")
        lines.append(f"- {key.replace('_', ' ')}: {render(item['value'])}"
                     + (f" ({', '.join(where)})" if where else ""))
    if not desc["enabled"]:
        lines.append("- the bot's config file disables this server")
    lines.append("**Right now**: " + right_now(detail))
    return "\n".join(lines)


def right_now(detail: dict[str, Any] | None) -> str:
    """What she would do now, from the actor's ``guild_detail``, in one sentence."""
    if detail is None:
        return "she has not seen this server yet."
    now = detail.get("now")
    if not isinstance(now, dict):
        wake = detail.get("wake_at")
        return "asleep (no recent activity)" + (
            f"; she looks again {when(wake)}" if wake and math.isfinite(wake) else "") + "."
    if now.get("action"):
        return f"she would {now['action'].replace('_', ' ')}."
    parts = ["nothing"]
    if now.get("blocked_by"):
        parts.append(f"(held back by {now['blocked_by'].replace('_', ' ')})")
    held = []
    for check in now.get("checks") or ():
        failed = [c["name"] for c in check.get("conditions", ()) if not c.get("ok")]
        if failed:
            held.append(f"{check['action'].replace('_', ' ')}: {', '.join(failed)}")
    text = " ".join(parts)
    if held:
        text += "; what holds each back — " + "; ".join(held)
    next_at = now.get("next_at")
    if isinstance(next_at, int | float) and math.isfinite(next_at):
        text += f". She looks again {when(next_at)}"
    return text + "."
