"""The V1 policy: the old bot's random timer, kept for rollback, shadow runs and comparison.

Every 15 minutes (one tick per epoch slot of 900 s) a 10% roll; when it hits, one of
``general`` / ``engage_user`` / ``share_tweet`` is chosen uniformly. It does not look at the
channel: no message counts, no presence, no quiet hours, no mood (the seed's "unaware of the
channel"). It keeps only the gates the runtime needs to stay sane: enabled, an autonomous
channel to speak in, nothing pending, and the minimum gap between two actions.
``engage_user`` targets a random online human, or nobody.
"""

from __future__ import annotations

import math

from engine.decision import Decision
from engine.rolls import roll
from engine.rules import ENGAGE_USER, SHARE_TWEET
from engine.state import GuildConfig, GuildState, check_time

__all__ = ["GENERAL", "V1_ACTIONS", "V1_CHANCE", "V1_PERIOD_S", "decide_v1"]

GENERAL = "general"
V1_ACTIONS = (GENERAL, ENGAGE_USER, SHARE_TWEET)
V1_PERIOD_S = 900.0
V1_CHANCE = 0.10
_SALT_TICK = 0x7631  # "v1"
_SALT_PICK = 0x7632
_SALT_USER = 0x7633


def decide_v1(state: GuildState, cfg: GuildConfig, now: float, seed: int,
              explain: bool = False) -> Decision:
    """Decide by the V1 timer. The first call in a 15-minute slot is that slot's tick (it is
    recorded in ``state.v1_last_slot``); later calls in the slot decide nothing."""
    check_time(now)
    slot = int(now // V1_PERIOD_S)
    next_at = (slot + 1) * V1_PERIOD_S
    if state.pending_action is not None and now >= state.pending_deadline:
        state.pending_action = None
    if not cfg.enabled or not cfg.has_channel:
        return Decision(None, now, math.inf, policy="v1",
                        blocked_by="disabled" if not cfg.enabled else "no_autonomous_channel")
    if state.pending_action is not None:
        return Decision(None, now, min(next_at, state.pending_deadline), policy="v1",
                        blocked_by="pending")
    if slot == state.v1_last_slot:
        return Decision(None, now, next_at, policy="v1", blocked_by="tick_used")
    # The old timer fired only every 15 min; asked after every event, a slot's first call can
    # fall a second after the last slot's action, so the minimum gap is kept here too. The
    # tick waits for it rather than being lost.
    last = state.last_action_at
    if last > 0 and now < last + cfg.min_gap_s:
        return Decision(None, now, last + cfg.min_gap_s, policy="v1", blocked_by="min_gap")
    state.v1_last_slot = slot
    gid = state.guild_id
    if roll(seed, gid, _SALT_TICK, slot) >= V1_CHANCE:
        return Decision(None, now, next_at, policy="v1", blocked_by="chance")
    action = V1_ACTIONS[int(roll(seed, gid, _SALT_PICK, slot) * len(V1_ACTIONS)) % 3]
    if action != ENGAGE_USER:
        return Decision(action, now, next_at, policy="v1")
    online = sorted(state.online)
    user = online[int(roll(seed, gid, _SALT_USER, slot) * len(online))] if online else None
    return Decision(action, now, next_at, policy="v1", target_user_id=user,
                    target_kind="presence" if user is not None else None)
