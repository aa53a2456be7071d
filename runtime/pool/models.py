"""Plain data at the pool's edges: what it reads, what it hands a backend, what it reports.

Anything here that carries conversation text (``ContextLine``, ``Prompt``) is transient: built
when a request is served, dropped after the call, never stored and never logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

import msgspec

from actors.actor import DEFAULT_DEADLINES as _ACTOR_DEADLINES
from actors.events import ActionRequest
from engine import ALL_ACTIONS, REACT

__all__ = [
    "ACTIONS",
    "CONTEXT_ACTIONS",
    "DEFAULT_DEADLINES",
    "Answer",
    "Backend",
    "BreakerState",
    "ChatMessage",
    "ContextFn",
    "ContextLine",
    "ExcludeFn",
    "FeedItem",
    "FinishedFn",
    "ItemSource",
    "NamesFn",
    "PoolStatistics",
    "Prompt",
    "RetryPolicy",
    "SenderFn",
    "TypingFn",
]

#: Every action the pool puts into words (``engine.names.ALL_ACTIONS`` but ``react``, which
#: is an emoji reaction: ``runtime.pool.react``): each has a template and offline lines.
ACTIONS = tuple(a for a in ALL_ACTIONS if a != REACT)

#: The actions that see the conversation's last messages.
CONTEXT_ACTIONS: frozenset[str] = frozenset({"join_conversation", "fomo_response", "reply"})

#: Seconds after ``decided_at`` when the words are worthless: the actor's table itself (one
#: source, so the pool never cuts an action shorter than the actor and the docs promise).
#: Joining a conversation two minutes late is joining another conversation.
DEFAULT_DEADLINES = _ACTOR_DEADLINES

BreakerState = Literal["closed", "open", "half_open"]


class ContextLine(msgspec.Struct, frozen=True, gc=False):
    """One recent message of the channel, fetched when a request is served."""

    author: str
    text: str
    is_self: bool = False
    #: The author's user id (0: unknown); ``exclude_user`` is asked about it.
    author_id: int = 0
    #: The message's id (0: unknown); a reply finds the message that spoke to her by it.
    message_id: int = 0


class FeedItem(msgspec.Struct, frozen=True, gc=False):
    """Something she could share: an entry of a feed or of the local items file."""

    id: str
    title: str
    url: str = ""


class ChatMessage(msgspec.Struct, frozen=True, gc=False):
    """One chat-completions message."""

    role: Literal["system", "user", "assistant"]
    content: str


class Prompt(msgspec.Struct, frozen=True):
    """What a backend turns into words: the chat messages, and the same facts as fields (the
    offline backend fills its lines from them). Transient: never stored, never logged."""

    guild_id: int
    request_id: int
    action: str
    mood: str
    messages: tuple[ChatMessage, ...]
    #: When the action was decided (epoch seconds): with the guild and the action it tells
    #: one request from every other whichever process made it (request ids are per process).
    decided_at: float = 0.0
    user: str | None = None
    activity: str | None = None
    item: FeedItem | None = None
    #: An engage's target as she knows them: "familiar", "new" or None
    #: (``ActionRequest.familiarity``); the prompt's hint says it in one line.
    familiarity: str | None = None
    #: The person she answers (a reply: the author of the message that spoke to her), else
    #: the last person (not her) who spoke in the context, for join / FOMO.
    author: str | None = None
    #: The answer's length: characters she may send (the link of a share not counted), and
    #: the token cap that follows from it; None leaves the backend's own cap.
    budget: int = 2000
    max_tokens: int | None = None
    #: Stop sequences: a new line opening with a speaker's label (her own, the others').
    stop: tuple[str, ...] = ()
    #: Sampling for this attempt; None keeps the backend's settings (a retry sets a seed).
    temperature: float | None = None
    seed: int | None = None
    #: What the cleaning needs: the other speakers' names, the texts the prompt wrote
    #: (an answer repeating them is an echo), and the links she may post.
    others: tuple[str, ...] = ()
    echoes: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    #: How the room feels (``ActionRequest.tone``): "sad", "tense", "cheerful" or None.
    tone: str | None = None


class Answer(msgspec.Struct, frozen=True, gc=False):
    """A backend's raw answer and why it ended: ``"stop"`` (the model ended it, or hit a stop
    sequence) or ``"length"`` (cut at the token cap)."""

    text: str
    finish_reason: str | None = None

    @property
    def truncated(self) -> bool:
        """Cut at the token cap (mid-sentence, likely)."""
        return self.finish_reason == "length"


class RetryPolicy(msgspec.Struct, frozen=True):
    """Exponential back-off with jitter between attempts at the backend.

    The delay before attempt ``n + 1`` is ``min(max_s, base_s * 2 ** (n - 1))``, of which the
    last ``jitter`` fraction is random; a ``Retry-After`` longer than that wins. No retry is
    made that would start past the request's deadline.
    """

    max_attempts: int = 4
    base_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.5

    def delay(self, attempt: int, u: float, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based).

        Args:
            attempt: how many attempts have failed.
            u: a uniform random number in [0, 1) for the jitter.
            retry_after: the server's ``Retry-After`` in seconds, if any; it wins when longer.
        """
        delay = min(self.max_s, self.base_s * 2.0 ** (attempt - 1))
        delay *= 1.0 - self.jitter * u
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


class PoolStatistics(msgspec.Struct, frozen=True, gc=False):
    """A snapshot of the pool (``LLMPool.statistics()``). Latencies are seconds from
    acceptance to sent, over the most recent sent requests; None before the first."""

    workers: int
    queue_size: int
    queue_depth: int
    in_flight: int
    accepted: int
    sent: int
    failed: int
    stale: int
    retries: int
    rejected: int
    breaker_state: BreakerState
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    #: Second samples of the words, after an answer that was empty once cleaned.
    rewrites: int = 0
    #: Replies that got a line of the persona's own (offline) after two empty samples.
    fallbacks: int = 0


class Backend(Protocol):
    """Turns a prompt into words.

    A backend may also offer ``async complete(prompt) -> Answer`` (``OpenAIBackend`` does): the
    pool prefers it, since it says whether the answer was cut at the token cap.
    """

    async def generate(self, prompt: Prompt) -> str:
        """Return the raw text (cleaned by the pool).

        Raises:
            BackendError: the attempt failed; says whether a retry may help.
        """
        ...


class ItemSource(Protocol):
    """Where ``share_tweet`` gets its item. ``pick`` remembers what it handed out, so an item
    is never shared twice in a guild; a source may also offer ``release(guild_id, item_id)``,
    which the pool calls when the share was not sent."""

    def pick(self, guild_id: int) -> FeedItem | None: ...


#: ``async (guild_id, channel_id, limit, *, upto_message_id=None)``: the channel's last
#: messages, oldest first; with ``upto_message_id`` (asked only for a reply) they end with that
#: message and hold nothing after it.
ContextFn = Callable[..., Awaitable[list[ContextLine]]]
#: ``(request) -> async context manager`` held while the words are written ("is typing…").
TypingFn = Callable[[ActionRequest], Any]
#: ``(guild_id, user_id) -> bool``: that user's lines stay out of every prompt.
ExcludeFn = Callable[[int, int], bool]
#: ``(action, outcome, seconds from acceptance)``, once per finished request.
FinishedFn = Callable[[str, str, float], None]
SenderFn = Callable[[ActionRequest, str], Awaitable[None]]
#: (guild_id, user_id) -> the user's display name, or None.
NamesFn = Callable[[int, int], Awaitable[str | None]]
