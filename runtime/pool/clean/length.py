"""Sentences and length: an answer cut at the token cap is trimmed back to its last whole
sentence, and an answer over its budget keeps the whole sentences that fit.

A sentence ends with ``. ! ? … ~ ♪`` (closing quotes, brackets and markdown after it count
with it), with an emoji, or with an emoticon (``:)``, ``^^``, ``<3``); the end of a line the
model finished itself also ends one.
"""

from __future__ import annotations

import re

__all__ = ["ends_whole", "fit", "last_whole", "sentences"]

_CLOSE = "\"'”’)\\]*_»」』"
_EMOJI = "\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2b55\u3030\u303d\u2764\ufe0f"
_EMOTICON = r"(?:[:;=xX]-?[)(DPp3]|\^\^|<3|\bxD|\bT_T|\bo/)"
# The end of one sentence: its final marks, closers, and the space after it (or the end).
_BOUNDARY = re.compile(
    rf"(?:[.!?…~♪♫]+|[{_EMOJI}]+|{_EMOTICON})[{re.escape(_CLOSE)}]*(?=\s|$)")
_WHOLE_END = re.compile(
    rf"(?:[.!?…~♪♫]|[{_EMOJI}]|{_EMOTICON})[{re.escape(_CLOSE)}]*\s*$")


def ends_whole(text: str) -> bool:
    """True when ``text`` ends at the end of a sentence."""
    return bool(_WHOLE_END.search(text))


def sentences(line: str) -> list[str]:
    """Split one line into sentences, each with its final marks; what follows the last
    boundary (an unfinished sentence) is the last element."""
    out = []
    start = 0
    for m in _BOUNDARY.finditer(line):
        piece = line[start:m.end()].strip()
        if piece:
            out.append(piece)
        start = m.end()
    rest = line[start:].strip()
    if rest:
        out.append(rest)
    return out


def last_whole(text: str) -> str:
    """``text`` up to the end of its last whole sentence; ``""`` when it has none."""
    end = -1
    for m in _BOUNDARY.finditer(text):
        end = m.end()
    return text[:end].rstrip() if end > 0 else ""


def fit(text: str, limit: int) -> str:
    """The whole sentences of ``text`` (in order, from the start) that fit in ``limit``
    characters; ``""`` when even the first does not.

    Lines are kept as lines: the cut falls at the last sentence boundary within the limit.
    """
    if len(text) <= limit:
        return text
    end = -1
    for m in _BOUNDARY.finditer(text):
        if m.end() > limit:
            break
        end = m.end()
    if end <= 0:
        # The first sentence is longer than the limit: a line break within it still ends
        # what she wrote on that line.
        cut = text.rfind("\n", 0, limit + 1)
        return text[:cut].rstrip() if cut > 0 else ""
    return text[:end].rstrip()
