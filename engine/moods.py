"""Mood profiles and the mood rotation rule.

Each mood has three traits in 0..1 that the decision rules read (``engine.rules`` says how):

============  ======  ===========  =============  ======  =========================================
mood          energy  sociability  impulsiveness  shares  what it does
============  ======  ===========  =============  ======  =========================================
neutral       0.50    0.50         0.50           no      middle of the road
bubbly        0.90    0.95         0.80           no      joins early (5 msgs), breaks silence ~1.3 h
sleepy        0.20    0.30         0.15           no      slow to join, silence threshold ~3.4 h
curious       0.70    0.65         0.60           yes     shares items when the chat is quiet
shy           0.40    0.20         0.20           no      joins only after 40 msgs, FOMO at 40
serious       0.45    0.40         0.30           no      reserved, rarely impulsive
excited       0.95    0.85         0.90           yes     fastest to break silence, shares items
silly         0.80    0.75         0.95           no      the most impulsive joiner
melancholy    0.25    0.30         0.25           no      quiet, long silence threshold
flirty        0.70    0.85         0.70           no      sociable, greets new players
romantic      0.55    0.70         0.40           no      warm but unhurried
irritated     0.50    0.30         0.60           no      speaks up when provoked by momentum
angry         0.60    0.20         0.70           no      unsociable: joins late, but acts on it
asleep        0.00    0.00         0.00           no      takes no autonomous action at all
============  ======  ===========  =============  ======  =========================================

(seed: bubbly 0.9/0.95/0.8, shy 0.4/0.2/0.2; orig: silly impulsiveness 0.95, serious 0.3.)

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
