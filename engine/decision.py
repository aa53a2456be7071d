"""What a decision carries: the action and its target, when to look next, and (when asked to
explain) the signals, the gates and every rule's conditions."""

from __future__ import annotations

import math

import msgspec

from engine.signals import Signals

__all__ = ["Condition", "Decision", "RuleCheck"]


class Condition(msgspec.Struct, frozen=True, gc=False):
    """One condition of a rule: its name, whether it held, the value seen, what was needed."""

    name: str
    ok: bool
    value: float | int | str | bool | None
    need: str


class RuleCheck(msgspec.Struct, frozen=True, gc=False):
    """How one action's rule came out."""

    action: str
    fired: bool
    conditions: tuple[Condition, ...]


class Decision(msgspec.Struct, frozen=True, gc=False):
    """The outcome of asking the engine at ``at``.

    ``action`` is None for a non-decision; ``blocked_by`` then names the gate that stopped
    every rule, if one did. ``next_at`` is when to look next: the earliest time a gate could
    open with no new event (``inf`` if nothing would change by itself). ``signals``, ``gates``
    and ``checks`` are filled only when asked to explain.
    """

    action: str | None
    at: float
    next_at: float
    policy: str = "v2"
    blocked_by: str | None = None
    target_user_id: int | None = None
    target_activity: str | None = None
    target_kind: str | None = None
    #: The message a ``react`` is for (its author is ``target_user_id``); ids only.
    target_message_id: int | None = None
    signals: Signals | None = None
    gates: tuple[Condition, ...] = ()
    checks: tuple[RuleCheck, ...] = ()


def num(x: float) -> float | None:
    """``x`` rounded for an explanation; None for an infinite one ("never")."""
    return None if math.isinf(x) else round(x, 1)
