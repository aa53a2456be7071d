"""What must not be in her words, whoever the model thinks it is: the prompt said back, talk of
being an AI, and links, handles and hashtags she made up.

Each rule works on sentences (``length.sentences``) so one bad sentence goes and the rest of
the answer stays.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence

from runtime.pool.clean.length import sentences

__all__ = ["EchoFinder", "drop_ai_talk", "drop_sentences", "is_ai_talk", "strip_links"]

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

#: The least words a sentence needs before it can count as an echo: "Write one short
#: message" is four; "What's up?" is not the prompt's, whatever the prompt says.
_ECHO_MIN_WORDS = 4
#: The share of a sentence's word triples found in the prompt that makes it an echo. Her own
#: words share a triple with the prompt now and then ("what are you"); an echo shares most.
_ECHO_SHARE = 0.5


def _words(text: str) -> list[str]:
    return [w.casefold().replace("’", "'") for w in _WORD.findall(text)]


def _triples(words: Sequence[str]) -> list[tuple[str, str, str]]:
    return [(words[i], words[i + 1], words[i + 2]) for i in range(len(words) - 2)]


@functools.lru_cache(maxsize=1024)
def _text_triples(text: str) -> frozenset[tuple[str, str, str]]:
    return frozenset(_triples(_words(text)))


class EchoFinder:
    """Tells whether a sentence repeats the prompt.

    Args:
        sources: the texts the prompt wrote (system prompt, mood, instruction); not the
            conversation, whose words she may well pick up.
    """

    def __init__(self, sources: Iterable[str]) -> None:
        # Per text, cached: the system prompt and the mood's words are the same for every
        # prompt, and splitting them anew was most of the cleaning's time.
        self._sets = tuple(t for t in map(_text_triples, sources) if t)

    def __bool__(self) -> bool:
        return bool(self._sets)

    def is_echo(self, sentence: str) -> bool:
        """True when most of ``sentence``'s word triples are the prompt's."""
        words = _words(sentence)
        if len(words) < _ECHO_MIN_WORDS:
            return False
        triples = _triples(words)
        sets = self._sets
        found = sum(1 for t in triples if any(t in known for known in sets))
        return found >= _ECHO_SHARE * len(triples)


# Saying what she is: "I'm an AI", "as a language model", "I am just a chatbot". Not "I'm a
# virtual singer" (she is one): the noun must be one of these.
_AI_NOUN = (r"(?:A\.?I\.?|artificial\s+intelligence|(?:AI|virtual|digital|helpful|chat)\s+"
            r"assistant|assistant|chat\s?bot|bot|(?:large\s+)?language\s+model|LLM|"
            r"computer\s+program|program|machine)")
_AI_TALK = re.compile(
    rf"\b(?:I\s*(?:am|'m|’m)|I\s+was|as|being|like)\s+(?:just\s+|only\s+|merely\s+)?"
    rf"(?:an?\s+|your\s+|the\s+)?(?:[\w-]+\s+){{0,2}}?{_AI_NOUN}\b"
    r"|\b(?:language\s+model|artificial\s+intelligence|AI\s+(?:assistant|model|language)|"
    r"OpenAI|ChatGPT|SmolLM|Hugging\s?Face)\b"
    r"|\bI\s+(?:do\s+not|don't|don’t)\s+have\s+(?:personal\s+|real\s+|any\s+)?"
    r"(?:feelings|emotions|opinions|experiences|a\s+body|preferences|the\s+ability)\b"
    r"|\bI\s+(?:cannot|can't|can’t|am\s+unable\s+to)\s+(?:browse|access|feel|see)\b"
    r"|\bhow\s+(?:can|may)\s+I\s+(?:help|assist)\b|\bassist\s+you\b",
    re.IGNORECASE)


def is_ai_talk(sentence: str) -> bool:
    """True when ``sentence`` speaks of her as an AI, an assistant, a chatbot or a model."""
    return bool(_AI_TALK.search(sentence))


def drop_sentences(text: str, bad: Callable[[str], bool]) -> str:
    """``text`` without the sentences for which ``bad(sentence)`` is true (line by line; a
    line left empty goes)."""
    lines = []
    for line in text.split("\n"):
        kept = [s for s in sentences(line) if not bad(s)]
        if kept:
            lines.append(" ".join(kept))
    return "\n".join(lines)


def drop_ai_talk(text: str) -> str:
    """``text`` without the sentences that speak of her as an AI / assistant / model."""
    return drop_sentences(text, is_ai_talk)


# [text](url) in markdown, a bare URL (with its <…> or a trailing period), www.… and a bare
# domain with a path the model made up ("youtube.com/watch?v=…").
_MD_LINK = re.compile(r"\[([^\]\n]{1,200})\]\(\s*<?((?:https?://|www\.)[^\s)>]+)>?\s*\)",
                      re.IGNORECASE)
_URL = re.compile(r"<?(?:https?://|www\.)[^\s<>]+>?", re.IGNORECASE)
_DOMAIN = re.compile(r"(?<![\w@./-])(?:[a-z0-9-]+\.)+(?:com|net|org|io|co|jp|ly|gg|tv|me|be|"
                     r"app|dev|fm|to|xyz)(?:/[^\s]*)?(?![\w-])", re.IGNORECASE)
# @handle (not an e-mail, not the broken @\u200beveryone); #hashtag (not "#1", not "&#").
_HANDLE = re.compile(r"(?<![\w@/])@[A-Za-z0-9_][A-Za-z0-9_.]{0,31}")
_TRAILING_TAGS = re.compile(r"(?:[ \t]*#[^\W\d_][\w]*)+[ \t]*$", re.MULTILINE)
_TAG = re.compile(r"(?<![\w&#/])#([^\W\d_][\w]*)")
_CHANNEL = re.compile(r"<#\d+>")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TRAIL = ".,;:!?)]}'\""


def _allowed(url: str, links: Sequence[str]) -> bool:
    bare = url.strip("<>").rstrip(_TRAIL)
    return any(bare == link or (link.endswith("/") and bare.startswith(link))
               or bare.rstrip("/") == link.rstrip("/") for link in links)


def strip_links(text: str, links: Sequence[str] = ()) -> str:
    """Remove every URL but those in ``links``, every @handle, #hashtag, e-mail address and
    channel link.

    Args:
        text: the answer.
        links: URLs she may post: exact URLs, or prefixes ending with ``/``.

    Returns:
        The text; a markdown link she may not post keeps its words, a hashtag inside a
        sentence keeps its word (``#leeks`` → ``leeks``), trailing hashtags go.
    """

    def md(m: re.Match[str]) -> str:
        return f"{m.group(1)} {m.group(2)}" if _allowed(m.group(2), links) else m.group(1)

    def url(m: re.Match[str]) -> str:
        whole = m.group(0)
        if _allowed(whole, links):
            bare = whole.strip("<>")
            tail = bare[len(bare.rstrip(_TRAIL)):]
            return bare.rstrip(_TRAIL) + tail
        bare = whole.strip("<>")
        return bare[len(bare.rstrip(_TRAIL)):]

    text = _MD_LINK.sub(md, text)
    text = _URL.sub(url, text)
    kept: list[str] = []
    # The allowed links are held aside so the domain and tag rules do not touch them.
    for link in links:
        if link:
            text = text.replace(link, f"\x00{len(kept)}\x00")
            kept.append(link)
    text = _EMAIL.sub("", text)
    text = _DOMAIN.sub("", text)
    text = _CHANNEL.sub("", text)
    text = _HANDLE.sub("", text)
    text = _TRAILING_TAGS.sub("", text)
    text = _TAG.sub(r"\1", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)
