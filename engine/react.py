"""``react``: one emoji reaction on a recent human message, a lighter touch than a post.

Checked right after ``join_conversation`` (ENGINE.md, "Reading the room"): a lively
conversation where joining does not fire (not enough messages since her appearance, an
unsociable mood, too soon since she acted) may get one reaction instead. It fires when all of

==================  ====================================================================
momentum            >= 0.4 (8 human messages in 5 min), divided by chattiness (cap 0.9)
messages            >= 3 human messages since her last appearance (divided by chattiness)
a message           a human message in her channel in the last 5 minutes whose id the
                    engine was given (``note_message``: never a bot's, never hers, never
                    an opted-out member's; the newest is named)
once per burst      no reaction since the conversation burst began (a burst begins with
                    the first human message after 10 minutes without one)
since last action   >= the join cooldown (5 min, divided by chattiness)
impulsiveness roll  ``roll(seed, guild, 6, minute) < (0.02 + 0.1 × impu) × chattiness``
tone                as for a join (``engine.tone``): not a negative room, or a mood that
                    fits one (serious, melancholy, whose emoji are quiet ones)
may react           she has Add Reactions and Read Message History in her channel
                    (``GuildConfig.may_react``, from the runtime's permission checks)
==================  ====================================================================

and every gate (pending, grace, back-off, minimum gap, quiet hours, the daily cap, chattiness,
asleep, disabled, no channel) lets it through, like every action. The decision names the
message by id only (``Decision.target_message_id``) and its author (``target_user_id``, so
the runtime's opt-out guard sees it); the runtime picks the emoji.

What a reaction counts as (``engine.record``): an autonomous action (it counts toward the
minimum gap, the cooldowns since the last action and the daily cap; one that fails or goes
stale backs nothing off but ends the burst's reaction), but not an appearance: the messages
since her appearance keep counting, so a conversation she reacted to may still get her words
once it has gone on long enough, and no-monologue is untouched (a reaction is not a post).
It ends the burst for reactions: one per burst.

Memory: the last 8 human message ids with their authors and seconds, plus two times
(``engine.recent``). Nothing of the content.
"""

from __future__ import annotations

import math
from functools import lru_cache

import msgspec

from engine.decision import Condition, RuleCheck, num
from engine.moods import MoodProfile
from engine.names import Action
from engine.params import JOIN_COOLDOWN_S
from engine.recent import RECENT_S, Recent, candidate
from engine.rolls import roll
from engine.state import GuildState

__all__ = ["REACT", "ReactParams", "check_react", "react_params"]

REACT: Action = "react"
#: The react roll's salt: part of determinism, never renumber (engine.rules has 1, 4, 5;
#: engine.engage 2 + 8k).
SALT_REACT = 6
REACT_MOMENTUM = 0.4
REACT_MESSAGES = 3
_MOMENTUM_CAP = 0.9


class ReactParams(msgspec.Struct, frozen=True, gc=False):
    """The react rule's thresholds for one mood at one chattiness (the table above)."""

    momentum: float
    messages: int
    p_react: float
    cooldown_s: float


@lru_cache(maxsize=1024)
def react_params(p: MoodProfile, chattiness: float = 1.0) -> ReactParams:
    """The react rule's thresholds for mood ``p`` at ``chattiness`` in (0, 2]."""
    c = chattiness
    if not 0.0 < c <= 2.0:
        raise ValueError(f"chattiness must be in (0, 2] here, got {c!r}")
    return ReactParams(
        momentum=min(_MOMENTUM_CAP, REACT_MOMENTUM / c),
        messages=max(1, round(REACT_MESSAGES / c)),
        p_react=min(1.0, (0.02 + 0.1 * p.impulsiveness) * c),
        cooldown_s=float(round(JOIN_COOLDOWN_S / c)),
    )


def check_react(state: GuildState, rp: ReactParams, now: float, seed: int, momentum: float,
                explain: bool, *, ok_tone: bool = True, tone_clears: float = -math.inf,
                may_react: bool = True
                ) -> tuple[bool, float, Recent | None, RuleCheck | None]:
    """The react rule at ``now`` (the gates are the caller's). ``ok_tone``: the room's tone
    lets her join (``engine.tone``: not a negative room, or a mood that fits one); a
    reaction is held like a join until ``tone_clears`` (a cheering emoji on a sad
    announcement is what the tone is there to prevent). ``may_react``: her permissions
    allow a reaction (``GuildConfig.may_react``); without them the rule never fires.

    Returns:
        ``(fired, next_at, target, check)``: ``next_at`` is when the rule could fire with no
        new event (``inf``: not by itself); ``check`` only with ``explain``.
    """
    inf = float("inf")
    msa = state.messages_since_appearance
    ok_mom = momentum >= rp.momentum
    ok_msgs = msa >= rp.messages
    ok_burst = state.reacted_at < state.burst_since
    ok_open = ok_burst and may_react  # (a lost permission: like a burst already reacted to)
    target = candidate(state, now) if (ok_mom and ok_msgs and ok_open) or explain else None
    next_at = inf
    fired = False
    r = 1.0
    since = now - state.last_action_at
    cool_end = state.last_action_at + rp.cooldown_s
    ok_cool = now >= cool_end
    if (ok_mom and ok_msgs and ok_open and target is not None) or explain:
        r = roll(seed, state.guild_id, SALT_REACT, int(now) // 60) \
            if ok_cool or explain else 1.0
        fired = ok_mom and ok_msgs and ok_open and target is not None and ok_cool \
            and r < rp.p_react and ok_tone
        if not fired and ok_mom and ok_msgs and ok_open and target is not None:
            next_at = (int(now) // 60 + 1) * 60.0 if ok_cool else cool_end
            if not ok_tone:
                next_at = max(next_at, tone_clears)
    if not explain:
        return fired, next_at, target if fired else None, None
    check = RuleCheck(REACT, fired, (
        Condition("momentum", ok_mom, round(momentum, 3), f">= {rp.momentum:.3f}"),
        Condition("messages_since_appearance", ok_msgs, msa, f">= {rp.messages}"),
        Condition("recent_human_message", target is not None,
                  None if target is None else f"message {target.message_id} "
                  f"by {target.author_id}", f"one in the last {RECENT_S:g} s"),
        Condition("once_per_burst", ok_burst, num(now - state.reacted_at),
                  "no reaction since the burst began "
                  f"({num(now - state.burst_since)} s ago)"),
        Condition("since_last_action", ok_cool, num(since), f">= {rp.cooldown_s:g}"),
        Condition("impulsiveness_roll", r < rp.p_react, round(r, 4), f"< {rp.p_react:.3f}"),
        Condition("may_react", may_react, may_react,
                  "True (Add Reactions and Read Message History in her channel)"),
    ))
    return fired, next_at, target if fired else None, check
