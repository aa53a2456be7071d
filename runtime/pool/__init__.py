"""The shared LLM worker pool and the persona's words.

``LLMPool`` is the action sink every guild's actor submits to; a backend turns a prompt into
words (``OpenAIBackend`` over HTTP, ``OfflineBackend`` from written lines); ``load_persona``
reads the persona files, ``build_prompt`` and ``clean_output`` make the words hers;
``FeedItems`` is what she shares; ``check_server`` asks an inference server whether it serves
the model, once, at start.
"""

from runtime.errors import SendRejected
from runtime.pool.breaker import CircuitBreaker
from runtime.pool.clean import DISCORD_LIMIT, clean_output
from runtime.pool.errors import BackendError, ItemsFileError, PersonaError, PoolRejected
from runtime.pool.feeds import FeedItems, load_items, parse_feed
from runtime.pool.models import (
    ACTIONS,
    CONTEXT_ACTIONS,
    DEFAULT_DEADLINES,
    Answer,
    Backend,
    ChatMessage,
    ContextFn,
    ContextLine,
    ExcludeFn,
    FeedItem,
    FinishedFn,
    ItemSource,
    NamesFn,
    PoolStatistics,
    Prompt,
    RetryPolicy,
    SenderFn,
    TypingFn,
)
from runtime.pool.offline import OfflineBackend
from runtime.pool.openai import OpenAIBackend, Timeouts, parse_retry_after
from runtime.pool.persona import Persona, default_persona, load_persona
from runtime.pool.pool import LLMPool
from runtime.pool.prompt import BUDGETS, QUIET_MOODS, budget_for, build_prompt
from runtime.pool.server import check_server

__all__ = [
    "ACTIONS",
    "BUDGETS",
    "CONTEXT_ACTIONS",
    "DEFAULT_DEADLINES",
    "DISCORD_LIMIT",
    "QUIET_MOODS",
    "Answer",
    "Backend",
    "BackendError",
    "ChatMessage",
    "CircuitBreaker",
    "ContextFn",
    "ContextLine",
    "ExcludeFn",
    "FeedItem",
    "FeedItems",
    "FinishedFn",
    "ItemSource",
    "ItemsFileError",
    "LLMPool",
    "NamesFn",
    "OfflineBackend",
    "OpenAIBackend",
    "Persona",
    "PersonaError",
    "PoolRejected",
    "PoolStatistics",
    "Prompt",
    "RetryPolicy",
    "SendRejected",
    "SenderFn",
    "Timeouts",
    "TypingFn",
    "budget_for",
    "build_prompt",
    "check_server",
    "clean_output",
    "default_persona",
    "load_items",
    "load_persona",
    "parse_feed",
    "parse_retry_after",
]
