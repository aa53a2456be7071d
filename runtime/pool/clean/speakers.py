"""Whose words these are: speaker labels, a transcript the model went on writing, quotes,
reasoning blocks and pings.

A small model shown a transcript ("Rin: …", "Miku (you): …") answers in its form: it opens
with a label (hers, someone else's, or a generic one: ``A:``, ``Chat:``, ``Sender: …``) and
goes on writing the others' lines. What is hers is kept; a line spoken as someone else is not.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

__all__ = ["cut_transcript", "drop_lines_to_her", "neutralise_pings", "strip_labels",
           "strip_think", "unquote"]

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.IGNORECASE | re.DOTALL)
# <@123>, <@!123> (user) and <@&123> (role): dropped, they would ping someone.
_ID_PING = re.compile(r"\s?<@[!&]?\d+>")
# @everyone / @here: broken with a zero-width space so they read the same but ping no one.
_MASS_PING = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
_ZWSP = "\u200b"
_QUOTES = {'"': '"', "“": "”", "«": "»", "「": "」"}

# A label that looks like a name: up to three words, each opening with a capital (or a digit
# after the first: "User 1"), as in "Gumi:", "A:", "Chat:", "Kaito Shion (you):". "I love
# Miku: she sings" and "Rin's song: so good" are sentences, not labels.
_NAMELIKE = r"[^\W\d_a-z][\w'’.-]*(?:[ \t]+[^\W_a-z][\w'’.-]*){0,2}"
_OPEN = r"[ \t*_~\[(]*"
# A label told as a story: "Teto says to you:", "Rin answers:" (the prompt's own wording).
_VERB = (r"(?:[ \t]+(?P<verb>says|said|asks|asked|answers|answered|replies|replied|writes|"
         r"wrote)(?:[ \t]+to[ \t]+\w+)?)?")
_CLOSE = r"(?:\s*\((?:you|me)\))?[*_~\])]*[ \t]*"


def _alts(names: Sequence[str]) -> str:
    return "|".join(re.escape(n).replace(r"\ ", r"\s+")
                    for n in sorted({n for n in names if n}, key=len, reverse=True))


@functools.lru_cache(maxsize=64)
def _own_prefix(names: tuple[str, ...]) -> re.Pattern[str]:
    # "Miku:", "**Miku**:", "**Miku:**", "Hatsune Miku -", "[Miku]:"; not "Miku-chan is here".
    return re.compile(
        rf"^[\s*_~\[(]*(?:{_alts(names)})(?:\s*\(you\))?[\s*_~\])]*(?:[:：]|\s[-–—](?=\s))"
        r"[\s*_~]*", re.IGNORECASE)


# The label patterns, in two parts: the generic one (a name-like label), and one for the names
# the prompt showed. Both are compiled once. A pattern holding the known names themselves cost
# ~4 ms to compile for each new set of names (every prompt names other people), and a cache of
# them missed for nearly every prompt: a quarter of a simulated day's CPU. So the known-name
# pattern takes any label up to the line's first colon, and the label is then looked up among
# the names (case folded, runs of spaces as one). A name holds no colon, so that is the label
# ``(?i:known names)`` would have matched, and the known one is tried first, as before.
_LEADING = rf"^{_OPEN}(?P<label>{{who}}){_VERB}{_CLOSE}[:：](?=[\s*_~]|$)[ \t*_~]*"
_LATER = rf"\n{_OPEN}(?P<label>{{who}}){_VERB}{_CLOSE}[:：](?:[\s*_~]|$)"
_ANY_LABEL = r"[^\s:：][^\n:：]*?"
_LEADING_NAMELIKE = re.compile(_LEADING.format(who=_NAMELIKE))
_LATER_NAMELIKE = re.compile(_LATER.format(who=_NAMELIKE))
_LEADING_ANY = re.compile(_LEADING.format(who=_ANY_LABEL))
_LATER_ANY = re.compile(_LATER.format(who=_ANY_LABEL))


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def _is_known(m: re.Match[str], known: frozenset[str]) -> bool:
    return _fold(m.group("label")) in known


def _leading_label(text: str, others: tuple[str, ...]) -> re.Match[str] | None:
    if others:
        m = _LEADING_ANY.match(text)
        if m is not None and _is_known(m, frozenset(_fold(n) for n in others if n.strip())):
            return m
    return _LEADING_NAMELIKE.match(text)


def _later_label(text: str, names: tuple[str, ...]) -> re.Match[str] | None:
    b = _LATER_NAMELIKE.search(text)
    known = frozenset(_fold(n) for n in names if n.strip())
    if known:
        last = len(text) if b is None else b.start()
        # One line after another (a match may take the next line's newline with it).
        a = _LATER_ANY.search(text)
        while a is not None and a.start() <= last:
            if _is_known(a, known):
                return a
            a = _LATER_ANY.search(text, a.start() + 1)
    return b


def strip_think(text: str) -> str:
    """Without reasoning blocks (``<think>…</think>``, or one left open)."""
    return _THINK.sub("", text).strip()


def _strip_own(text: str, names: tuple[str, ...]) -> str:
    if not names:
        return text
    pattern = _own_prefix(names)
    # A model may stack them ("Miku: Miku: hi"); strip a few, not forever.
    for _ in range(3):
        stripped = pattern.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped.lstrip()
    return text


def _own_line(text: str, names: tuple[str, ...]) -> str | None:
    """The text from her first labelled line on, without the label; None if she has none."""
    if not names:
        return None
    pattern = _own_prefix(names)
    lines = text.split("\n")
    for i, line in enumerate(lines[1:], start=1):
        stripped = pattern.sub("", line, count=1)
        if stripped != line and stripped.strip():
            return "\n".join([stripped.strip(), *lines[i + 1:]])
    return None


def strip_labels(text: str, names: Sequence[str], others: Sequence[str] = ()) -> str:
    """Remove the speaker label the answer opens with, whoever it names.

    Her own label (``Miku:``, ``**Miku (you)**:``, ``Hatsune Miku -``) and any name-like one
    (``Gumi:``, ``A:``, ``Chat:``, ``Sender: Miku`` with the name line after it) go. An answer
    that opens as one of ``others`` (a person the prompt showed) speaks as them: it is
    dropped, except her own labelled line in it, if there is one.

    Returns:
        The text after the labels; ``""`` when it spoke only as someone else.
    """
    own = tuple(names)
    known = {n.casefold() for n in (*own, *others)}
    others_t = tuple(others)
    others_cf = {n.casefold() for n in others}
    for _ in range(3):
        text = _strip_own(text, own)
        m = _leading_label(text, others_t)
        if m is None:
            break
        label = " ".join(m.group("label").split()).casefold()
        if label in others_cf or (m.group("verb") and label not in known):
            return _own_line(text, own) or ""
        text = text[m.end():].lstrip(" \t")
        # "Sender: Miku\nhi": a header naming the speaker, on a line of its own.
        first, sep, rest = text.partition("\n")
        if sep and first.strip(" \t*_\"'").casefold() in known:
            text = rest.lstrip()
    return text


@functools.lru_cache(maxsize=64)
def _to_her(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(rf"^[\W_]{{0,3}}(?:{_alts(names)})(?:-chan)?[ \t]*[,!?]",
                      re.IGNORECASE | re.MULTILINE)


def drop_lines_to_her(text: str, names: Sequence[str]) -> str:
    """Without the lines that open by calling her by name ("Miku, what do you think?"):
    someone else speaking to her, not her speaking."""
    if not names:
        return text
    pattern = _to_her(tuple(names))
    return "\n".join(line for line in text.split("\n") if not pattern.match(line))


def cut_transcript(text: str, names: Sequence[str], others: Sequence[str] = ()) -> str:
    """Cut the answer off where a later line opens with a speaker's label ("Rin: …"): the
    model writing the conversation on, as whoever comes next."""
    m = _later_label(text, (*names, *others))
    return text[: m.start()].rstrip() if m else text


def unquote(text: str) -> str:
    """Without quotes around the whole answer."""
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1] and text.count(text[0]) == (
        1 if text[0] != text[-1] else 2
    ):
        return text[1:-1].strip()
    return text


def neutralise_pings(text: str) -> str:
    """Drop user and role pings; break ``@everyone`` / ``@here`` so they ping no one."""
    text = _ID_PING.sub("", text)
    return _MASS_PING.sub(lambda m: "@" + _ZWSP + m.group(1), text)
