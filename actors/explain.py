"""How an actor explains a decision in its log lines: the conditions of the rule that fired,
or, when nothing fired, the first condition that held each action back."""

from __future__ import annotations

from typing import Any

import msgspec

from engine import Decision

__all__ = ["reasons", "why_not"]


def reasons(d: Decision) -> dict[str, Any]:
    """The signals and the conditions of the rule that fired (or of every rule if none)."""
    checks = [c for c in d.checks if c.fired] or list(d.checks)
    return {
        "signals": msgspec.to_builtins(d.signals) if d.signals is not None else None,
        "blocked_by": d.blocked_by,
        "rules": {c.action: {x.name: [x.value, x.need, x.ok] for x in c.conditions}
                  for c in checks},
    }


def why_not(d: Decision) -> dict[str, str]:
    """``{action: "condition=value (need ...)"}``: each rule's first failed condition in an
    explained decision (``decide(..., explain=True)``)."""
    held: dict[str, str] = {}
    for check in d.checks:
        for c in check.conditions:
            if not c.ok:
                held[check.action] = f"{c.name}={c.value} (need {c.need})"
                break
    return held
