"""The tone's conditions in an explained decision (``engine.rules``; ``engine.tone``)."""

from __future__ import annotations

from engine.decision import Condition
from engine.state import GuildState
from engine.tone import net

__all__ = ["tone_condition", "tone_join_condition"]


def tone_condition(state: GuildState, now: float, ok: bool) -> Condition:
    """The tone condition of an unprompted post or a FOMO, for ``explain``."""
    return Condition("tone", ok, round(net(state, now), 3),
                     "not a negative room (tone > -0.4: engine.tone)")


def tone_join_condition(state: GuildState, now: float, ok: bool, ok_join: bool) -> Condition:
    """The tone condition of a join, for ``explain``."""
    return Condition("tone", ok_join, round(net(state, now), 3),
                     "not a negative room, or a mood that fits one (serious, melancholy)"
                     if ok else "a mood that fits a negative room (serious, melancholy)")
