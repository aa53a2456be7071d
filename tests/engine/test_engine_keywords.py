"""Keywords match whole words of an activity's name, in any script and any case."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine import is_related

EXAMPLE = ("miku", "luka", "rin", "len")

# (activity, keywords, related)
TABLE = [
    # the example config's keywords inside longer words: not related
    ("Elden Ring", EXAMPLE, False),
    ("Star Wars Jedi: Fallen Order", EXAMPLE, False),
    ("String Theory", EXAMPLE, False),
    ("Brink", EXAMPLE, False),
    ("Mikuru's Melancholy", EXAMPLE, False),
    # whole words, any case, next to punctuation or at either end
    ("Kagamine Rin", EXAMPLE, True),
    ("RIN & LEN: Duet", EXAMPLE, True),
    ("Megurine Luka's Stage", EXAMPLE, True),
    ("miku", EXAMPLE, True),
    ("(Miku)", EXAMPLE, True),
    ("Hatsune Miku: Colorful Stage", ("project diva", "hatsune miku", "vocaloid", "miku"),
     True),
    ("Project DIVA Mega Mix", ("project diva", "hatsune miku", "vocaloid", "miku"), True),
    ("Project DIVAs", ("project diva",), False),
    # other scripts and cases: casefolded, Greek and Cyrillic words have boundaries too
    ("ΜΙΚΟΥ Party", ("μικου",), True),
    ("ΜΙΚΟΥΣ Party", ("μικου",), False),
    ("Игра Мику", ("мику",), True),
    ("Микулина", ("мику",), False),
    ("Straße der Lieder", ("STRASSE",), True),
    # scripts written without spaces: a keyword matches inside the run of letters
    ("初音ミク Project DIVA", ("初音ミク",), True),
    ("プロジェクトセカイ 初音ミク", ("ミク",), True),
    ("初音ミクの歌", ("ミク",), True),
    # a Latin keyword beside a script without spaces is a word of its own
    ("初音miku", ("miku",), True),
    # a combining mark continues the word
    ("Rin\u0301ga", ("rin",), False),
    ("", EXAMPLE, False),
    ("Minecraft", (), False),
]


@pytest.mark.parametrize(("activity", "keywords", "related"), TABLE)
def test_whole_words(activity: str, keywords: tuple[str, ...], related: bool) -> None:
    assert is_related(activity, keywords) is related


words = st.text(alphabet=st.characters(categories=("L", "Nd")), min_size=1, max_size=8)


@given(words, words, words)
def test_a_word_between_spaces_is_found_in_any_case(before: str, word: str, after: str
                                                    ) -> None:
    """A keyword written as a word of the name is found, whatever the case of either
    (Unicode's default case folding: a letter whose case does not fold back to it, such as
    the Turkish dotless ı, whose capital is I, is left out; that is a locale's rule)."""
    assume(word.upper().casefold() == word.casefold() == word.swapcase().casefold())
    name = f"{before} {word.upper()} {after}"
    assert is_related(name, (word.lower(),))
    assert is_related(name.lower(), (word.swapcase(),))


@given(words, st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=4))
def test_a_latin_keyword_glued_to_latin_letters_is_not_found(word: str, glue: str) -> None:
    """Latin letters glued to either side make another word."""
    if not word.isascii():
        word = "miku"
    assert not is_related(f"{glue}{word}", (word,))
    assert not is_related(f"{word}{glue}", (word,))
