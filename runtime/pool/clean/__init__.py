"""Cleaning a backend's words before they reach Discord: whatever the model wrote, what goes
out is short, whole, hers and true.

The sender also disables mentions; this is the second fence, and it makes the text read right.
The rules, in the order they run (each in its module):

- ``speakers``: reasoning blocks; the speaker label the answer opens with (hers, a name, a
  generic ``A:`` / ``Chat:``); an answer spoken as someone the prompt showed; the transcript
  the model went on writing; quotes around the whole; pings.
- ``content``: every link but the ones she may post, @handles, #hashtags; sentences that
  repeat the prompt, or speak of her as an AI, an assistant, a chatbot or a language model.
- ``length``: an answer cut at the token cap is trimmed to its last whole sentence; one over
  its budget keeps the whole sentences that fit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from runtime.pool.clean.content import EchoFinder, drop_sentences, is_ai_talk, strip_links
from runtime.pool.clean.length import ends_whole, fit, last_whole, sentences
from runtime.pool.clean.speakers import (
    cut_transcript,
    neutralise_pings,
    strip_labels,
    strip_think,
    unquote,
)

__all__ = ["DEFAULT_NAMES", "DISCORD_LIMIT", "EchoFinder", "clean_output", "ends_whole",
           "is_ai_talk", "sentences"]

#: Discord's limit on a message's length, in characters.
DISCORD_LIMIT = 2000
DEFAULT_NAMES = ("Hatsune Miku", "Miku Hatsune", "Miku")

_SPACES = re.compile(r"[ \t]{2,}")
_BEFORE_MARK = re.compile(r"[ \t]+([,.!?;:…](?:\s|$))")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|<\s*>")
_LEADING_MARKS = re.compile(r"^[ \t]*[,;:]+[ \t]*", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


def _tidy(text: str) -> str:
    """Spaces and marks left where something was removed."""
    text = _EMPTY_BRACKETS.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _BEFORE_MARK.sub(r"\1", text)
    text = _LEADING_MARKS.sub("", text)
    text = _BLANK_LINES.sub("\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def clean_output(text: str, *, names: Sequence[str] = DEFAULT_NAMES,
                 limit: int = DISCORD_LIMIT, others: Sequence[str] = (),
                 echoes: Sequence[str] = (), links: Sequence[str] = (),
                 truncated: bool = False) -> str:
    """Make a backend's answer fit to send.

    Args:
        text: the raw answer.
        names: the persona's names (her own speaker label).
        limit: the answer's budget in characters (at most Discord's 2,000).
        others: the other people the prompt named (the conversation's authors, the user she
            speaks to): an answer that opens as one of them is dropped.
        echoes: the texts the prompt wrote (system prompt, mood, instruction): sentences
            repeating them are dropped.
        links: the URLs she may post (exact, or prefixes ending with ``/``); every other
            URL, @handle and #hashtag is removed.
        truncated: the answer was cut at the token cap: it is trimmed back to its last whole
            sentence.

    Returns:
        The cleaned text; ``""`` when nothing is left (the pool retries once, then reports
        "empty output").
    """
    names = tuple(names)
    text = strip_think(text)
    text = strip_labels(text, names, tuple(others))
    text = cut_transcript(text, names, tuple(others))
    text = unquote(text.strip())
    text = neutralise_pings(text)
    text = strip_links(text, tuple(links))
    finder = EchoFinder(echoes)
    text = drop_sentences(_tidy(text), lambda s: is_ai_talk(s) or (bool(finder)
                                                                  and finder.is_echo(s)))
    if truncated:
        text = last_whole(text)
    text = fit(_tidy(text), min(limit, DISCORD_LIMIT))
    return unquote(_tidy(text))
