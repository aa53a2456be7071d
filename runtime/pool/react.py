"""The emoji of a ``react``: which one she puts on the message the engine named.

Each mood has a small set of Unicode emoji that fit her persona in it (``MOOD_EMOJI``: warm
and playful when bubbly, a quiet few when shy or sleepy, nothing mocking when irritated or
angry). The offline backend picks one from the request's mood deterministically (the same
request gets the same emoji whichever process serves it). With a model, the model picks one
from that mood's set for the one message she reacts to (read when the request is served,
dropped after the prompt, never stored or logged); its answer is checked (``parse_emoji``:
exactly one emoji of the set, nothing else but blanks and quotes) and anything else falls
back to the offline pick. A reaction has no words, so the pool's text cleaning does not apply.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import structlog

from actors.events import ActionRequest
from runtime.errors import SendRejected
from runtime.pool.attempts import Failure
from runtime.pool.models import ChatMessage, ContextLine, Prompt
from runtime.pool.offline import OfflineBackend
from runtime.pool.persona import Persona
from runtime.pool.words import fetch_context

if TYPE_CHECKING:
    from runtime.pool.pool import LLMPool

__all__ = ["MOOD_EMOJI", "Dropped", "emoji_set", "offline_emoji", "parse_emoji",
           "pick_emoji", "react_prompt"]

log = structlog.get_logger()

#: Per mood, the emoji she may react with (every one a single Unicode emoji Discord accepts).
MOOD_EMOJI: dict[str, tuple[str, ...]] = {
    "neutral": ("👍", "😊", "👀", "✨"),
    "bubbly": ("😄", "🎉", "💖", "✨", "🙌"),
    "sleepy": ("😴", "🥱", "💤", "👍"),
    "curious": ("👀", "🤔", "✨", "😮"),
    "shy": ("😊", "🙂", "💕", "👀"),
    "serious": ("👍", "👌", "🤔"),
    "excited": ("🎉", "🔥", "🙌", "🤩", "✨"),
    "silly": ("😂", "🤪", "🎶", "🥬"),
    "melancholy": ("🥺", "💙", "🌧️", "🫂"),
    "flirty": ("😉", "💖", "😘", "✨"),
    "romantic": ("💕", "🌸", "🥰", "💖"),
    "irritated": ("😑", "🙄", "👀"),
    "angry": ("😤", "👀", "💢"),
    "asleep": ("💤",),
}
_QUOTES = "\"'`“”‘’*_ \t\r\n."


def emoji_set(mood: str) -> tuple[str, ...]:
    """The emoji she may react with in ``mood`` (``neutral``'s for an unknown mood)."""
    return MOOD_EMOJI.get(mood) or MOOD_EMOJI["neutral"]


def offline_emoji(request: ActionRequest, seed: int = 0) -> str:
    """One emoji of the request's mood set, fixed by (seed, guild, when it was decided,
    mood), like the offline backend's lines."""
    rng = random.Random(f"{seed}:{request.guild_id}:{request.decided_at!r}:react:"
                        f"{request.mood}")
    return rng.choice(emoji_set(request.mood))


def parse_emoji(answer: str, allowed: tuple[str, ...]) -> str | None:
    """The model's answer as one emoji of ``allowed``, or None: after quotes, stars, dots and
    blanks around it are stripped, the answer must be exactly one of them (a variation
    selector, U+FE0F, may be there or not)."""
    text = answer.strip(_QUOTES)
    bare = text.replace("\ufe0f", "")
    for emoji in allowed:
        if text == emoji or bare == emoji.replace("\ufe0f", ""):
            return emoji
    return None


def react_prompt(persona: Persona, request: ActionRequest, line: ContextLine) -> Prompt:
    """The prompt asking the model for one emoji of the mood's set for ``line``."""
    mood = request.mood if request.mood in persona.moods else "neutral"
    allowed = emoji_set(mood)
    text = " ".join(line.text.split())
    ask = (f"{line.author} wrote in the chat:\n{text}\n\n"
           f"React to it with one emoji that fits how you feel. Choose one of: "
           f"{' '.join(allowed)}. Answer with the emoji alone.")
    example = (f"Kaito wrote in the chat:\nfinally beat the boss I was stuck on all week!!\n\n"
               f"React to it with one emoji that fits how you feel. Choose one of: "
               f"{' '.join(allowed)}. Answer with the emoji alone.")
    messages = (ChatMessage("system", f"{persona.system}\n\n{persona.moods[mood]}"),
                ChatMessage("user", example), ChatMessage("assistant", allowed[0]),
                ChatMessage("user", ask))
    return Prompt(guild_id=request.guild_id, request_id=request.request_id,
                  action=request.action, mood=mood, messages=messages,
                  decided_at=request.decided_at, author=line.author, budget=8, max_tokens=8)


class Dropped(Exception):
    """The action has nothing left to act on (the message was deleted): reported stale, so
    the guild does not back off as after a failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def pick_emoji(pool: LLMPool, job: Any) -> str:
    """The emoji for ``job``'s react request (the pool's ``_words`` for a react).

    Offline (or with no way to read the message): ``offline_emoji``. With a model: the one
    message (``context`` with ``limit`` 1 up to it), a prompt, one answer, checked; the
    message's text is dropped with the prompt. A model that fails or answers anything but one
    emoji of the set gets the offline pick: a reaction needs no words.

    Raises:
        Dropped: the message is gone (deleted since it was seen).
        Failure: the message is no longer one she may react to (its author is excluded).
    """
    request: ActionRequest = job.request
    fallback = offline_emoji(request)
    context = pool._context
    if isinstance(pool.backend, OfflineBackend) or context is None or not pool._upto:
        return fallback
    try:
        lines = await fetch_context(context, request, 1, upto=True, exclude=pool._exclude)
    except SendRejected as exc:
        raise Dropped(f"the message is gone: {exc.reason}") from None
    except Exception as exc:
        log.warning("pool.react_read_failed", guild_id=request.guild_id,
                    request_id=request.request_id, error=type(exc).__name__)
        return fallback
    line = next((x for x in lines if x.message_id == request.target_message_id), None)
    del lines
    if line is None:
        uid = request.target_user_id
        if uid is not None and pool._exclude is not None \
                and pool._exclude(request.guild_id, uid):
            raise Failure("the message's author opted out or is ignored")
        return fallback
    prompt = react_prompt(pool.persona, request, line)
    del line
    try:
        answer = await pool._attempts.generate(prompt, deadline=job.deadline,
                                               fields={"guild_id": request.guild_id,
                                                       "request_id": request.request_id})
    except Failure as failure:
        log.info("pool.react_fallback", guild_id=request.guild_id,
                 request_id=request.request_id, reason=failure.reason)
        return fallback
    text = answer if isinstance(answer, str) else answer.text
    emoji = parse_emoji(text, emoji_set(prompt.mood))
    if emoji is None:
        log.info("pool.react_fallback", guild_id=request.guild_id,
                 request_id=request.request_id, reason="not one emoji of the set")
        return fallback
    return emoji
