"""What makes words fit to send, checked on what was sent: shared by the integration suite
and ``bench/bench_real_model.py --words``.

The checks are written apart from the pool's cleaning (``runtime.pool.clean``), with their
own, simpler rules, and they import nothing from the runtime: the benchmark runs them on the
pool of another tree (main's, for the "before" column) as well.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CHECKS", "Verdict", "budget", "check_words"]

#: The character budget per action (the link of a share not counted); quiet moods get 60 %.
#: The same numbers as runtime/pool/prompt.py, written out so the bar is the same for a pool
#: that has no budgets.
_BUDGETS = {"reply": 200, "join_conversation": 200, "fomo_response": 200, "engage_user": 200,
            "break_silence": 220, "general": 220, "share_tweet": 200}
_QUIET = {"shy", "sleepy", "melancholy", "asleep"}

CHECKS = ("non_empty", "whole", "within_budget", "no_label", "no_echo", "no_ai_talk",
          "no_invented_links")


def budget(action: str, mood: str) -> int:
    """Characters an answer to ``action`` in ``mood`` may have."""
    chars = _BUDGETS[action]
    return int(chars * 0.6) if mood in _QUIET else chars


_END_MARKS = set(".!?…~♪♫")
_CLOSERS = set("\"'”’)]*_»」")
_EMOTICON = re.compile(r"(?:[:;=xX]-?[)(DPp3]|\^\^|<3|xD|T_T)$")
_LABEL = re.compile(r"^\W{0,3}[A-Z][\w'.-]*(?: [A-Z0-9][\w'.-]*){0,2}(?: \((?:you|me)\))?"
                    r"\W{0,3}:(?:\s|$)", re.MULTILINE)
_AI = re.compile(r"\b(?:AI|A\.I\.|artificial intelligence|assistant|chat ?bot|"
                 r"language model|LLM)\b|\bI(?:'m| am) (?:just )?an? bot\b", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()]+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{2,}")
_TAG = re.compile(r"(?<![\w&#])#[^\W\d_]\w+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def _ends_whole(text: str) -> bool:
    text = text.rstrip()
    if _EMOTICON.search(text):
        return True
    while text and text[-1] in _CLOSERS:
        text = text[:-1]
    if not text:
        return False
    last = text[-1]
    if last in _END_MARKS:
        return True
    return unicodedata.category(last) in ("So", "Sk") or last in "\ufe0f\u200d"


def _shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = [w.casefold() for w in _WORD.findall(text.replace("’", "'"))]
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@dataclass(frozen=True)
class Verdict:
    """Which checks one output passed (``passed[name]``), and the text, for the report."""

    action: str
    mood: str
    text: str
    passed: dict[str, bool]

    @property
    def ok(self) -> bool:
        return all(self.passed.values())


def check_words(action: str, mood: str, text: str | None, *, prompt_texts: Sequence[str],
                item_url: str = "", item_title: str = "") -> Verdict:
    """Check one output.

    Args:
        action, mood: what was asked.
        text: what was sent; None or "" when nothing was (the request failed).
        prompt_texts: what the prompt said in its own words (the system message and the
            instruction, not the conversation): five words in a row from it are an echo.
        item_url: the shared item's link, the one URL allowed.
        item_title: the shared item's title: quoted, it does not count against the budget.
    """
    text = text or ""
    line = text.replace(item_url, "").strip() if item_url else text.strip()
    prompt_shingles = set().union(*(_shingles(p, 5) for p in prompt_texts)) \
        if prompt_texts else set()
    urls = [u.rstrip(".,!?)'\"") for u in _URL.findall(text)]
    passed = {
        "non_empty": bool(line),
        "whole": bool(line) and _ends_whole(line),
        "within_budget": len(line) <= budget(action, mood)
        + (len(item_title) if item_title and item_title in line else 0),
        "no_label": not _LABEL.search(text),
        "no_echo": not (_shingles(line, 5) & prompt_shingles),
        "no_ai_talk": not _AI.search(text),
        "no_invented_links": all(u == item_url for u in urls)
        and not _HANDLE.search(text) and not _TAG.search(text),
    }
    return Verdict(action, mood, text, passed)
