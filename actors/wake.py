"""When a passivated guild must wake with no event.

Kept beside the actor: the supervisor stores only this one time for an idle guild, so it must
never be later than the moment the live engine would have acted.
"""

from __future__ import annotations

import math

import msgspec

from engine import ASLEEP, GuildConfig, GuildState, decide, rotate_mood

__all__ = ["passive_wake_at"]


def passive_wake_at(state: GuildState, cfg: GuildConfig, now: float, seed: int,
                    policy: str = "v2", horizon_s: float = 86400.0) -> float:
    """When a passivated guild must wake with no event: the first moment the engine would
    act, following the mood rotations it would go through meanwhile.

    Destroys ``state`` (the caller has already encoded it): rotation and window eviction are
    applied at future times.
    """
    if policy != "v2":
        return float(math.floor(now / 900.0) + 1) * 900.0  # V1 ticks every 15 minutes
    quiet_cfg = msgspec.structs.replace(cfg, rotate_moods=False)
    t = now
    end = now + horizon_s
    while t < end:
        if cfg.rotate_moods:
            rotate_mood(state, cfg, t, seed)
        d = decide(state, quiet_cfg, t, seed)
        if d.action is not None:
            return t
        nxt = d.next_at
        if cfg.rotate_moods and state.next_rotation_at < nxt:
            nxt = state.next_rotation_at
        if state.mood == ASLEEP and cfg.rotate_moods:
            nxt = state.next_rotation_at
        if math.isinf(nxt):
            return math.inf  # nothing changes by itself: only an event wakes it
        t = max(nxt, t + 1.0)
    return end
