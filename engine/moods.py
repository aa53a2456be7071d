"""Mood profiles and the mood rotation rule.

Each mood has three traits in 0..1 that the decision rules read: energy (ener), sociability
(soci), impulsiveness (impu). What they make of them (``engine.rules`` has the formulas):
"joins at" is the messages since her last appearance @ the momentum needed to join, "FOMO"
the messages for a FOMO response, "silence" how long a silence lasts before she may break it.

==========  ====  ====  ====  ======  =========  ====  =======  ==================================
mood        ener  soci  impu  shares  joins at   FOMO  silence  what it does
==========  ====  ====  ====  ======  =========  ====  =======  ==================================
neutral     0.50  0.50  0.50  no      26 @ 0.90  34    150 min  middle of the road
bubbly      0.90  0.95  0.80  no      5 @ 0.63   25    78 min   joins early, breaks silence early
sleepy      0.20  0.30  0.15  no      35 @ 0.90  38    204 min  slow to join, longest silences
curious     0.70  0.65  0.60  yes     19 @ 0.81  31    114 min  shares items when the chat is quiet
shy         0.40  0.20  0.20  no      40 @ 0.90  40    168 min  waits for 40 messages
serious     0.45  0.40  0.30  no      31 @ 0.90  36    159 min  reserved, rarely impulsive
excited     0.95  0.85  0.90  yes     10 @ 0.69  27    69 min   quickest to break silence; shares
silly       0.80  0.75  0.95  no      14 @ 0.75  29    96 min   the most impulsive joiner
melancholy  0.25  0.30  0.25  no      35 @ 0.90  38    195 min  quiet, long silences
flirty      0.70  0.85  0.70  no      10 @ 0.69  27    114 min  sociable, greets new players
romantic    0.55  0.70  0.40  no      17 @ 0.78  30    141 min  warm but unhurried
irritated   0.50  0.30  0.60  no      35 @ 0.90  38    150 min  unsociable, impulsive
angry       0.60  0.20  0.70  no      40 @ 0.90  40    132 min  joins late, but acts on it
asleep      0.00  0.00  0.00  no      -          -     -        takes no autonomous action at all
==========  ====  ====  ====  ======  =========  ====  =======  ==================================

(seed: bubbly 0.9/0.95/0.8, shy 0.4/0.2/0.2; orig: silly impulsiveness 0.95, serious 0.3.)

In a negative room (``engine.tone``: sad reactions, deletions, timeouts) only serious and
melancholy join a conversation; no mood posts a share or a silence-breaker, or a FOMO.

Rotation (``next_mood``): hourly by default; never the same mood twice in a row; ``asleep``
during the guild's quiet hours and a waking mood right after them. The choice is a pure
function of (seed, guild, hour index), so a restored guild rotates exactly as it would have.
"""

from __future__ import annotations

import msgspec

from engine.errors import UnknownMoodError
from engine.rolls import roll

__all__ = [
    "ASLEEP",
    "MOODS",
    "MOOD_NAMES",
    "WAKING_MOODS",
    "MoodProfile",
    "next_mood",
    "profile_for",
]


class MoodProfile(msgspec.Struct, frozen=True, gc=False):
    """Traits of one mood, each in 0..1. ``shares``: the mood shares feed items."""

    name: str
    energy: float
    sociability: float
    impulsiveness: float
    shares: bool = False


ASLEEP = "asleep"

MOODS: dict[str, MoodProfile] = {
    p.name: p
    for p in (
        MoodProfile("neutral", 0.50, 0.50, 0.50),
        MoodProfile("bubbly", 0.90, 0.95, 0.80),
        MoodProfile("sleepy", 0.20, 0.30, 0.15),
        MoodProfile("curious", 0.70, 0.65, 0.60, shares=True),
        MoodProfile("shy", 0.40, 0.20, 0.20),
        MoodProfile("serious", 0.45, 0.40, 0.30),
        MoodProfile("excited", 0.95, 0.85, 0.90, shares=True),
        MoodProfile("silly", 0.80, 0.75, 0.95),
        MoodProfile("melancholy", 0.25, 0.30, 0.25),
        MoodProfile("flirty", 0.70, 0.85, 0.70),
        MoodProfile("romantic", 0.55, 0.70, 0.40),
        MoodProfile("irritated", 0.50, 0.30, 0.60),
        MoodProfile("angry", 0.60, 0.20, 0.70),
        MoodProfile(ASLEEP, 0.0, 0.0, 0.0),
    )
}

MOOD_NAMES: tuple[str, ...] = tuple(MOODS)
WAKING_MOODS: tuple[str, ...] = tuple(m for m in MOOD_NAMES if m != ASLEEP)

# Rotation draws from these; index order is part of determinism, so append only.
_ROTATION_SALT = 0x6D6F6F64  # "mood"


def profile_for(mood: str) -> MoodProfile:
    """Return the profile of ``mood``.

    Raises:
        UnknownMoodError: ``mood`` is not one of ``MOOD_NAMES`` (the message lists them).
    """
    try:
        return MOODS[mood]
    except KeyError:
        raise UnknownMoodError(mood, MOOD_NAMES) from None


def next_mood(current: str, *, hour_index: int, in_quiet_hours: bool, seed: int,
              guild_id: int) -> str:
    """The mood after a rotation at the start of hour ``hour_index`` (epoch hours).

    Args:
        current: the mood now.
        hour_index: ``int(now // 3600)`` at the rotation.
        in_quiet_hours: the guild's local time is inside its quiet hours.
        seed, guild_id: make the choice reproducible per guild.

    Returns:
        ``asleep`` in quiet hours; otherwise a waking mood different from ``current``.
    """
    if in_quiet_hours:
        return ASLEEP
    choices = [m for m in WAKING_MOODS if m != current]
    r = roll(seed, guild_id, _ROTATION_SALT, hour_index)
    return choices[int(r * len(choices)) % len(choices)]
