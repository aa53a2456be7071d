"""The gates every autonomous action passes before any rule is looked at.

In order: enabled, a channel, chattiness above 0, awake, nothing pending, the start-up
grace, the failure back-off, the minimum gap, quiet hours, the daily cap. The first that is
closed blocks the decision, and when it opens is when to look next. ``engine.rules`` asks
``check_gates``; with ``explain`` it also lists every gate (``explain_gates``).
"""

from __future__ import annotations

import math

from engine.decision import Condition, num
from engine.localtime import in_quiet_hours
from engine.moods import ASLEEP, MoodProfile
from engine.state import GuildConfig, GuildState

__all__ = ["DAY_S", "check_gates", "day_cap_opens", "explain_gates"]

DAY_S = 86400.0
_INF = math.inf


def check_gates(state: GuildState, cfg: GuildConfig, profile: MoodProfile, now: float
                ) -> tuple[str | None, float, tuple[bool, float] | None]:
    """``(blocked_by, opens_at, quiet)``: the first closed gate's name (None: all open),
    when it opens (``inf``: not by itself), and the quiet-hours answer if it was asked.

    Every wait is compared as "now >= start + wait", the very sum reported as when it opens,
    so float rounding can never make that a moment at which the wait is still not over.
    """
    acted = state.last_action_at  # "never" is -inf: every wait since it is over
    if not cfg.enabled:
        return "disabled", _INF, None
    if not cfg.has_channel:
        return "no_autonomous_channel", _INF, None
    if cfg.chattiness <= 0.0:
        return "chattiness_zero", _INF, None
    if profile.name == ASLEEP:
        return "asleep", _INF, None
    if state.pending_action is not None:
        return "pending", state.pending_deadline, None
    if now < state.grace_until:
        return "startup_grace", state.grace_until, None
    if now < state.backoff_until:
        return "failure_backoff", state.backoff_until, None
    if now < acted + cfg.min_gap_s:
        return "min_gap", acted + cfg.min_gap_s, None
    quiet = in_quiet_hours(cfg, now)
    if quiet[0]:
        return "quiet_hours", quiet[1], quiet
    if cfg.max_actions_per_day is not None:
        opens = day_cap_opens(state, now, cfg.max_actions_per_day)
        if opens > now:
            return "daily_cap", opens, quiet
    return None, _INF, quiet


def day_cap_opens(state: GuildState, now: float, cap: int) -> float:
    """When the 24-hour action count drops under ``cap`` (``now`` or earlier if it is under;
    ``inf`` for a cap of 0). Drops the times older than a day."""
    day = state.day_actions
    if day and day[0] <= now - DAY_S:
        day[:] = [t for t in day if t > now - DAY_S]
    if len(day) < cap:
        return -_INF
    if cap == 0:
        return _INF
    return day[len(day) - cap] + DAY_S


def explain_gates(state: GuildState, cfg: GuildConfig, profile: MoodProfile, now: float,
                  since: float, in_quiet: bool) -> tuple[Condition, ...]:
    """Every gate as a condition (value and threshold), for ``explain``."""
    acted = state.last_action_at
    cap = cfg.max_actions_per_day
    return (
        Condition("enabled", cfg.enabled, cfg.enabled, "True"),
        Condition("autonomous_channel", cfg.has_channel, cfg.has_channel, "True"),
        Condition("chattiness", cfg.chattiness > 0, cfg.chattiness, "> 0"),
        Condition("awake", profile.name != ASLEEP, profile.name, f"not {ASLEEP}"),
        Condition("nothing_pending", state.pending_action is None, state.pending_action,
                  "None"),
        Condition("startup_grace", now >= state.grace_until,
                  round(max(0.0, state.grace_until - now), 1), "0"),
        Condition("failure_backoff", now >= state.backoff_until,
                  round(max(0.0, state.backoff_until - now), 1), "0"),
        Condition("min_gap", now >= acted + cfg.min_gap_s, num(since),
                  f">= {cfg.min_gap_s:g}"),
        Condition("quiet_hours", not in_quiet, in_quiet, "False"),
        Condition("daily_cap", cap is None or day_cap_opens(state, now, cap) <= now,
                  len(state.day_actions), "no cap" if cap is None else f"< {cap} in 24 h"),
    )
