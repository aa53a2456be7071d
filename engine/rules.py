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
                   for it · 30 min since last action · the opportunity's one roll <
                   ``min(1, 0.55 + 0.6 × soc)`` for an activity related to the persona,
                   ``min(1, 0.35 + 0.7 × soc)`` for a join, ``0.05 + 0.45 × soc`` for any
                   other activity (a sociable mood greets a related game or a newcomer
                   always, Tetris about half the time; shy: 67%, 49%, 14%)
fomo_response      messages since appearance >= ``25 + round(15 × max(0, 0.95 − soc) / 0.75)``
                   (bubbly 25, shy 40) · momentum >= 0.25 · 15 min since last action
break_silence      < 5 human messages in the last hour · quiet_for >=
                   ``round(3600 × (1 + 3 × (1 − energy)))`` s (bubbly 78 min, shy 2.8 h) · someone
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
all minute long, whatever arrives meanwhile. (The moods' table in ``engine.moods`` lists what
these formulas give for each mood.)

When to look next (``Decision.next_at``): with no new event, the earliest of a gate's end, a
cooldown's end, the silence threshold being reached, the hour's count dropping under 5 / 10,
the quiet hours' end, the next minute's roll (when a rule waits only on its roll) and the next
mood rotation. Every wait is compared as ``now >= start + wait``, the very sum reported, so an
actor that sleeps until ``next_at`` acts at exactly the moment one asking every second would
(property-tested against per-second stepping).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NoReturn

import msgspec

from engine.engage import best_opportunity as _best_opportunity
from engine.engage import engage_chance, engage_roll
from engine.localtime import in_quiet_hours
from engine.moods import ASLEEP, MOODS, MoodProfile, profile_for
from engine.rolls import roll
from engine.signals import (
    MOMENTUM_FULL_AT,
    Signals,
    count_drops_below_at,
    quiet_since,
    signals,
    someone_around,
)
from engine.state import GuildConfig, GuildState, Opportunity, check_time, evict

__all__ = [
    "ACTIONS",
    "BREAK_SILENCE",
    "ENGAGE_USER",
    "FOMO_RESPONSE",
    "JOIN_CONVERSATION",
    "SHARE_TWEET",
    "Condition",
    "Decision",
    "Params",
    "RuleCheck",
    "decide",
    "fomo_messages_needed",
    "join_messages_needed",
    "join_momentum_threshold",
    "params_for",
    "silence_threshold_s",
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
FOMO_MIN_MOMENTUM = 0.25
SILENCE_MAX_MSGS_1H = 5
SHARE_MAX_MSGS_1H = 10

# Roll salts, one per rolled action: part of determinism, never renumber.
_SALT_JOIN = 1
_SALT_SILENCE = 4
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
    """How long a silence lasts before she breaks it, in whole seconds (bubbly 78 min, shy
    2.8 h). Whole seconds keep "a silence of exactly the threshold" free of float dust."""
    return float(round(3600.0 * (1.0 + 3.0 * (1.0 - energy))))


class Params(msgspec.Struct, frozen=True, gc=False):
    """A mood's thresholds and chances, worked out once per profile (see the table above)."""

    join_momentum: float
    join_messages: int
    p_join: float
    fomo_messages: int
    silence_s: float
    p_silence: float
    p_engage: float
    p_engage_related: float
    p_engage_join: float


@lru_cache(maxsize=256)
def params_for(p: MoodProfile) -> Params:
    """The thresholds and chances the rules use for mood profile ``p``."""
    soc = p.sociability
    return Params(
        join_momentum=join_momentum_threshold(soc),
        join_messages=join_messages_needed(soc),
        p_join=0.3 + 0.7 * p.impulsiveness,
        fomo_messages=fomo_messages_needed(soc),
        silence_s=silence_threshold_s(p.energy),
        p_silence=0.25 + 0.75 * p.energy,
        p_engage=0.05 + 0.45 * soc,
        p_engage_related=min(1.0, 0.55 + 0.6 * soc),
        p_engage_join=min(1.0, 0.35 + 0.7 * soc),
    )


#: mood name -> (profile, params), so a decision looks its mood up once.
_BY_MOOD: dict[str, tuple[MoodProfile, Params]] = {
    name: (p, params_for(p)) for name, p in MOODS.items()
}


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


def decide(state: GuildState, cfg: GuildConfig, now: float, seed: int,
           explain: bool = False, *, profile: MoodProfile | None = None) -> Decision:
    """Decide whether the persona acts now, by the V2 rules.

    Args:
        state: the guild's state; updated in place only to expire what time has expired
            (window buckets, a pending action past its deadline, stale opportunities).
        cfg: the guild's settings.
        now: epoch seconds.
        seed: the engine's seed; with ``state`` and ``now`` it fixes the answer.
        explain: also fill ``signals``, ``gates`` and every rule's conditions. The action,
            target, ``blocked_by`` and ``next_at`` are the same either way.
        profile: decide with these traits instead of those of ``state.mood`` (what-if
            questions, property tests); the ``asleep`` gate still reads ``profile.name``.

    Returns:
        A ``Decision``; it does not record the action (see ``engine.record``). When
        ``action`` is None, ``next_at`` is later than ``now`` and no action can fire before
        it unless an event arrives.

    Raises:
        InvalidTimeError: ``now`` is negative or not finite.
        UnknownMoodError, UnknownTimezoneError: the state or config is invalid.
    """
    if not 0.0 <= now < _INF:
        check_time(now)
    if profile is None:
        entry = _BY_MOOD.get(state.mood)
        profile, par = entry if entry is not None else _unknown_mood(state.mood)
    else:
        par = params_for(profile)
    now_sec = int(now)
    evict(state, now_sec)
    if state.pending_action is not None and now >= state.pending_deadline:
        state.pending_action = None  # expired: treated as failed, without back-off
    rotation = state.next_rotation_at
    base_next = rotation if cfg.rotate_moods and rotation > now else _INF

    # --- gates ---------------------------------------------------------------------------
    blocked: str | None = None
    gate_open = _INF
    last = state.last_action_at
    since = now - last if last > 0 else _INF
    # Every wait is compared as "now >= start + wait", the very sum next_at reports, so float
    # rounding can never make next_at a moment at which the wait is still not over.
    acted = last if last > 0 else -_INF
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
    elif now < acted + cfg.min_gap_s:
        blocked, gate_open = "min_gap", last + cfg.min_gap_s
    if blocked is not None and not explain:
        return Decision(None, now, min(base_next, gate_open), blocked_by=blocked)

    next_at = base_next
    minute = now_sec // 60
    next_minute = (minute + 1) * 60.0
    gid = state.guild_id
    sum_5m = state.sum_5m
    momentum = sum_5m / MOMENTUM_FULL_AT if sum_5m < MOMENTUM_FULL_AT else 1.0
    msa = state.messages_since_appearance
    action: str | None = None
    target: Opportunity | None = None
    checks: list[RuleCheck] = []
    fire_next = _INF  # with explain: next_at as it stood when the action fired

    # --- join_conversation ----------------------------------------------------------------
    # With no new message momentum only falls and the count stays, so once these two fail
    # the rule cannot fire by itself: nothing to look forward to.
    ok_mom = momentum >= par.join_momentum
    ok_msgs = msa >= par.join_messages
    if (ok_mom and ok_msgs) or explain:
        ok_cool = now >= acted + JOIN_COOLDOWN_S
        # A roll costs more than the rest of the rule: draw it only when it decides.
        r = roll(seed, gid, _SALT_JOIN, minute) if ok_cool or explain else 1.0
        fired = ok_mom and ok_msgs and ok_cool and r < par.p_join
        if fired:
            if not explain:
                return Decision(JOIN_CONVERSATION, now, next_at)
            action, fire_next = JOIN_CONVERSATION, next_at
        elif ok_mom and ok_msgs:
            next_at = min(next_at, next_minute if ok_cool else last + JOIN_COOLDOWN_S)
        if explain:
            checks.append(RuleCheck(JOIN_CONVERSATION, fired and blocked is None, (
                Condition("momentum", ok_mom, round(momentum, 3), f">= {par.join_momentum:.3f}"),
                Condition("messages_since_appearance", ok_msgs, msa, f">= {par.join_messages}"),
                Condition("since_last_action", ok_cool, _num(since), f">= {JOIN_COOLDOWN_S:g}"),
                Condition("impulsiveness_roll", r < par.p_join, round(r, 4),
                          f"< {par.p_join:.3f}"),
            )))

    # --- engage_user ----------------------------------------------------------------------
    opp = _best_opportunity(state, now, seed, par)
    if opp is None and explain:
        opp_seen = _best_opportunity(state, now)  # to explain a roll that did not come out
    else:
        opp_seen = opp
    if opp is not None or explain:
        ok_cool = now >= acted + ENGAGE_COOLDOWN_S
        related = opp_seen is not None and opp_seen.related
        r = engage_roll(seed, gid, opp_seen) if opp_seen is not None else 1.0
        p = engage_chance(par, opp_seen) if opp_seen is not None else par.p_engage
        fired = opp is not None and ok_cool
        if fired and action is None and opp is not None:
            if not explain:
                return _engage(now, next_at, opp)
            action, target, fire_next = ENGAGE_USER, opp, next_at
        elif opp is not None:  # its roll came out: it fires once the cooldown ends
            next_at = min(next_at, last + ENGAGE_COOLDOWN_S)
        if explain:
            checks.append(RuleCheck(ENGAGE_USER, fired and action == ENGAGE_USER
                                    and blocked is None, (
                Condition("new_activity_or_join", opp_seen is not None,
                          None if opp_seen is None else f"user {opp_seen.user_id}: "
                          f"{opp_seen.activity or 'joined'}",
                          "an un-engaged one in the last 20 min"),
                Condition("since_last_action", ok_cool, _num(since),
                          f">= {ENGAGE_COOLDOWN_S:g}"),
                Condition("sociability_roll", r < p, round(r, 4),
                          f"< {p:.3f}" + (" (related activity)" if related else "")),
            )))

    # --- fomo_response --------------------------------------------------------------------
    ok_msgs = msa >= par.fomo_messages
    ok_active = momentum >= FOMO_MIN_MOMENTUM
    ok_cool = now >= acted + FOMO_COOLDOWN_S
    fired = ok_msgs and ok_active and ok_cool
    if fired and action is None:
        if not explain:
            return Decision(FOMO_RESPONSE, now, next_at)
        action, fire_next = FOMO_RESPONSE, next_at
    elif ok_msgs and ok_active and not ok_cool:
        next_at = min(next_at, last + FOMO_COOLDOWN_S)
    if explain:
        checks.append(RuleCheck(FOMO_RESPONSE, fired and action == FOMO_RESPONSE
                                and blocked is None, (
            Condition("messages_since_appearance", ok_msgs, msa, f">= {par.fomo_messages}"),
            Condition("momentum", ok_active, round(momentum, 3), f">= {FOMO_MIN_MOMENTUM}"),
            Condition("since_last_action", ok_cool, _num(since), f">= {FOMO_COOLDOWN_S:g}"),
        )))

    # --- break_silence --------------------------------------------------------------------
    h1 = state.sum_1h
    ok_msgs = h1 < SILENCE_MAX_MSGS_1H
    silent_from = quiet_since(state)
    quiet_for = now - silent_from
    ok_quiet = now >= silent_from + par.silence_s
    if not ok_quiet:
        next_at = min(next_at, silent_from + par.silence_s)
    elif not ok_msgs:
        next_at = min(next_at, count_drops_below_at(state, SILENCE_MAX_MSGS_1H))
    quiet: tuple[bool, float] | None = None
    if (ok_msgs and ok_quiet) or explain:
        around = someone_around(state, now)
        quiet = in_quiet_hours(cfg, now)
        in_quiet, quiet_end = quiet
        r = (roll(seed, gid, _SALT_SILENCE, minute) if (around and not in_quiet) or explain
             else 1.0)
        fired = ok_msgs and ok_quiet and around and not in_quiet and r < par.p_silence
        if fired and action is None:
            if not explain:
                return Decision(BREAK_SILENCE, now, next_at)
            action, fire_next = BREAK_SILENCE, next_at
        elif ok_msgs and ok_quiet and not fired:
            # Nobody around stays so without an event; quiet hours end; a roll is per minute.
            if in_quiet:
                next_at = min(next_at, quiet_end)
            elif around:
                next_at = min(next_at, next_minute)
        if explain:
            checks.append(RuleCheck(BREAK_SILENCE, fired and action == BREAK_SILENCE
                                    and blocked is None, (
                Condition("msgs_1h", ok_msgs, h1, f"< {SILENCE_MAX_MSGS_1H}"),
                Condition("quiet_for", ok_quiet, round(quiet_for, 1), f">= {par.silence_s:g}"),
                Condition("someone_around", around, around, "True"),
                Condition("quiet_hours", not in_quiet, in_quiet, "False"),
                Condition("energy_roll", r < par.p_silence, round(r, 4),
                          f"< {par.p_silence:.3f}"),
            )))

    # --- share_tweet ----------------------------------------------------------------------
    shares = profile.shares
    if shares or explain:
        ok_msgs = h1 < SHARE_MAX_MSGS_1H
        ok_cool = now >= acted + SHARE_COOLDOWN_S
        ok_backoff = now >= state.share_backoff_until
        if shares:
            if not ok_cool:
                next_at = min(next_at, last + SHARE_COOLDOWN_S)
            if not ok_backoff:
                next_at = min(next_at, state.share_backoff_until)
            if not ok_msgs:
                next_at = min(next_at, count_drops_below_at(state, SHARE_MAX_MSGS_1H))
        around = someone_around(state, now)
        if quiet is None and ((shares and ok_msgs and ok_cool) or explain):
            quiet = in_quiet_hours(cfg, now)
        in_quiet, quiet_end = quiet if quiet is not None else (False, 0.0)
        fired = shares and ok_msgs and ok_cool and ok_backoff and around and not in_quiet
        if fired and action is None:
            action, fire_next = SHARE_TWEET, next_at
        elif in_quiet and shares:
            next_at = min(next_at, quiet_end)
        if explain:
            checks.append(RuleCheck(SHARE_TWEET, fired and action == SHARE_TWEET
                                    and blocked is None, (
                Condition("msgs_1h", ok_msgs, h1, f"< {SHARE_MAX_MSGS_1H}"),
                Condition("since_last_action", ok_cool, _num(since),
                          f">= {SHARE_COOLDOWN_S:g}"),
                Condition("mood_shares", shares, profile.name, "curious or excited"),
                Condition("someone_around", around, around, "True"),
                Condition("quiet_hours", not in_quiet, in_quiet, "False"),
                Condition("share_backoff", ok_backoff, _num(state.share_backoff_until - now),
                          "<= 0"),
            )))

    if not explain:
        return Decision(action, now, next_at)

    if blocked is not None:
        # The same answer as without explain: the gate decides, and the gate's end is when
        # to look next.
        action, target, next_at = None, None, min(base_next, gate_open)
    elif action is not None:
        next_at = fire_next
    return Decision(
        action, now, next_at, blocked_by=blocked,
        target_user_id=target.user_id if target else None,
        target_activity=target.activity if target else None,
        target_kind=("activity" if target.activity else "join") if target else None,
        signals=signals(state, cfg, now),
        gates=_gates(state, cfg, profile, now, since, acted),
        checks=tuple(checks),
    )


def _unknown_mood(mood: str) -> NoReturn:
    profile_for(mood)  # raises UnknownMoodError, listing the valid moods
    raise AssertionError(f"{mood!r} has a profile but no parameters")


def _engage(now: float, next_at: float, opp: Opportunity) -> Decision:
    return Decision(ENGAGE_USER, now, next_at, target_user_id=opp.user_id,
                    target_activity=opp.activity,
                    target_kind="activity" if opp.activity else "join")


def _num(x: float) -> float | None:
    return None if math.isinf(x) else round(x, 1)


def _gates(state: GuildState, cfg: GuildConfig, profile: MoodProfile, now: float,
           since: float, acted: float) -> tuple[Condition, ...]:
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
        Condition("min_gap", now >= acted + cfg.min_gap_s, _num(since),
                  f">= {cfg.min_gap_s:g}"),
    )
