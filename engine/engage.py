"""Who to engage: the open opportunities (a game started, a member joined) and the one roll
each gets.

An opportunity's roll is fixed by who and when it opened, so asking again in any minute of its
20-minute window gives the same answer: a game start is greeted with the mood's chance, not
with near certainty after twenty tries. It is drawn the first time the opportunity is looked
at and kept in it (with the seed it was drawn for), so a decision over a full list costs a
comparison per opportunity, not a roll.
"""

from __future__ import annotations

import math

from engine.affinity import Person, blocked_until, factor, look
from engine.params import Params
from engine.rolls import roll
from engine.state import GuildState, Opportunity

__all__ = ["OPPORTUNITY_WINDOW_S", "best_opportunity", "engage_chance", "engage_roll"]

OPPORTUNITY_WINDOW_S = 1200.0
_SALT_ENGAGE = 2
_INF = math.inf


def engage_chance(par: Params, opp: Opportunity) -> float:
    """The chance she engages someone for this opportunity (a related game, a join, any
    other activity)."""
    if opp.activity is None:
        return par.p_engage_join
    return par.p_engage_related if opp.related else par.p_engage


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
    each chance is multiplied by the person's ``engine.affinity.factor``."""
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
        if people:
            person = look(people, o.user_id, now)
            if person is not None:
                if blocked_until(person, now) > now:
                    continue
                r /= factor(person, now)  # r < p × factor, without touching p
        if o.related:
            if r < p_rel and (not best_related or at >= best_at):
                best, best_related, best_at = o, True, at
        elif not best_related and at >= best_at \
                and r < (p_other if o.activity is not None else p_join):
            best, best_at = o, at
    return best
