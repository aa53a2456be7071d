"""The report's ``reactive`` part (``--reactive``): how many of her autonomous actions the
simulated people answered, and how often she pestered someone.

- An action was *answered within W* when a simulated person's answer to that very action
  (``people.AnswerRecord``) came at most W after it. Coincidental messages do not count:
  only answers the model drew for the action. W is each of ``ANSWER_WINDOWS_S``.
- An action *addresses* someone when it names a user (``engage_user``). That user *ignored*
  it when they did not answer it within ``IGNORED_AFTER_S``. *Pestering*: addressing someone
  whose last two addresses (by her, in that guild) were both ignored.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from runtime.simulate.channel import SentRecord
from runtime.simulate.people import MODEL, AnswerRecord
from runtime.simulate.setup import RunResult

__all__ = ["ANSWER_WINDOWS_S", "IGNORED_AFTER_S", "answered_report", "reactive_report"]

ANSWER_WINDOWS_S = (600.0, 1800.0)
IGNORED_AFTER_S = 1800.0


def _first_answers(answers: list[AnswerRecord]) -> dict[tuple[int, float, str], float]:
    """(guild, action time, action) -> delay of its first answer."""
    out: dict[tuple[int, float, str], float] = {}
    for a in answers:
        key = (a.guild_id, a.action_at, a.action)
        delay = a.at - a.action_at
        if key not in out or delay < out[key]:
            out[key] = delay
    return out


def _shares(actions: list[SentRecord], first: dict[tuple[int, float, str], float]
            ) -> dict[str, Any]:
    n = len(actions)
    out: dict[str, Any] = {"actions": n}
    for w in ANSWER_WINDOWS_S:
        k = sum(1 for r in actions if first.get((r.guild_id, r.at, r.action), w + 1) <= w)
        label = f"{w / 60:g}m"
        out[f"answered_{label}"] = k
        out[f"answered_{label}_share"] = round(k / n, 4) if n else None
    return out


def _pestering(actions: list[SentRecord], answers: list[AnswerRecord]) -> tuple[int, int]:
    """(actions addressing someone, of those: to someone who ignored the last two)."""
    by_target = {(a.guild_id, a.action_at, a.user_id) for a in answers
                 if a.addressed and a.at - a.action_at <= IGNORED_AFTER_S}
    history: dict[tuple[int, int], list[bool]] = {}
    addressed = pestered = 0
    for r in sorted(actions, key=lambda r: (r.at, r.guild_id)):
        if r.target_user_id is None or r.action != "engage_user":
            continue
        addressed += 1
        past = history.setdefault((r.guild_id, r.target_user_id), [])
        if len(past) >= 2 and past[-1] and past[-2]:
            pestered += 1
        past.append((r.guild_id, r.at, r.target_user_id) not in by_target)
    return addressed, pestered


def answered_report(result: RunResult, guilds: Collection[int] | None = None
                    ) -> dict[str, Any]:
    """One run's answered shares, overall and by action, and its pestering (over every
    guild, or over ``guilds`` only)."""
    actions = [r for r in result.sent if r.priority > 0
               and (guilds is None or r.guild_id in guilds)]
    answers = [a for a in result.answers if guilds is None or a.guild_id in guilds]
    first = _first_answers(answers)
    by_action: dict[str, list[SentRecord]] = {}
    for r in actions:
        by_action.setdefault(r.action, []).append(r)
    addressed, pestered = _pestering(actions, answers)
    return {
        **_shares(actions, first),
        "answers": len(answers),
        "by_action": {a: _shares(rs, first) for a, rs in sorted(by_action.items())},
        "addressed": addressed,
        "pestering": pestered,
    }


def reactive_report(v2: RunResult, v1: RunResult | None,
                    guilds: Collection[int] | None = None) -> dict[str, Any]:
    """``{"model", "windows_s", "v2", "v1"}``: the model's parameters and each run's
    figures (V1 None when it was skipped)."""
    return {"model": MODEL, "windows_s": list(ANSWER_WINDOWS_S),
            "ignored_after_s": IGNORED_AFTER_S,
            "v2": answered_report(v2, guilds),
            "v1": answered_report(v1) if v1 is not None else None}
