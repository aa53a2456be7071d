"""The V2 decision rules: which action, if any, the persona takes now, and when to look next.

Actions are checked in this order; the first that fires wins:

=================  ==========================================================================
action             fires when (all of)
=================  ==========================================================================
join_conversation  momentum >= ``min(0.9, 0.6 × (2 − sociability))`` · messages since her last
                   appearance >= ``5 + round(35 × max(0, 0.95 − sociability) / 0.75)``
                   (bubbly 5, shy 40) · 5 min since her last action ·
                   roll < ``0.3 + 0.7 × impulsiveness``
engage_user        a human started an activity or joined in the last 20 min and was not engaged
                   for it · 30 min since last action ·
                   roll < ``min(1, 0.2 + 0.6 × sociability + 0.35 if the activity is related)``
fomo_response      messages since appearance >= ``25 + round(15 × max(0, 0.95 − soc) / 0.75)``
                   (bubbly 25, shy 40) · momentum >= 0.25 · 15 min since last action
break_silence      < 5 human messages in the last hour · quiet_for >=
                   ``3600 × (1 + 3 × (1 − energy))`` s (bubbly 78 min, shy 2.8 h) · someone
                   around · outside quiet hours · roll < ``0.25 + 0.75 × energy``
share_tweet        < 10 human messages in the last hour · 1 h since last action · a mood that
                   shares (curious, excited) · someone around · outside quiet hours · not
                   backing off sharing
=================  ==========================================================================

momentum = ``min(1, msgs_5m / 20)``. *Someone around*: a human online, or a human message or
join in the last hour. Every threshold is monotone in its trait, so a more sociable mood never
joins later and a more energetic one never breaks silence later (property-tested).

Gates before any rule: enabled, an autonomous channel, not ``asleep``, nothing pending (a
pending action expires at its deadline), past the cold-start grace, past the failure back-off,
and the minimum gap since the last action.

Rolls come from ``engine.rolls.roll(seed, guild, action salt, epoch minute)``: the same answer
all minute long, whatever arrives meanwhile.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from engine.errors import UnknownTimezoneError
from engine.moods import ASLEEP, MOODS, MoodProfile, profile_for
from engine.rolls import roll
from engine.state import GuildConfig, GuildState, check_time, evict

__all__ = [
    "ACTIONS",
    "AROUND_WINDOW_S",
    "BREAK_SILENCE",
    "ENGAGE_USER",
    "FOMO_RESPONSE",
    "JOIN_CONVERSATION",
    "OPPORTUNITY_WINDOW_S",
    "SHARE_TWEET",
    "Condition",
    "Decision",
    "RuleCheck",
    "Signals",
    "decide",
    "fomo_messages_needed",
    "in_quiet_hours",
    "join_messages_needed",
    "join_momentum_threshold",
    "local_time",
    "signals",
    "silence_threshold_s",
    "zone",
]

JOIN_CONVERSATION = "join_conversation"
ENGAGE_USER = "engage_user"
FOMO_RESPONSE = "fomo_response"
BREAK_SILENCE = "break_silence"
SHARE_TWEET = "share_tweet"
ACTIONS = (JOIN_CONVERSATION, ENGAGE_USER, FOMO_RESPONSE, BREAK_SILENCE, SHARE_TWEET)

JOIN_COOLDOWN_S = 300.0
ENGAGE_COOLDOWN_S = 1800.0
FOMO_COOLDOWN_S = 900.0
SHARE_COOLDOWN_S = 3600.0
OPPORTUNITY_WINDOW_S = 1200.0
AROUND_WINDOW_S = 3600.0
MOMENTUM_FULL_AT = 20
FOMO_MIN_MOMENTUM = 0.25
SILENCE_MAX_MSGS_1H = 5
SHARE_MAX_MSGS_1H = 10

_SALT = {JOIN_CONVERSATION: 1, ENGAGE_USER: 2, FOMO_RESPONSE: 3, BREAK_SILENCE: 4,
         SHARE_TWEET: 5}
_INF = math.inf


def join_momentum_threshold(sociability: float) -> float:
    """Momentum needed to join; capped at 0.9 so every mood can reach it."""
    return min(0.9, 0.6 * (2.0 - sociability))


def join_messages_needed(sociability: float) -> int:
    """Human messages since her last appearance needed to join (bubbly 5, shy 40)."""
    return 5 + round(35 * max(0.0, 0.95 - sociability) / 0.75)


def fomo_messages_needed(sociability: float) -> int:
    """Human messages without her needed for FOMO (bubbly 25, shy 40)."""
    return 25 + round(15 * max(0.0, 0.95 - sociability) / 0.75)


def silence_threshold_s(energy: float) -> float:
    """How long a silence lasts before she breaks it (bubbly 78 min, shy 2.8 h)."""
    return 3600.0 * (1.0 + 3.0 * (1.0 - energy))


def _p_join(p: MoodProfile) -> float:
    return 0.3 + 0.7 * p.impulsiveness


def _p_engage(p: MoodProfile, related: bool) -> float:
    return min(1.0, 0.2 + 0.6 * p.sociability + (0.35 if related else 0.0))


def _p_silence(p: MoodProfile) -> float:
    return 0.25 + 0.75 * p.energy


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name. Raises ``UnknownTimezoneError``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise UnknownTimezoneError(name) from None


def local_time(cfg: GuildConfig, now: float) -> datetime:
    """The guild's local wall-clock time at ``now``."""
    return datetime.fromtimestamp(now, zone(cfg.timezone))


def in_quiet_hours(cfg: GuildConfig, now: float) -> tuple[bool, float]:
    """Whether ``now`` is inside the guild's quiet hours, and when they end (epoch seconds;
    approximate across a DST change, never later than an hour off)."""
    if cfg.quiet_hours is None:
        return False, 0.0
    start, end = cfg.quiet_hours
    t = local_time(cfg, now)
    h = t.hour
    inside = (start <= h < end) if start <= end else (h >= start or h < end)
    if not inside:
        return False, 0.0
    hours_left = (end - h) % 24
    ends_at = now + hours_left * 3600 - t.minute * 60 - t.second - t.microsecond / 1e6
    return True, ends_at


class Condition(msgspec.Struct, frozen=True, gc=False):
    """One condition of a rule: its name, whether it held, the value seen, what was needed."""

    name: str
    ok: bool
    value: float | int | str | bool | None
    need: str


class RuleCheck(msgspec.Struct, frozen=True, gc=False):
    """How one action's rule came out."""

    action: str
    fired: bool
    conditions: tuple[Condition, ...]


class Signals(msgspec.Struct, frozen=True, gc=False):
    """The guild's signals at one moment (None for "never")."""

    mood: str
    msgs_5m: int
    msgs_1h: int
    momentum: float
    messages_since_appearance: int
    since_last_action: float | None
    quiet_for: float
    online: int
    someone_around: bool
    local_hour: int
    weekend: bool


class Decision(msgspec.Struct, frozen=True, gc=False):
    """The outcome of asking the engine at ``at``.

    ``action`` is None for a non-decision; ``blocked_by`` then names the gate that stopped
    every rule, if one did. ``next_at`` is when to look next: the earliest time a gate could
    open with no new event (``inf`` if nothing would change by itself). ``signals``, ``gates``
    and ``checks`` are filled only when asked to explain.
    """

    action: str | None
    at: float
    next_at: float
    policy: str = "v2"
    blocked_by: str | None = None
    target_user_id: int | None = None
    target_activity: str | None = None
    target_kind: str | None = None
    signals: Signals | None = None
    gates: tuple[Condition, ...] = ()
    checks: tuple[RuleCheck, ...] = ()


def _quiet_start(state: GuildState) -> float:
    return max(state.last_human_at, state.last_action_at, state.observed_since)


def _someone_around(state: GuildState, now: float) -> bool:
    return bool(state.online) or (
        state.last_human_at > 0 and now - state.last_human_at < AROUND_WINDOW_S
    ) or (state.last_join_at > 0 and now - state.last_join_at < AROUND_WINDOW_S)


def signals(state: GuildState, cfg: GuildConfig, now: float) -> Signals:
    """The signals of ``state`` at ``now`` (for explanations and inspection)."""
    check_time(now)
    evict(state, int(now))
    t = local_time(cfg, now)
    return Signals(
        mood=state.mood,
        msgs_5m=state.sum_5m,
        msgs_1h=state.sum_1h,
        momentum=min(1.0, state.sum_5m / MOMENTUM_FULL_AT),
        messages_since_appearance=state.messages_since_appearance,
        since_last_action=(now - state.last_action_at) if state.last_action_at > 0 else None,
        quiet_for=max(0.0, now - _quiet_start(state)),
        online=len(state.online),
        someone_around=_someone_around(state, now),
        local_hour=t.hour,
        weekend=t.weekday() >= 5,
    )


def _engaged_key(user_id: int, activity: str | None) -> str:
    return f"{user_id}:{activity.casefold()}" if activity else f"{user_id}:join"


def _best_opportunity(state: GuildState, now: float) -> tuple[int, str | None, bool] | None:
    """The opportunity to engage: related activities first, then the most recent."""
    opps = state.opportunities
    if not opps:
        return None
    # Expired opportunities are dropped here, so the list stays short without a timer.
    if now - opps[0].at > OPPORTUNITY_WINDOW_S:
        opps[:] = [o for o in opps if now - o.at <= OPPORTUNITY_WINDOW_S]
    best = None
    engaged = state.engaged
    for o in opps:
        if _engaged_key(o.user_id, o.activity) in engaged:
            continue
        if best is None or (o.related, o.at) >= (best.related, best.at):
            best = o
    if best is None:
        return None
    return best.user_id, best.activity, best.related


def decide(state: GuildState, cfg: GuildConfig, now: float, seed: int,
           explain: bool = False) -> Decision:
    """Decide whether the persona acts now, by the V2 rules.

    Args:
        state: the guild's state; updated in place only to expire what time has expired
            (window buckets, a pending action past its deadline, stale opportunities).
        cfg: the guild's settings.
        now: epoch seconds.
        seed: the engine's seed; with ``state`` and ``now`` it fixes the answer.
        explain: also fill ``signals``, ``gates`` and every rule's conditions.

    Returns:
        A ``Decision``; it does not record the action (see ``engine.record``).

    Raises:
        InvalidTimeError: ``now`` is negative or not finite.
        UnknownMoodError, UnknownTimezoneError: the state or config is invalid.
    """
    if not 0.0 <= now < _INF:
        check_time(now)
    profile = MOODS.get(state.mood) or profile_for(state.mood)
    now_sec = int(now)
    evict(state, now_sec)
    if state.pending_action is not None and now >= state.pending_deadline:
        state.pending_action = None  # expired: treated as failed, without back-off
    next_at = state.next_rotation_at if cfg.rotate_moods and state.next_rotation_at > now \
        else _INF

    # --- gates ---------------------------------------------------------------------------
    blocked: str | None = None
    gate_open = _INF
    last = state.last_action_at
    since = now - last if last > 0 else _INF
    if not cfg.enabled:
        blocked = "disabled"
    elif not cfg.has_channel:
        blocked = "no_autonomous_channel"
    elif profile.name == ASLEEP:
        blocked = "asleep"
    elif state.pending_action is not None:
        blocked, gate_open = "pending", state.pending_deadline
    elif now < state.grace_until:
        blocked, gate_open = "startup_grace", state.grace_until
    elif now < state.backoff_until:
        blocked, gate_open = "failure_backoff", state.backoff_until
    elif since < cfg.min_gap_s:
        blocked, gate_open = "min_gap", last + cfg.min_gap_s
    if blocked is not None and not explain:
        return Decision(None, now, min(next_at, gate_open), blocked_by=blocked)

    minute = now_sec // 60
    next_minute = (minute + 1) * 60.0
    gid = state.guild_id
    momentum = min(1.0, state.sum_5m / MOMENTUM_FULL_AT)
    msa = state.messages_since_appearance
    soc = profile.sociability
    action: str | None = None
    target: tuple[int, str | None, bool] | None = None
    checks: list[RuleCheck] = []
    quiet_cache: list[tuple[bool, float]] = []

    def quiet() -> tuple[bool, float]:
        if not quiet_cache:
            quiet_cache.append(in_quiet_hours(cfg, now))
        return quiet_cache[0]

    # --- join_conversation ----------------------------------------------------------------
    thr = join_momentum_threshold(soc)
    need = join_messages_needed(soc)
    ok_mom = momentum >= thr
    ok_msgs = msa >= need
    ok_cool = since >= JOIN_COOLDOWN_S
    if (ok_mom and ok_msgs) or explain:
        r = roll(seed, gid, _SALT[JOIN_CONVERSATION], minute)
        p = _p_join(profile)
        fired = ok_mom and ok_msgs and ok_cool and r < p
        if fired:
            action = JOIN_CONVERSATION
        elif ok_mom and ok_msgs:
            next_at = min(next_at, last + JOIN_COOLDOWN_S if not ok_cool else next_minute)
        if explain:
            checks.append(RuleCheck(JOIN_CONVERSATION, fired and blocked is None, (
                Condition("momentum", ok_mom, round(momentum, 3), f">= {thr:.3f}"),
                Condition("messages_since_appearance", ok_msgs, msa, f">= {need}"),
                Condition("since_last_action", ok_cool, _num(since), f">= {JOIN_COOLDOWN_S:g}"),
                Condition("impulsiveness_roll", r < p, round(r, 4), f"< {p:.3f}"),
            )))
    if action is not None and not explain:
        return Decision(action, now, next_at)

    # --- engage_user ----------------------------------------------------------------------
    opp = _best_opportunity(state, now)
    ok_cool = since >= ENGAGE_COOLDOWN_S
    if opp is not None or explain:
        related = opp is not None and opp[2]
        r = roll(seed, gid, _SALT[ENGAGE_USER], minute)
        p = _p_engage(profile, related)
        fired = opp is not None and ok_cool and r < p
        if fired and action is None:
            action, target = ENGAGE_USER, opp
        elif opp is not None and not fired:
            next_at = min(next_at, last + ENGAGE_COOLDOWN_S if not ok_cool else next_minute)
        if explain:
            checks.append(RuleCheck(ENGAGE_USER, fired and action == ENGAGE_USER
                                    and blocked is None, (
                Condition("new_activity_or_join", opp is not None,
                          None if opp is None else f"user {opp[0]}: {opp[1] or 'joined'}",
                          "an un-engaged one in the last 20 min"),
                Condition("since_last_action", ok_cool, _num(since),
                          f">= {ENGAGE_COOLDOWN_S:g}"),
                Condition("sociability_roll", r < p, round(r, 4),
                          f"< {p:.3f}" + (" (related activity)" if related else "")),
            )))
    if action is not None and not explain:
        return _with_target(action, now, next_at, target)

    # --- fomo_response --------------------------------------------------------------------
    need = fomo_messages_needed(soc)
    ok_msgs = msa >= need
    ok_active = momentum >= FOMO_MIN_MOMENTUM
    ok_cool = since >= FOMO_COOLDOWN_S
    fired = ok_msgs and ok_active and ok_cool
    if fired and action is None:
        action = FOMO_RESPONSE
    elif ok_msgs and ok_active and not ok_cool:
        next_at = min(next_at, last + FOMO_COOLDOWN_S)
    if explain:
        checks.append(RuleCheck(FOMO_RESPONSE, fired and action == FOMO_RESPONSE
                                and blocked is None, (
            Condition("messages_since_appearance", ok_msgs, msa, f">= {need}"),
            Condition("momentum", ok_active, round(momentum, 3), f">= {FOMO_MIN_MOMENTUM}"),
            Condition("since_last_action", ok_cool, _num(since), f">= {FOMO_COOLDOWN_S:g}"),
        )))
    if action is not None and not explain:
        return Decision(action, now, next_at)

    # --- break_silence --------------------------------------------------------------------
    h1 = state.sum_1h
    ok_msgs = h1 < SILENCE_MAX_MSGS_1H
    quiet_since = _quiet_start(state)
    threshold = silence_threshold_s(profile.energy)
    quiet_for = now - quiet_since
    ok_quiet = quiet_for >= threshold
    if not ok_quiet:
        next_at = min(next_at, quiet_since + threshold)
    elif not ok_msgs:
        next_at = min(next_at, _drop_below(state, SILENCE_MAX_MSGS_1H))
    if (ok_msgs and ok_quiet) or explain:
        around = _someone_around(state, now)
        in_quiet, quiet_end = quiet()
        r = roll(seed, gid, _SALT[BREAK_SILENCE], minute)
        p = _p_silence(profile)
        fired = ok_msgs and ok_quiet and around and not in_quiet and r < p
        if fired and action is None:
            action = BREAK_SILENCE
        elif ok_msgs and ok_quiet and not fired:
            if in_quiet:
                next_at = min(next_at, quiet_end)
            elif around:
                next_at = min(next_at, next_minute)
        if explain:
            checks.append(RuleCheck(BREAK_SILENCE, fired and action == BREAK_SILENCE
                                    and blocked is None, (
                Condition("msgs_1h", ok_msgs, h1, f"< {SILENCE_MAX_MSGS_1H}"),
                Condition("quiet_for", ok_quiet, round(quiet_for, 1), f">= {threshold:g}"),
                Condition("someone_around", around, around, "True"),
                Condition("quiet_hours", not in_quiet, in_quiet, "False"),
                Condition("energy_roll", r < p, round(r, 4), f"< {p:.3f}"),
            )))
    if action is not None and not explain:
        return Decision(action, now, next_at)

    # --- share_tweet ----------------------------------------------------------------------
    ok_msgs = h1 < SHARE_MAX_MSGS_1H
    ok_cool = since >= SHARE_COOLDOWN_S
    ok_backoff = now >= state.share_backoff_until
    if profile.shares or explain:
        if profile.shares:
            if not ok_cool:
                next_at = min(next_at, last + SHARE_COOLDOWN_S)
            if not ok_backoff:
                next_at = min(next_at, state.share_backoff_until)
            if not ok_msgs:
                next_at = min(next_at, _drop_below(state, SHARE_MAX_MSGS_1H))
        around = _someone_around(state, now)
        in_quiet, quiet_end = quiet() if (profile.shares and ok_msgs and ok_cool) or explain \
            else (False, 0.0)
        fired = (profile.shares and ok_msgs and ok_cool and ok_backoff and around
                 and not in_quiet)
        if fired and action is None:
            action = SHARE_TWEET
        elif in_quiet and profile.shares:
            next_at = min(next_at, quiet_end)
        if explain:
            checks.append(RuleCheck(SHARE_TWEET, fired and action == SHARE_TWEET
                                    and blocked is None, (
                Condition("msgs_1h", ok_msgs, h1, f"< {SHARE_MAX_MSGS_1H}"),
                Condition("since_last_action", ok_cool, _num(since),
                          f">= {SHARE_COOLDOWN_S:g}"),
                Condition("mood_shares", profile.shares, profile.name, "curious or excited"),
                Condition("someone_around", around, around, "True"),
                Condition("quiet_hours", not in_quiet, in_quiet, "False"),
                Condition("share_backoff", ok_backoff, _num(state.share_backoff_until - now),
                          "<= 0"),
            )))

    if not explain:
        return _with_target(action, now, next_at, target)

    if blocked is not None:
        action, target, next_at = None, None, min(next_at, gate_open)
    return Decision(
        action, now, next_at, blocked_by=blocked,
        target_user_id=target[0] if target else None,
        target_activity=target[1] if target else None,
        target_kind=("activity" if target[1] else "join") if target else None,
        signals=signals(state, cfg, now),
        gates=_gates(state, cfg, profile, now, since),
        checks=tuple(checks),
    )


def _with_target(action: str | None, now: float, next_at: float,
                 target: tuple[int, str | None, bool] | None) -> Decision:
    if target is None:
        return Decision(action, now, next_at)
    return Decision(action, now, next_at, target_user_id=target[0], target_activity=target[1],
                    target_kind="activity" if target[1] else "join")


def _num(x: float) -> float | None:
    return None if math.isinf(x) else round(x, 1)


def _drop_below(state: GuildState, limit: int) -> float:
    """When the hour window's count drops below ``limit`` if no message arrives."""
    s = state.sum_1h
    secs, counts = state.b_secs, state.b_counts
    for i in range(state.head_1h, len(secs)):
        if s < limit:
            break
        s -= counts[i]
        if s < limit:
            return secs[i] + 3600.0 + 1.0
    return _INF


def _gates(state: GuildState, cfg: GuildConfig, profile: MoodProfile, now: float,
           since: float) -> tuple[Condition, ...]:
    return (
        Condition("enabled", cfg.enabled, cfg.enabled, "True"),
        Condition("autonomous_channel", cfg.has_channel, cfg.has_channel, "True"),
        Condition("awake", profile.name != ASLEEP, profile.name, f"not {ASLEEP}"),
        Condition("nothing_pending", state.pending_action is None, state.pending_action,
                  "None"),
        Condition("startup_grace", now >= state.grace_until,
                  round(max(0.0, state.grace_until - now), 1), "0"),
        Condition("failure_backoff", now >= state.backoff_until,
                  round(max(0.0, state.backoff_until - now), 1), "0"),
        Condition("min_gap", since >= cfg.min_gap_s, _num(since), f">= {cfg.min_gap_s:g}"),
    )
