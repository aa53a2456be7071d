"""Policies: V2 (the rules), V1 (the old timer), and the names the runtime configures.

A policy is an object with a ``name`` and ``decide(state, cfg, now, seed, explain=False)``
returning a ``Decision``. ``shadow`` is not a policy of its own: the runtime runs V1 to act
and V2 beside it to log what it would have done.
"""

from __future__ import annotations

from typing import Protocol

from engine.decision import Decision
from engine.rules import decide
from engine.state import GuildConfig, GuildState
from engine.v1 import decide_v1

__all__ = ["POLICIES", "Policy", "V1Policy", "V2Policy", "policy_for"]


class Policy(Protocol):
    """What the runtime asks: a name, and a decision for a guild at a moment."""

    name: str

    def decide(self, state: GuildState, cfg: GuildConfig, now: float, seed: int,
               explain: bool = False) -> Decision: ...


class V2Policy:
    """The V2 rules (``engine.rules.decide``)."""

    name = "v2"

    def decide(self, state: GuildState, cfg: GuildConfig, now: float, seed: int,
               explain: bool = False) -> Decision:
        return decide(state, cfg, now, seed, explain)


class V1Policy:
    """The old timer (``engine.v1.decide_v1``), for rollback, shadow runs and comparison."""

    name = "v1"

    def decide(self, state: GuildState, cfg: GuildConfig, now: float, seed: int,
               explain: bool = False) -> Decision:
        return decide_v1(state, cfg, now, seed, explain)


POLICIES: dict[str, Policy] = {"v2": V2Policy(), "v1": V1Policy()}


def policy_for(name: str) -> Policy:
    """The policy called ``name`` (``v1`` or ``v2``). Raises ValueError listing both."""
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; valid: v2, v1") from None
