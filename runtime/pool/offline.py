"""The offline persona backend: written lines, no server.

The embedded default (the simulator runs on it) and the operator's fallback when the
inference server is down. The line for a request is chosen with ``random.Random`` seeded from
(seed, guild, when it was decided, action, mood), so the same request gets the same line
whatever order requests are served in, and whichever process serves it (request ids are
numbered per process: a simulation split over processes says the same words).
"""

from __future__ import annotations

import random

import anyio

from runtime.pool.models import Prompt
from runtime.pool.persona import Persona, default_persona, fill
from runtime.pool.prompt import (
    FAMILIAR_LINES,
    FAMILIAR_WELCOME_LINES,
    QUIET_MOODS,
    WELCOME_LINES,
)

__all__ = ["OfflineBackend"]

#: The mood whose lines fit a room of that tone.
_TONE_VOICE = {"sad": "melancholy", "tense": "serious"}


class OfflineBackend:
    """Answers from the persona's offline lines.

    Args:
        persona: the lines to speak; None for the shipped persona.
        seed: the seed of every choice; the same seed gives the same line per request.
        latency: (low, high) seconds of simulated thinking, drawn from the same RNG;
            (0, 0) answers at once.
    """

    def __init__(self, persona: Persona | None = None, *, seed: int = 0,
                 latency: tuple[float, float] = (0.0, 0.0)) -> None:
        low, high = latency
        if not 0.0 <= low <= high:
            raise ValueError(f"latency must be (low, high) with 0 <= low <= high, got {latency}")
        self.persona = persona or default_persona()
        self.seed = seed
        self.latency = (low, high)

    def line(self, prompt: Prompt) -> str:
        """The filled line for ``prompt`` (no latency): deterministic by seed."""
        rng = random.Random(f"{self.seed}:{prompt.guild_id}:{prompt.decided_at!r}:"
                            f"{prompt.action}:{prompt.mood}")
        lines = self.persona.lines
        per_mood = lines.get(prompt.mood) or lines["neutral"]
        # A sad or tense room: a quieter voice's lines for this action, if the persona has
        # them (the mood's own otherwise).
        quieter = _TONE_VOICE.get(prompt.tone or "")
        if quieter is not None and prompt.action in lines.get(quieter, {}):
            per_mood = lines[quieter]
        # Someone who answers her gets a warmer line, but not in a quiet mood (hers stay)
        # nor in a sad or tense room (the quieter voice stays).
        familiar = prompt.action == "engage_user" and prompt.familiarity == "familiar" \
            and prompt.mood not in QUIET_MOODS and quieter is None
        if prompt.action == "engage_user" and not prompt.activity:
            # someone who just joined (back, if she knows them)
            template = rng.choice(FAMILIAR_WELCOME_LINES if familiar else WELCOME_LINES)
        elif familiar:
            template = rng.choice(FAMILIAR_LINES)  # someone who answers her: a warmer line
        else:
            template = rng.choice(per_mood[prompt.action])
        item = prompt.item
        return fill(template, {
            "name": self.persona.name,
            "author": prompt.author or "everyone",
            "user": prompt.user or "friend",
            "activity": prompt.activity or "that",
            "item_title": item.title if item else "this",
            "item_url": item.url if item else "",
        })

    async def generate(self, prompt: Prompt) -> str:
        """Return a line for ``prompt``, after the simulated latency if any."""
        text = self.line(prompt)
        low, high = self.latency
        if high > 0:
            delay = random.Random(f"{self.seed}:{prompt.guild_id}:{prompt.decided_at!r}:"
                                  "latency").uniform(low, high)
            await anyio.sleep(delay)
        return text
