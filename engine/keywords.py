"""Whether an activity is related to the persona: one of the guild's keywords is a whole
word (or run of words) of the activity's name, in any case.

"Whole" means the keyword is not glued to more letters, digits or combining marks on either
side: with the keywords ``rin`` and ``len``, "Kagamine Rin" and "RIN & LEN" are related;
"Elden Ring", "Fallen Order" and "String Theory" are not. Both sides are compared casefolded
and NFC-normalised ("STRASSE" finds "Straße"): Unicode's default case folding, without a
locale's rules (the Turkish dotless "ı" is not "I"). Scripts written without spaces between words
(Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, Tibetan) have no word boundary to
require, so "ミク" is found in "初音ミクの歌"; a Latin keyword next to them is a word of its own
("miku" in "初音miku").
"""

from __future__ import annotations

import unicodedata

__all__ = ["is_related"]

#: Unicode character-name prefixes of the scripts written without spaces between words.
_NO_SPACES = ("CJK", "HIRAGANA", "KATAKANA", "HALFWIDTH KATAKANA", "IDEOGRAPHIC", "THAI",
              "LAO", "KHMER", "MYANMAR", "TIBETAN")


def _joins(c: str) -> bool:
    """``c`` continues a word: a letter, digit or mark of a script written with spaces."""
    if unicodedata.category(c)[0] not in "LNM":
        return False
    return not unicodedata.name(c, "").startswith(_NO_SPACES)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text.casefold())


def is_related(activity: str, keywords: tuple[str, ...]) -> bool:
    """Whether one of ``keywords`` is a whole word (or words) of ``activity``, in any case
    and script (the module's docstring says what "whole" means). Empty keywords match
    nothing."""
    name = _norm(activity)
    for keyword in keywords:
        key = _norm(keyword).strip()
        if not key:
            continue
        glue_start, glue_end = _joins(key[0]), _joins(key[-1])
        at = name.find(key)
        while at >= 0:
            end = at + len(key)
            if not (glue_start and at and _joins(name[at - 1])) and not (
                    glue_end and end < len(name) and _joins(name[end])):
                return True
            at = name.find(key, at + 1)
    return False
