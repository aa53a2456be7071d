"""Cleaning a backend's words before they reach Discord.

The sender also disables mentions; this is the second fence, and it makes the text read right.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["DISCORD_LIMIT", "clean_output"]

#: Discord's limit on a message's length, in characters.
DISCORD_LIMIT = 2000

_ZWSP = "\u200b"
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.IGNORECASE | re.DOTALL)
# <@123>, <@!123> (user) and <@&123> (role): dropped, they would ping someone.
_ID_PING = re.compile(r"\s?<@[!&]?\d+>")
# @everyone / @here: broken with a zero-width space so they read the same but ping no one.
_MASS_PING = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]{2,}")
_QUOTES = {'"': '"', "“": "”", "«": "»", "「": "」"}


def _prefix_pattern(names: Sequence[str]) -> re.Pattern[str]:
    alts = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(names, key=len,
                                                                          reverse=True))
    # "Miku:", "**Miku**:", "**Miku:**", "Hatsune Miku -", "[Miku]:"; not "Miku-chan is here".
    return re.compile(
        rf"^[\s*_~\[(]*(?:{alts})(?:\s*\(you\))?[\s*_~\])]*(?:[:：]|\s[-–—](?=\s))[\s*_~]*",
        re.IGNORECASE,
    )


# A later line that opens with a speaker's label ("Rin: …", "**Len (you)**: …"): a small model
# continuing the transcript it was shown. Up to three words before the colon.
_SPEAKER_LINE = re.compile(
    r"\n[ \t*_~\[(]*[^\s:*_~\[(][^\s:]*(?:[ \t][^\s:]+){0,2}(?:\s*\(you\))?[*_~\])]*"
    r"[ \t]*[:：](?:\s|$)")

_DEFAULT_NAMES = ("Hatsune Miku", "Miku Hatsune", "Miku")
_patterns: dict[tuple[str, ...], re.Pattern[str]] = {}


def _strip_prefix(text: str, names: tuple[str, ...]) -> str:
    if not names:
        return text
    pattern = _patterns.get(names)
    if pattern is None:
        pattern = _patterns[names] = _prefix_pattern(names)
    # A model may stack them ("Miku: Miku: hi"); strip a few, not forever.
    for _ in range(3):
        stripped = pattern.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped.lstrip()
    return text


def _cut_transcript(text: str, names: tuple[str, ...], others: Sequence[str]) -> str:
    """Keep only her own words. An answer that opens as someone else ("Rin: …") is the model
    writing the transcript on: her first line in it ("Miku (you): …") is kept if there is
    one, else nothing; and other speakers' lines after her words are cut off."""
    first = text.lstrip(" \t*_~[(").casefold()
    for name in others:
        n = name.casefold()
        if n and first.startswith(n) and first[len(n):].lstrip(" \t*_~])").startswith((":", "：")):
            own = _own_line(text, names)
            if own is None:
                return ""
            text = own
            break
    m = _SPEAKER_LINE.search(text)
    return text[: m.start()].rstrip() if m else text


def _own_line(text: str, names: tuple[str, ...]) -> str | None:
    """The text from her first labelled line on, without the label; None if she has none."""
    if not names:
        return None
    pattern = _patterns.get(names)
    if pattern is None:
        pattern = _patterns[names] = _prefix_pattern(names)
    lines = text.split("\n")
    for i, line in enumerate(lines[1:], start=1):
        stripped = pattern.sub("", line, count=1)
        if stripped != line and stripped.strip():
            return "\n".join([stripped.strip(), *lines[i + 1:]])
    return None


def _unquote(text: str) -> str:
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1] and text.count(text[0]) == (
        1 if text[0] != text[-1] else 2
    ):
        return text[1:-1].strip()
    return text


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    if boundary >= limit // 2:
        cut = cut[:boundary]
    return cut.rstrip() + "…"


def clean_output(text: str, *, names: Sequence[str] = _DEFAULT_NAMES,
                 limit: int = DISCORD_LIMIT, others: Sequence[str] = ()) -> str:
    """Make a backend's answer fit to send.

    Removes reasoning blocks (``<think>…</think>``), a speaker prefix naming the persona
    (``Miku:``, ``**Miku**:``, ``Hatsune Miku -``) and quotes around the whole answer; keeps
    only her own words when the model goes on with the transcript it was shown (an answer
    that opens as one of ``others`` is dropped, and later lines opening with a speaker's
    label are cut off); drops
    user and role pings (``<@id>``, ``<@!id>``, ``<@&id>``) and breaks ``@everyone`` /
    ``@here`` with a zero-width space; trims to ``limit`` characters on a word boundary,
    ending with an ellipsis.

    Args:
        text: the raw answer.
        names: the persona's names, for the speaker prefix.
        others: the other speakers' names the prompt showed (the conversation's authors).
        limit: the maximum length (Discord's 2,000 characters).

    Returns:
        The cleaned text; ``""`` when nothing is left (the pool reports "empty output").
    """
    text = _THINK.sub("", text).strip()
    text = _strip_prefix(text, tuple(names))
    text = _cut_transcript(text, tuple(names), others)
    text = _unquote(text)
    text = _ID_PING.sub("", text)
    text = _MASS_PING.sub(lambda m: "@" + _ZWSP + m.group(1), text)
    text = _SPACES.sub(" ", text).strip()
    return _trim(text, limit)
