"""How the room feels, without reading a word (issue 22 part 3; ENGINE.md "Tone").

Per guild, two decayed numbers (``Tone``), both halved every ``HALF_LIFE_S`` (30 minutes):

- ``score``: the emoji reactions added in her channel, each worth what the runtime's emoji
  sentiment table says (``runtime.gateway.reactions``: the Emoji Sentiment Ranking, a number
  in -1..1 per emoji; a custom guild emoji is 0). A removed reaction takes back what its
  addition still weighs (decayed), if it is one of the last ``MAX_REACTIONS`` (256) added;
  one not seen (or seen before a restore) takes back nothing. Clamped to -10..10.
- ``trouble``: content-free signs of trouble: ``DELETED_WEIGHT`` (0.25) per counted message
  deleted (``engine.deletions``; at most ``MAX_DELETED_WEIGHT``, 3, per event, so a bulk
  deletion of a raid weighs like twelve), ``TIMEOUT_WEIGHT`` (2) per member a moderator
  timed out. Clamped to 0..10.

The room is *negative* while ``score - trouble``, decayed, is at most ``-NEGATIVE_AT``
(-0.4): two crying faces (😢, -0.21 each in the runtime's table) or sobbing ones (😭, -0.31),
one angry face (😠, -0.52), a timeout, or two deleted messages. One crying face, or someone
deleting a typo, is not enough; a single angry face (-0.52) is negative for about 11 minutes
(decaying to -0.4), a timeout for 70 minutes. (Measured on the reactive simulator
with tone episodes: -0.6 let about as many joins through and answered a little less,
docs/BENCHMARKS.md.) It stays negative until ``clears_at``, which the rules report as when
to look next. The label the words get (``tone_label``): "tense" when trouble weighs at least
as much as the sad reactions, "sad" otherwise, "cheerful" when the decayed sum is at least
``CHEERFUL_AT`` (2), else none.

In a negative room (``engine.rules``): no ``share_tweet`` and no ``break_silence`` (playful
posts into a room that is grieving or fighting), no ``fomo_response`` (an eager "don't leave
me out"), and ``join_conversation`` only in the moods that fit such a room,
``JOINS_IN_NEGATIVE_ROOM`` (serious, melancholy: calm, sober voices; a bubbly, silly or
excited one does not fit, nor an irritated or angry one, nor a shy one, who would not speak
up into it). Monotone: a lower score or more trouble never makes the room clear
sooner, so a more negative room never makes a playful post likelier (property-tested).

Deterministic (arithmetic on the times given), bounded (two floats and a time in the
snapshot; the reactions' take-back memory, at most 256 entries, is not snapshotted).
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import msgspec

__all__ = [
    "CHEERFUL_AT",
    "DELETED_WEIGHT",
    "HALF_LIFE_S",
    "JOINS_IN_NEGATIVE_ROOM",
    "MAX_REACTIONS",
    "MAX_TONE",
    "NEGATIVE_AT",
    "TIMEOUT_WEIGHT",
    "Tone",
    "ToneLabel",
    "clears_at",
    "is_negative",
    "net",
    "note_deleted",
    "note_timeout",
    "observe_reaction",
    "tone_label",
]

HALF_LIFE_S = 1800.0
NEGATIVE_AT = 0.4
CHEERFUL_AT = 2.0
DELETED_WEIGHT = 0.25
MAX_DELETED_WEIGHT = 3.0
TIMEOUT_WEIGHT = 2.0
MAX_TONE = 10.0
MAX_REACTIONS = 256
#: The moods whose voice fits a sad or tense room: the only ones that join it.
JOINS_IN_NEGATIVE_ROOM: frozenset[str] = frozenset({"serious", "melancholy"})

ToneLabel = Literal["sad", "tense", "cheerful"]


class Tone(msgspec.Struct, gc=False):
    """A guild's tone: the reactions' ``score`` and the ``trouble``, as they were at ``at``."""

    score: float = 0.0
    trouble: float = 0.0
    at: float = 0.0


class GuildState(Protocol):
    """What of a guild's state (``engine.state.GuildState``) the tone reads and keeps."""

    tone: Tone | None
    reacted: dict[int, tuple[float, float]]


def _decay(tone: Tone, now: float) -> None:
    if now > tone.at:
        f = 0.5 ** ((now - tone.at) / HALF_LIFE_S)
        tone.score *= f
        tone.trouble *= f
        tone.at = now


def _tone(state: GuildState, now: float) -> Tone:
    tone = state.tone
    if tone is None:
        tone = state.tone = Tone(at=now)
    _decay(tone, now)
    return tone


def observe_reaction(state: GuildState, now: float, key: int, value: float,
                     added: bool = True) -> None:
    """A reaction was added (``added``) or removed in her channel. ``value`` is the emoji's
    sentiment (clamped to -1..1; the caller scores it); ``key`` names the reaction (message,
    user and emoji, hashed by the caller) so its removal can take back what it added."""
    if not -1.0 <= value <= 1.0:
        value = 0.0 if math.isnan(value) else max(-1.0, min(1.0, value))
    reacted = state.reacted
    if added:
        tone = _tone(state, now)
        tone.score = max(-MAX_TONE, min(MAX_TONE, tone.score + value))
        reacted.pop(key, None)
        reacted[key] = (value, now)
        if len(reacted) > MAX_REACTIONS:
            del reacted[next(iter(reacted))]
        return
    seen = reacted.pop(key, None)
    if seen is None or state.tone is None:
        return
    tone = _tone(state, now)
    v, at = seen
    left = v * 0.5 ** (max(0.0, now - at) / HALF_LIFE_S)
    tone.score = max(-MAX_TONE, min(MAX_TONE, tone.score - left))


def note_deleted(state: GuildState, now: float, count: int) -> None:
    """``count`` counted messages were deleted (``engine.deletions``)."""
    if count > 0:
        tone = _tone(state, now)
        tone.trouble = min(MAX_TONE, tone.trouble
                           + min(MAX_DELETED_WEIGHT, DELETED_WEIGHT * count))


def note_timeout(state: GuildState, now: float) -> None:
    """A moderator timed out a member (a human) of the guild."""
    tone = _tone(state, now)
    tone.trouble = min(MAX_TONE, tone.trouble + TIMEOUT_WEIGHT)


def net(state: GuildState, now: float) -> float:
    """The room's decayed tone at ``now``: reactions less trouble (0 with none)."""
    tone = state.tone
    if tone is None:
        return 0.0
    v = tone.score - tone.trouble
    return v * 0.5 ** ((now - tone.at) / HALF_LIFE_S) if now > tone.at else v


def clears_at(state: GuildState) -> float:
    """Until when the room is negative with no new signal (-inf: it is not negative),
    rounded up to a whole second: the rules' waits all end on whole seconds, so an actor
    that sleeps until ``next_at`` acts when one asking every second would."""
    tone = state.tone
    if tone is None:
        return -math.inf
    bad = tone.trouble - tone.score
    if bad < NEGATIVE_AT:
        return -math.inf
    return float(math.ceil(tone.at + HALF_LIFE_S * math.log2(bad / NEGATIVE_AT)))


def is_negative(state: GuildState, now: float) -> bool:
    """The room is sad or tense at ``now``."""
    return now < clears_at(state)


def tone_label(state: GuildState, now: float) -> ToneLabel | None:
    """A word for the room, for her words' tone hint; None for an ordinary room."""
    tone = state.tone
    if tone is None:
        return None
    if is_negative(state, now):
        return "tense" if tone.trouble >= -tone.score else "sad"
    return "cheerful" if net(state, now) >= CHEERFUL_AT else None

