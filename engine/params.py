"""A mood's thresholds and chances, and how chattiness scales them.

At chattiness ``c = 1`` (the default) the rules use these (``soc``, ``ener``, ``impu`` the
mood's traits; the table in ``engine.moods`` lists what they give per mood):

==================  ============================================================
join momentum       ``min(0.9, 0.6 × (2 − soc))`` (capped so every mood reaches it)
join messages       ``5 + round(35 × max(0, 0.95 − soc) / 0.75)`` (bubbly 5, shy 40)
join chance         ``0.3 + 0.7 × impu`` per minute
engage chance       related ``min(1, 0.55 + 0.6 × soc)``, join ``min(1, 0.35 + 0.7 × soc)``,
                    other ``0.05 + 0.45 × soc``, one roll per opportunity
FOMO messages       ``25 + round(15 × max(0, 0.95 − soc) / 0.75)`` (bubbly 25, shy 40)
silence threshold   ``round(3600 × (1 + 3 × (1 − ener)))`` s (bubbly 78 min, shy 2.8 h)
silence chance      ``0.25 + 0.75 × ener`` per minute
share chance        1 per minute (a sharing mood shares once its gates open)
cooldowns           join 5 min, engage 30 min, FOMO 15 min, share 1 h since the last action
==================  ============================================================

Chattiness ``c`` in (0, 2]: every chance is multiplied by ``c`` (capped at 1), every wait
(cooldowns, the silence threshold) divided by ``c``, every message count needed divided by
``c`` (at least 1), the momentum needed divided by ``c`` (capped at 0.9), and the hour's
message limits of break_silence (5) and share_tweet (10) multiplied by ``c``. Each is
monotone, so a higher ``c`` never acts later or less often (property-tested); ``c = 0`` is a
gate of its own (no autonomous action). On the simulator's traffic ``c = 0.5`` gives about
half the actions of ``c = 1`` and ``c = 2`` about 1.6 times as many (``bench/bench_chattiness.py``).
The minimum gap between actions, back-offs and quiet hours do not scale.
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from engine.moods import MOODS, MoodProfile

__all__ = [
    "Params",
    "fomo_messages_needed",
    "join_messages_needed",
    "join_momentum_threshold",
    "params_for",
    "silence_threshold_s",
]

JOIN_COOLDOWN_S = 300.0
ENGAGE_COOLDOWN_S = 1800.0
FOMO_COOLDOWN_S = 900.0
SHARE_COOLDOWN_S = 3600.0
FOMO_MIN_MOMENTUM = 0.25
SILENCE_MAX_MSGS_1H = 5
SHARE_MAX_MSGS_1H = 10
_MOMENTUM_CAP = 0.9


def join_momentum_threshold(sociability: float) -> float:
    """Momentum needed to join; capped at 0.9 so every mood can reach it."""
    return min(_MOMENTUM_CAP, 0.6 * (2.0 - sociability))


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
    """A mood's thresholds, chances and waits at one chattiness (see the table above)."""

    join_momentum: float
    join_messages: int
    p_join: float
    fomo_messages: int
    fomo_momentum: float
    silence_s: float
    p_silence: float
    p_engage: float
    p_engage_related: float
    p_engage_join: float
    p_share: float
    join_cooldown_s: float
    engage_cooldown_s: float
    fomo_cooldown_s: float
    share_cooldown_s: float
    silence_max_msgs: float
    share_max_msgs: float
    chattiness: float = 1.0


def _count(n: int, c: float) -> int:
    return max(1, round(n / c))


@lru_cache(maxsize=1024)
def params_for(p: MoodProfile, chattiness: float = 1.0) -> Params:
    """The thresholds and chances the rules use for mood profile ``p`` at ``chattiness``
    (in (0, 2]; 0 is a gate of its own, see the module docstring)."""
    c = chattiness
    if not 0.0 < c <= 2.0:
        raise ValueError(f"chattiness must be in (0, 2] here, got {c!r}")
    soc = p.sociability
    return Params(
        join_momentum=min(_MOMENTUM_CAP, join_momentum_threshold(soc) / c),
        join_messages=_count(join_messages_needed(soc), c),
        p_join=min(1.0, (0.3 + 0.7 * p.impulsiveness) * c),
        fomo_messages=_count(fomo_messages_needed(soc), c),
        fomo_momentum=min(_MOMENTUM_CAP, FOMO_MIN_MOMENTUM / c),
        silence_s=float(round(silence_threshold_s(p.energy) / c)),
        p_silence=min(1.0, (0.25 + 0.75 * p.energy) * c),
        p_engage=min(1.0, (0.05 + 0.45 * soc) * c),
        p_engage_related=min(1.0, (0.55 + 0.6 * soc) * c),
        p_engage_join=min(1.0, (0.35 + 0.7 * soc) * c),
        p_share=min(1.0, c),
        join_cooldown_s=float(round(JOIN_COOLDOWN_S / c)),
        engage_cooldown_s=float(round(ENGAGE_COOLDOWN_S / c)),
        fomo_cooldown_s=float(round(FOMO_COOLDOWN_S / c)),
        share_cooldown_s=float(round(SHARE_COOLDOWN_S / c)),
        silence_max_msgs=SILENCE_MAX_MSGS_1H * c,
        share_max_msgs=SHARE_MAX_MSGS_1H * c,
        chattiness=c,
    )


#: mood name -> (profile, params at chattiness 1), so a decision looks its mood up once.
BY_MOOD: dict[str, tuple[MoodProfile, Params]] = {
    name: (p, params_for(p)) for name, p in MOODS.items()
}
