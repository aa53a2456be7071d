"""The report's ``reactive`` part (``--reactive``): how many of her autonomous actions the
simulated people answered, and how often she pestered someone.

- An action was *answered within W* when a simulated person's answer to that very action
  (``people.AnswerRecord``) came at most W after it. Coincidental messages do not count:
  only answers the model drew for the action. W is each of ``ANSWER_WINDOWS_S``.
- An action *addresses* someone when it names a user (``engage_user``). That user *ignored*
  it when they did not answer it within ``IGNORED_AFTER_S``. *Pestering* (issue 22: "how
  many times she addressed someone who had ignored her twice before"): addressing someone
  whose last two addresses (by her, in that guild) were both ignored and who has not spoken
  to her (a message that mentions or replies to her: in the base traffic, or an answer to
  any of her actions) since the last of them. Someone who has since spoken to her is no
  longer ignoring her: addressing them again is no pestering, and ENGINE.md lifts its block
  for them the same way. ``pestering_any`` counts without that exception (the first
  definition), ``pestering_after_day`` those of ``pestering`` a day or more after the last
  ignored address (ENGINE.md lets the block end when a day passes).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection
from typing import Any

from actors.events import MessageSeen
from runtime.simulate.channel import SentRecord
from runtime.simulate.people import MODEL, AnswerRecord
from runtime.simulate.setup import RunResult
from runtime.simulate.traffic import Traffic

__all__ = ["ANSWER_WINDOWS_S", "IGNORED_AFTER_S", "affinity_report", "answered_report",
           "reactive_report", "spoke_to_her"]

ANSWER_WINDOWS_S = (600.0, 1800.0)
IGNORED_AFTER_S = 1800.0
DAY_S = 86400.0


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


def spoke_to_her(traffic: Traffic) -> dict[tuple[int, int], list[float]]:
    """(guild, user) -> the times of their base-traffic messages that speak to her (mention
    or reply to her), sorted."""
    out: dict[tuple[int, int], list[float]] = {}
    for g in traffic.guilds:
        for e in g.events:
            if type(e) is MessageSeen and e.addresses_self and not e.author_is_bot:
                out.setdefault((e.guild_id, e.author_id), []).append(e.at)
    return out


def _pestering(actions: list[SentRecord], answers: list[AnswerRecord],
               spoke: dict[tuple[int, int], list[float]] | None = None) -> dict[str, int]:
    """``addressed`` (actions addressing someone) and, of those, ``pestering`` (to someone
    whose last two addresses were ignored, with no message of theirs to her since),
    ``pestering_after_day`` (of those, a day or more after the last ignored one: what
    ENGINE.md's day pass allows) and ``pestering_any`` (the last two ignored, whatever
    they said to her since)."""
    by_target = {(a.guild_id, a.action_at, a.user_id) for a in answers
                 if a.addressed and a.at - a.action_at <= IGNORED_AFTER_S}
    to_her: dict[tuple[int, int], list[float]] = {k: list(v) for k, v in (spoke or {}).items()}
    for a in answers:
        if a.to_her:
            to_her.setdefault((a.guild_id, a.user_id), []).append(a.at)
    for v in to_her.values():
        v.sort()
    history: dict[tuple[int, int], list[bool]] = {}
    run: dict[tuple[int, int], tuple[int, float]] = {}  # ignores in a row, last address
    out = dict.fromkeys(("addressed", "pestering", "pestering_after_day", "pestering_any"), 0)
    for r in sorted(actions, key=lambda r: (r.at, r.guild_id)):
        if r.target_user_id is None or r.action != "engage_user":
            continue
        out["addressed"] += 1
        key = (r.guild_id, r.target_user_id)
        past = history.setdefault(key, [])
        if len(past) >= 2 and past[-1] and past[-2]:
            out["pestering_any"] += 1
        row, last = run.get(key, (0, -math.inf))
        times = to_her.get(key, ())
        # A message to her at the very moment of the address counts as before it: the
        # engine hears it first (it is what may have lifted her block).
        if row and bisect.bisect_right(times, r.at) > bisect.bisect_right(times, last):
            row = 0  # they spoke to her since her last address: no longer ignoring her
        if row >= 2:
            out["pestering"] += 1
            out["pestering_after_day"] += r.at - last >= DAY_S
        ignored = (r.guild_id, r.at, r.target_user_id) not in by_target
        past.append(ignored)
        run[key] = (row + 1 if ignored else 0, r.at)
    return out


def answered_report(result: RunResult, guilds: Collection[int] | None = None,
                    spoke: dict[tuple[int, int], list[float]] | None = None
                    ) -> dict[str, Any]:
    """One run's answered shares, overall and by action, and its pestering (over every
    guild, or over ``guilds`` only; ``spoke``: ``spoke_to_her`` of the traffic)."""
    actions = [r for r in result.sent if r.priority > 0
               and (guilds is None or r.guild_id in guilds)]
    answers = [a for a in result.answers if guilds is None or a.guild_id in guilds]
    first = _first_answers(answers)
    by_action: dict[str, list[SentRecord]] = {}
    for r in actions:
        by_action.setdefault(r.action, []).append(r)
    return {
        **_shares(actions, first),
        "answers": len(answers),
        "by_action": {a: _shares(rs, first) for a, rs in sorted(by_action.items())},
        **_pestering(actions, answers, spoke),
    }


def reactive_report(v2: RunResult, v1: RunResult | None,
                    guilds: Collection[int] | None = None,
                    spoke: dict[tuple[int, int], list[float]] | None = None
                    ) -> dict[str, Any]:
    """``{"model", "windows_s", "v2", "v1"}``: the model's parameters and each run's
    figures (V1 None when it was skipped)."""
    return {"model": MODEL, "windows_s": list(ANSWER_WINDOWS_S),
            "ignored_after_s": IGNORED_AFTER_S,
            "v2": answered_report(v2, guilds, spoke),
            "v1": answered_report(v1, None, spoke) if v1 is not None else None}


def affinity_report(result: RunResult, guilds: Collection[int] | None = None, *,
                    reactive: bool = False,
                    spoke: dict[tuple[int, int], list[float]] | None = None
                    ) -> dict[str, Any]:
    """One run of ``--compare-affinity``: its ``engage_user`` actions and, when the people
    answered her (``reactive``), their answered shares, the number addressed and pestering
    (over every guild, or over ``guilds`` only)."""
    if not reactive:
        n = sum(1 for r in result.sent if r.priority > 0 and r.action == "engage_user"
                and (guilds is None or r.guild_id in guilds))
        return {"engage_user": {"actions": n}}
    a = answered_report(result, guilds, spoke)
    return {"engage_user": a["by_action"].get("engage_user", {"actions": 0}),
            "answered_10m_share": a["answered_10m_share"],
            "answered_30m_share": a["answered_30m_share"],
            **{k: a[k] for k in ("addressed", "pestering", "pestering_after_day",
                                 "pestering_any")}}
