"""Who to engage: the open opportunities (a game started, a member joined) and the one roll
each gets.

An opportunity's roll is fixed by who and when it opened, so asking again in any minute of its
20-minute window gives the same answer: a game start is greeted with the mood's chance, not
with near certainty after twenty tries. It is drawn the first time the opportunity is looked
at and kept in it (with the seed it was drawn for), so a decision over a full list costs a
comparison per opportunity, not a roll.

With affinity on, the chance is also multiplied by the person's presence
(``presence_factor``, from the last status their opportunity saw): she does not greet
someone on do not disturb (Discord's "do not disturb" asks for it) or gone offline, greets
someone idle (away from the keyboard) half as readily, and gives a newcomer ``ARRIVAL_S``
to arrive (their first presence update) before a welcome. On the reactive simulator over a
week this is most of what lifts the share of greetings answered within 10 minutes
(docs/BENCHMARKS.md, "User affinity on the reactive simulator").
"""

from __future__ import annotations

import math

from engine.affinity import Person, blocked_until, factor, look
from engine.decision import Condition
from engine.params import Params
from engine.rolls import roll
from engine.state import GuildState, Opportunity

__all__ = [
    "ARRIVAL_S",
    "IDLE_FACTOR",
    "OPPORTUNITY_WINDOW_S",
    "best_opportunity",
    "engage_chance",
    "engage_roll",
    "explain_people",
    "presence_factor",
    "presence_rises_at",
]

OPPORTUNITY_WINDOW_S = 1200.0
#: Someone idle is away from the keyboard: an answer comes late if at all.
IDLE_FACTOR = 0.5
#: A newcomer is given this long to arrive (their first presence update) before a welcome.
ARRIVAL_S = 120.0
_SALT_ENGAGE = 2
_INF = math.inf


def engage_chance(par: Params, opp: Opportunity) -> float:
    """The chance she engages someone for this opportunity (a related game, a join, any
    other activity)."""
    if opp.activity is None:
        return par.p_engage_join
    return par.p_engage_related if opp.related else par.p_engage


def presence_factor(opp: Opportunity, now: float) -> float:
    """The engage chance's multiplier for the person's presence (with affinity on): 0 on do
    not disturb (they asked not to be) or offline (gone: nobody to greet), ``IDLE_FACTOR``
    idle, 1 online; a newcomer with no presence update yet gets 0 for ``ARRIVAL_S`` after
    their join (a welcome into the void while their client loads is wasted; without the
    Presence intent that is all it costs: 2 minutes), then 1."""
    status = opp.status
    if status == "online":
        return 1.0
    if status == "idle":
        return IDLE_FACTOR
    if status == "":
        return 0.0 if opp.activity is None and now < opp.at + ARRIVAL_S else 1.0
    return 0.0


def presence_rises_at(opp: Opportunity, now: float) -> float:
    """When ``presence_factor`` of ``opp`` rises with no new event (a newcomer's arrival
    time ending), or -1."""
    if opp.status == "" and opp.activity is None and now < opp.at + ARRIVAL_S:
        return opp.at + ARRIVAL_S
    return -1.0


def engage_roll(seed: int, guild_id: int, opp: Opportunity) -> float:
    """The one roll an opportunity gets, fixed by who and when it opened: asked again any
    minute of its window, it answers the same."""
    return roll(seed, guild_id, _SALT_ENGAGE + 8 * (opp.user_id % 1_000_003), int(opp.at // 60))


def best_opportunity(state: GuildState, now: float, seed: int = 0,
                     par: Params | None = None,
                     people: dict[int, Person] | None = None) -> Opportunity | None:
    """The opportunity to engage: related activities first, then the most recent, among
    those whose roll came out (all of them when ``par`` is None). Engaged ones are not in
    the list (``engine.presence.close_opportunity``). With ``people`` (the guild's affinity,
    when it is on), someone blocked (``engine.affinity.blocked_until``) is passed over and
    each chance is multiplied by the person's ``engine.affinity.factor`` and by
    ``presence_factor`` (0: do not disturb, gone offline, or a newcomer not arrived yet:
    passed over)."""
    opps = state.opportunities
    if not opps:
        return None
    horizon = now - OPPORTUNITY_WINDOW_S
    # Expired opportunities are dropped here, so the list stays short without a timer.
    if opps[0].at < horizon:
        opps[:] = [o for o in opps if o.at >= horizon]
    best: Opportunity | None = None
    best_related, best_at = False, -_INF
    if par is None:
        p_rel = p_join = p_other = 2.0  # every roll comes out
    else:
        p_rel, p_join, p_other = par.p_engage_related, par.p_engage_join, par.p_engage
    gid = state.guild_id
    for o in opps:
        at = o.at
        # A late event can leave an expired one behind a fresh one: skip it all the same.
        if at < horizon:
            continue
        r = o.roll
        if r < 0.0 or o.roll_seed != seed:
            r = o.roll = engage_roll(seed, gid, o)
            o.roll_seed = seed
        # max by (related, at) among those whose roll came out, the later one on a tie;
        # spelt out, as this is a hot loop
        if people is not None:
            pf = presence_factor(o, now)
            if pf <= 0.0:
                continue
            person = look(people, o.user_id, now) if people else None
            if person is not None:
                if blocked_until(person, now) > now:
                    continue
                r /= factor(person, now) * pf  # r < p × factor, without touching p
            elif pf != 1.0:
                r /= pf
        if o.related:
            if r < p_rel and (not best_related or at >= best_at):
                best, best_related, best_at = o, True, at
        elif not best_related and at >= best_at \
                and r < (p_other if o.activity is not None else p_join):
            best, best_at = o, at
    return best


#: The decision log names at most this many people behind the open opportunities.
_MAX_PEOPLE_EXPLAINED = 8


def explain_people(state: GuildState, people: dict[int, Person] | None,
                   now: float) -> tuple[Condition, ...]:
    """With affinity on and opportunities open: every person behind them (the first
    ``_MAX_PEOPLE_EXPLAINED``) with their affinity factor, and why one is passed over
    (blocked after two ignores, do not disturb, offline, not arrived), ids only. An account,
    not a gate: it always holds."""
    if people is None or not state.opportunities:
        return ()
    parts = []
    for o in state.opportunities[-_MAX_PEOPLE_EXPLAINED:]:
        person = look(people, o.user_id, now)
        until = blocked_until(person, now)
        pf = presence_factor(o, now)
        if until > now:
            what = f"blocked until {until:.0f} (ignored her twice)"
        elif pf == 0.0:
            what = f"passed over ({o.status or 'not arrived yet'})"
        else:
            what = f"x{factor(person, now) * pf:.3f}" + (
                f" ({person.warmth / 1000:.1f} answered, {person.cold / 1000:.1f} ignored)"
                if person is not None else " (unknown)")
        parts.append(f"user {o.user_id}: {what}")
    return (Condition("people", True, "; ".join(parts),
                      "each open opportunity's person: affinity x presence factor"),)
