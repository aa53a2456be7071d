"""The V2 decision rules: which action, if any, the persona takes now, and when to look next.

Actions are checked in this order; the first that fires wins (thresholds, chances and waits
in ``engine.params``, all scaled by the guild's chattiness):

=================  ==========================================================================
action             fires when (all of)
=================  ==========================================================================
join_conversation  momentum >= the mood's join momentum · messages since her last appearance
                   >= the mood's join messages (bubbly 5, shy 40) · the join cooldown (5 min)
                   since her last action · a per-minute impulsiveness roll
react              a lively chat where joining did not fire, a human message of the last 5
                   min to name, none of her reactions in this burst (``engine.react``)
engage_user        a human started an activity or joined in the last 20 min and was not engaged
                   for it (``engine.presence``: one opportunity per user and activity, not
                   again within 6 h) · the engage cooldown (30 min) · the opportunity's one
                   roll (``engine.engage``) < the mood's chance for a related activity, a join
                   or any other activity, × the person's affinity factor × their presence
                   factor · not someone who ignored her last two engages in the last day
                   (``engine.affinity``), on do not disturb or offline (``engine.engage``;
                   all only with ``affinity`` on)
fomo_response      messages since appearance >= the mood's FOMO messages (bubbly 25, shy 40) ·
                   momentum >= 0.25 · the FOMO cooldown (15 min)
break_silence      fewer than 5 human messages in the last hour · quiet_for >= the mood's
                   silence threshold (bubbly 78 min, shy 2.8 h) · someone around · no
                   monologue · a per-minute energy roll × the learned-hours factor
share_tweet        fewer than 10 human messages in the last hour, an hour she watched (not
                   right after a cold start or a downtime) · the share cooldown (1 h) · a
                   mood that shares (curious, excited) · someone around · no monologue · not
                   backing off sharing · a per-minute roll < chattiness × learned-hours factor
=================  ==========================================================================

momentum = ``min(1, msgs_5m / 20)``. *Someone around*: a human online (tracked or past the
cap), or a human message or join in the last hour. *No monologue*: after an unprompted post
(break_silence or share_tweet) the next waits for a human message since, or the mood's whole
silence threshold. The learned-hours factor (``engine.hours``; 1 with ``learn_hours = false``)
makes unprompted posts likelier in hours when people usually talk and rarer when not. Every
threshold is monotone in its trait and in chattiness, so a more sociable mood never joins
later, a more energetic one never breaks silence later, and a chattier guild never acts later
(property-tested).

In a negative room (``engine.tone``: sad reactions, deleted runs, timeouts) neither unprompted
post nor fomo_response fires, and join_conversation only in serious or melancholy.

Gates before any rule, in this order: enabled, an autonomous channel, chattiness above 0, not
``asleep``, nothing pending (a pending action expires at its deadline), past the grace
(cold start; one minimum gap after a restore), past the failure back-off, the minimum gap
since the last action, outside quiet hours (whatever the mood: a pinned mood never acts in
them), and under ``max_actions_per_day`` in the last 24 hours. Times in the state later than
``now`` by more than a minute (a clock stepped back) count as ``now`` first
(``engine.state.settle_clock``).

Rolls come from ``engine.rolls.roll(seed, guild, action salt, epoch minute)``: the same answer
all minute long, whatever arrives meanwhile.

When to look next (``Decision.next_at``): with no new event, the earliest of a gate's end, a
cooldown's end, the silence threshold being reached, the hour's count dropping under its
limit, the no-monologue wait, the next minute's roll (when a rule waits only on its roll) and
the next mood rotation. It may be early (a look that finds nothing), never late. Every wait is
compared as ``now >= start + wait``, the very sum reported, so an actor that sleeps until
``next_at`` acts at exactly the moment one asking every second would (property-tested).
"""

from __future__ import annotations

import math
from typing import NoReturn

from engine.affinity import blocked_until, factor, look, rises_at
from engine.decision import Condition, Decision, RuleCheck, num
from engine.engage import (
    IDLE_FACTOR,
    OPPORTUNITY_WINDOW_S,
    engage_chance,
    engage_roll,
    explain_people,
    presence_factor,
    presence_rises_at,
)
from engine.engage import best_opportunity as _best_opportunity
from engine.gates import check_gates, explain_gates
from engine.hours import hours_factor
from engine.localtime import in_quiet_hours
from engine.moods import MoodProfile, profile_for
from engine.names import Action
from engine.params import BY_MOOD, params_for
from engine.react import REACT, check_react, react_params
from engine.recent import Recent
from engine.rolls import roll
from engine.signals import (
    MOMENTUM_FULL_AT,
    count_drops_below_at,
    quiet_since,
    signals,
    someone_around,
)
from engine.state import (
    CLOCK_SLACK_S,
    MAX_TIME,
    GuildConfig,
    GuildState,
    Opportunity,
    check_time,
    evict,
    settle_clock,
)
from engine.tone import JOINS_IN_NEGATIVE_ROOM, clears_at
from engine.tone_rules import tone_condition, tone_join_condition

__all__ = [
    "BREAK_SILENCE",
    "ENGAGE_USER",
    "FOMO_RESPONSE",
    "JOIN_CONVERSATION",
    "SHARE_TWEET",
    "UNPROMPTED",
    "decide",
]

JOIN_CONVERSATION: Action = "join_conversation"
ENGAGE_USER: Action = "engage_user"
FOMO_RESPONSE: Action = "fomo_response"
BREAK_SILENCE: Action = "break_silence"
SHARE_TWEET: Action = "share_tweet"
_HOUR_S = 3600.0
#: Posts into a quiet room that nobody prompted: no monologues of these.
UNPROMPTED = (BREAK_SILENCE, SHARE_TWEET)

# Roll salts, one per rolled action: part of determinism, never renumber.
_SALT_JOIN = 1
_SALT_SILENCE = 4
_SALT_SHARE = 5
_INF = math.inf


def decide(state: GuildState, cfg: GuildConfig, now: float, seed: int,
           explain: bool = False, *, profile: MoodProfile | None = None) -> Decision:
    """Decide whether the persona acts now, by the V2 rules.

    Args:
        state: the guild's state; updated in place only to expire what time has expired
            (window buckets, a pending action past its deadline, stale opportunities, the
            day's old action times) and to settle times later than ``now``.
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
        InvalidTimeError: ``now`` is not a valid time.
        UnknownMoodError, UnknownTimezoneError: the state or config is invalid.
    """
    if not 0.0 <= now < MAX_TIME:
        check_time(now)
    c = cfg.chattiness
    if profile is None:
        entry = BY_MOOD.get(state.mood)
        profile, par = entry if entry is not None else _unknown_mood(state.mood)
        if c != 1.0 and c > 0.0:
            par = params_for(profile, c)
    else:
        par = params_for(profile, c if c > 0.0 else 1.0)
    ahead = now + CLOCK_SLACK_S
    if state.latest_at > ahead or state.last_human_at > ahead \
            or state.last_appearance_at > ahead:
        settle_clock(state, now)  # a clock stepped back: those times count as now
    now_sec = int(now)
    evict(state, now_sec)
    if state.pending_action is not None and now >= state.pending_deadline:
        state.pending_action = None  # expired: treated as failed, without back-off
    rotation = state.next_rotation_at
    base_next = rotation if cfg.rotate_moods and rotation > now else _INF

    # --- gates ---------------------------------------------------------------------------
    # "Never" is -inf: every wait since it is over, and "since" is infinite.
    acted = state.last_action_at
    since = now - acted
    blocked, gate_open, quiet = check_gates(state, cfg, profile, now)
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
    reacted_to: Recent | None = None
    checks: list[RuleCheck] = []
    fire_next = _INF  # with explain: next_at as it stood when the action fired
    # The room's tone (engine.tone): in a negative room no playful post, and joins only in
    # the moods that fit. It clears by itself at tone_clears.
    tone_clears = clears_at(state) if cfg.tone and state.tone is not None else -_INF
    ok_tone = now >= tone_clears
    ok_tone_join = ok_tone or profile.name in JOINS_IN_NEGATIVE_ROOM

    # --- join_conversation ----------------------------------------------------------------
    # With no new message momentum only falls and the count stays, so once these two fail
    # the rule cannot fire by itself: nothing to look forward to.
    ok_mom = momentum >= par.join_momentum
    ok_msgs = msa >= par.join_messages
    if (ok_mom and ok_msgs) or explain:
        cool_end = acted + par.join_cooldown_s
        ok_cool = now >= cool_end
        # A roll costs more than the rest of the rule: draw it only when it decides.
        r = roll(seed, gid, _SALT_JOIN, minute) if ok_cool or explain else 1.0
        fired = ok_mom and ok_msgs and ok_cool and r < par.p_join and ok_tone_join
        if fired:
            if not explain:
                return Decision(JOIN_CONVERSATION, now, next_at)
            action, fire_next = JOIN_CONVERSATION, next_at
        elif ok_mom and ok_msgs:
            next_at = min(next_at, next_minute if ok_cool else cool_end)
            if not ok_tone_join:
                next_at = min(next_at, tone_clears)
        if explain:
            checks.append(RuleCheck(JOIN_CONVERSATION, fired and blocked is None, (
                Condition("momentum", ok_mom, round(momentum, 3), f">= {par.join_momentum:.3f}"),
                Condition("messages_since_appearance", ok_msgs, msa, f">= {par.join_messages}"),
                Condition("since_last_action", ok_cool, num(since),
                          f">= {par.join_cooldown_s:g}"),
                Condition("impulsiveness_roll", r < par.p_join, round(r, 4),
                          f"< {par.p_join:.3f}"),
                tone_join_condition(state, now, ok_tone, ok_tone_join),
            )))

    # --- react (engine.react) -------------------------------------------------------------
    if state.recent or explain:
        fired, at, reacted_to, check = check_react(
            state, react_params(profile, c if c > 0.0 else 1.0), now, seed, momentum, explain,
            ok_tone=ok_tone_join, tone_clears=tone_clears, may_react=cfg.may_react)
        next_at = min(next_at, at)
        if fired and reacted_to is not None:
            if not explain:
                return Decision(REACT, now, next_at, target_user_id=reacted_to.author_id,
                                target_kind="message",
                                target_message_id=reacted_to.message_id)
            if action is None:
                action, fire_next = REACT, next_at
        if check is not None:
            checks.append(RuleCheck(REACT, check.fired and action == REACT and blocked is None,
                                    (*check.conditions, tone_join_condition(
                                        state, now, ok_tone, ok_tone_join))))

    # --- engage_user ----------------------------------------------------------------------
    opps = state.opportunities
    if opps or explain:
        cool_end = acted + par.engage_cooldown_s
        ok_cool = now >= cool_end
        people = state.affinity if cfg.affinity else None
        if ok_cool:
            opp = _best_opportunity(state, now, seed, par, people)
            if opp is None and people is not None:
                # Someone passed over (blocked, engaged recently, not arrived yet) may get a
                # better chance while their opportunity is still open: look again then.
                for o in opps:
                    for until in (rises_at(look(people, o.user_id, now), now),
                                  presence_rises_at(o, now)):
                        if now < until <= o.at + OPPORTUNITY_WINDOW_S:
                            next_at = min(next_at, until)
        else:
            # Rolls are drawn only once the cooldown is over: until then, look again at its
            # end if an opportunity may still be open then (early at worst, never late).
            # A roll that did not come out stays so: nothing to look forward to.
            opp = None
            # The list is in order of opening (engine.presence): the last is the newest.
            if opps and opps[-1].at + OPPORTUNITY_WINDOW_S >= cool_end:
                next_at = min(next_at, cool_end)
        if explain:
            opp_seen = opp if opp is not None else _best_opportunity(state, now)
            fired = opp is not None
            if fired and action is None and opp is not None:
                action, target, fire_next = ENGAGE_USER, opp, next_at
            related = opp_seen is not None and opp_seen.related
            r = engage_roll(seed, gid, opp_seen) if opp_seen is not None else 1.0
            p = engage_chance(par, opp_seen) if opp_seen is not None else par.p_engage
            person = look(people, opp_seen.user_id, now) \
                if people and opp_seen is not None else None
            f = factor(person, now)
            until = blocked_until(person, now)
            pf = presence_factor(opp_seen, now) \
                if people is not None and opp_seen is not None else 1.0
            checks.append(RuleCheck(ENGAGE_USER, fired and action == ENGAGE_USER
                                    and blocked is None, (
                Condition("new_activity_or_join", opp_seen is not None,
                          None if opp_seen is None else f"user {opp_seen.user_id}: "
                          f"{opp_seen.activity or 'joined'}",
                          "an un-engaged one in the last 20 min"),
                Condition("since_last_action", ok_cool, num(since),
                          f">= {par.engage_cooldown_s:g}"),
                Condition("affinity", until <= now,
                          "off" if people is None else round(f, 3) if until <= now
                          else f"ignored her twice; blocked until {until:.0f}",
                          "not ignored her the last two times in a day; the factor "
                          "multiplies the chance"),
                Condition("presence", pf > 0.0,
                          "off" if people is None or opp_seen is None
                          else opp_seen.status or "not seen yet",
                          "not do-not-disturb or offline, a newcomer arrived (idle: x"
                          f"{IDLE_FACTOR:g})"),
                Condition("sociability_roll", r < p * f * pf, round(r, 4),
                          f"< {p * f * pf:.3f}" + (" (related activity)" if related else "")
                          + (f" (x{f:.3f} affinity)" if f != 1.0 else "")
                          + (f" (x{pf:g} presence)" if 0.0 < pf != 1.0 else "")),
                *explain_people(state, people, now),
            )))
        elif opp is not None:
            return Decision(ENGAGE_USER, now, next_at, target_user_id=opp.user_id,
                            target_activity=opp.activity,
                            target_kind="activity" if opp.activity else "join")

    # --- fomo_response --------------------------------------------------------------------
    ok_msgs = msa >= par.fomo_messages
    ok_active = momentum >= par.fomo_momentum
    cool_end = acted + par.fomo_cooldown_s
    ok_cool = now >= cool_end
    fired = ok_msgs and ok_active and ok_cool and ok_tone
    if fired and action is None:
        if not explain:
            return Decision(FOMO_RESPONSE, now, next_at)
        action, fire_next = FOMO_RESPONSE, next_at
    elif ok_msgs and ok_active and not ok_cool:
        next_at = min(next_at, cool_end)
    elif ok_msgs and ok_active and not ok_tone:
        next_at = min(next_at, tone_clears)
    if explain:
        checks.append(RuleCheck(FOMO_RESPONSE, fired and action == FOMO_RESPONSE
                                and blocked is None, (
            Condition("messages_since_appearance", ok_msgs, msa, f">= {par.fomo_messages}"),
            Condition("momentum", ok_active, round(momentum, 3), f">= {par.fomo_momentum:g}"),
            Condition("since_last_action", ok_cool, num(since), f">= {par.fomo_cooldown_s:g}"),
            tone_condition(state, now, ok_tone),
        )))

    # --- the unprompted posts: break_silence, share_tweet ---------------------------------
    h1 = state.sum_1h
    # No monologue: a human spoke since her last unprompted post, or a whole threshold passed.
    mono_end = state.unprompted_at + par.silence_s
    ok_mono = state.last_human_at > state.unprompted_at or now >= mono_end
    learned: float | None = None  # the learned-hours factor, worked out when it decides

    # --- break_silence --------------------------------------------------------------------
    ok_msgs = h1 < par.silence_max_msgs
    silent_from = quiet_since(state)
    ok_quiet = now >= silent_from + par.silence_s
    if not ok_quiet:
        next_at = min(next_at, silent_from + par.silence_s)
    elif not ok_msgs:
        next_at = min(next_at, count_drops_below_at(state, par.silence_max_msgs))
    if ok_msgs and ok_quiet and ok_mono and not ok_tone:
        next_at = min(next_at, tone_clears)
    if (ok_msgs and ok_quiet and ok_mono and ok_tone) or explain:
        around = someone_around(state, now)
        if around or explain:
            learned = hours_factor(state, now) if cfg.learn_hours else 1.0
        p = min(1.0, par.p_silence * learned) if learned is not None else par.p_silence
        r = roll(seed, gid, _SALT_SILENCE, minute) if around or explain else 1.0
        fired = ok_msgs and ok_quiet and ok_mono and ok_tone and around and r < p
        if fired and action is None:
            if not explain:
                return Decision(BREAK_SILENCE, now, next_at)
            action, fire_next = BREAK_SILENCE, next_at
        elif ok_msgs and ok_quiet and ok_mono and ok_tone and around and not fired:
            next_at = min(next_at, next_minute)  # nobody around stays so without an event
        if explain:
            checks.append(RuleCheck(BREAK_SILENCE, fired and action == BREAK_SILENCE
                                    and blocked is None, (
                Condition("msgs_1h", ok_msgs, h1, f"< {par.silence_max_msgs:g}"),
                Condition("quiet_for", ok_quiet, round(now - silent_from, 1),
                          f">= {par.silence_s:g}"),
                Condition("someone_around", around, around, "True"),
                Condition("no_monologue", ok_mono, num(now - state.unprompted_at),
                          f"a human spoke since, or >= {par.silence_s:g}"),
                tone_condition(state, now, ok_tone),
                Condition("learned_hours", True, round(learned if learned is not None else 1.0,
                                                       3), "chance factor"),
                Condition("energy_roll", r < p, round(r, 4), f"< {p:.3f}"),
            )))

    # --- share_tweet ----------------------------------------------------------------------
    shares = profile.shares
    if shares or explain:
        ok_msgs = h1 < par.share_max_msgs
        cool_end = acted + par.share_cooldown_s
        ok_cool = now >= cool_end
        ok_backoff = now >= state.share_backoff_until
        # "Fewer than 10 in the last hour" means something only for an hour she watched:
        # after a downtime (or a cold start) the messages said meanwhile were never counted.
        watched_at = state.observed_since + _HOUR_S
        ok_watched = now >= watched_at
        if shares:
            if not ok_watched:
                next_at = min(next_at, watched_at)
            if not ok_cool:
                next_at = min(next_at, cool_end)
            if not ok_backoff:
                next_at = min(next_at, state.share_backoff_until)
            if not ok_msgs:
                next_at = min(next_at, count_drops_below_at(state, par.share_max_msgs))
            if not ok_mono:
                next_at = min(next_at, mono_end)
            if not ok_tone:
                next_at = min(next_at, tone_clears)
        around = someone_around(state, now)
        gates_ok = (shares and ok_msgs and ok_watched and ok_cool and ok_backoff and around
                    and ok_mono and ok_tone)
        if gates_ok or explain:
            if learned is None:
                learned = hours_factor(state, now) if cfg.learn_hours else 1.0
            p = min(1.0, par.p_share * learned)
            r = roll(seed, gid, _SALT_SHARE, minute) if p < 1.0 or explain else 0.0
        else:
            p, r = par.p_share, 1.0
        fired = gates_ok and r < p
        if fired and action is None:
            action, fire_next = SHARE_TWEET, next_at
        elif gates_ok and not fired:
            next_at = min(next_at, next_minute)
        if explain:
            checks.append(RuleCheck(SHARE_TWEET, fired and action == SHARE_TWEET
                                    and blocked is None, (
                Condition("msgs_1h", ok_msgs, h1, f"< {par.share_max_msgs:g}"),
                Condition("hour_watched", ok_watched, num(now - state.observed_since),
                          f">= {_HOUR_S:g}"),
                Condition("since_last_action", ok_cool, num(since),
                          f">= {par.share_cooldown_s:g}"),
                Condition("mood_shares", shares, profile.name, "curious or excited"),
                Condition("someone_around", around, around, "True"),
                Condition("no_monologue", ok_mono, num(now - state.unprompted_at),
                          f"a human spoke since, or >= {par.silence_s:g}"),
                Condition("share_backoff", ok_backoff, num(state.share_backoff_until - now),
                          "<= 0"),
                tone_condition(state, now, ok_tone),
                Condition("learned_hours", True, round(learned if learned is not None else 1.0,
                                                       3), "chance factor"),
                Condition("share_roll", r < p, round(r, 4), f"< {p:.3f}"),
            )))

    if not explain:
        return Decision(action, now, next_at)

    if blocked is not None:
        # The same answer as without explain: the gate decides, and the gate's end is when
        # to look next.
        action, target, next_at = None, None, min(base_next, gate_open)
    elif action is not None:
        next_at = fire_next
    if quiet is None:
        quiet = in_quiet_hours(cfg, now)
    msg = reacted_to if action == REACT else None
    return Decision(
        action, now, next_at, blocked_by=blocked,
        target_user_id=target.user_id if target else msg.author_id if msg else None,
        target_activity=target.activity if target else None,
        target_kind=("activity" if target.activity else "join") if target
        else "message" if msg else None,
        target_message_id=msg.message_id if msg else None,
        signals=signals(state, cfg, now),
        gates=explain_gates(state, cfg, profile, now, since, quiet[0]),
        checks=tuple(checks),
    )


def _unknown_mood(mood: str) -> NoReturn:
    profile_for(mood)  # raises UnknownMoodError, listing the valid moods
    raise AssertionError(f"{mood!r} has a profile but no parameters")
