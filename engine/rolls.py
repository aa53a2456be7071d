"""Rolls that do not multiply with traffic.

A roll is a pure function of (seed, guild, salt, minute): asking again within the same minute
gives the same number whatever arrived meanwhile, snapshots need no RNG state, and a restored
guild stays deterministic. The mixer is splitmix64's finaliser, which spreads nearby inputs
(consecutive minutes, guild ids) over the whole range.
"""

from __future__ import annotations

__all__ = ["roll"]

_MASK = (1 << 64) - 1
_INV_2_64 = 1.0 / float(1 << 64)


def roll(seed: int, guild_id: int, salt: int, slot: int) -> float:
    """A uniform number in [0, 1) fixed by its four arguments.

    Args:
        seed: the engine's seed.
        guild_id: the guild (Discord snowflake).
        salt: tells apart rolls of different purposes (one per action, one for moods).
        slot: the time slot, usually the epoch minute ``int(now // 60)``.
    """
    x = (seed * 0x9E3779B97F4A7C15 + guild_id * 0xBF58476D1CE4E5B9
         + salt * 0x94D049BB133111EB + slot * 0xD6E8FEB86659FD93) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    return x * _INV_2_64
