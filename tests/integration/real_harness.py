"""Helpers shared by the integration tests and ``bench/bench_real_model.py``: requests, a
recording router / sender, and a backend wrapper that keeps the model's raw answers.

Everything here wraps the real thing: the pool is ``runtime.pool.LLMPool`` and the words come
from ``runtime.pool.OpenAIBackend`` talking to a real server.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from actors.clock import LoopClock
from actors.events import ActionFinished, ActionRequest
from runtime.pool import (
    ACTIONS,
    Answer,
    ContextLine,
    FeedItem,
    LLMPool,
    OpenAIBackend,
    Prompt,
    Timeouts,
)

__all__ = [
    "CONVERSATION",
    "FEED_ITEM",
    "MAX_TOKENS",
    "Recorder",
    "RecordingBackend",
    "StaticItems",
    "assert_clean",
    "make_request",
    "open_real_pool",
]

#: Short answers keep the suite fast: a Discord line is one to three sentences anyway.
MAX_TOKENS = 60

#: What the channel "said" (the context for join / FOMO / reply). It contains pings and a
#: speaker-style line on purpose: a model that echoes them must not get them through.
CONVERSATION = (
    ContextLine("Rin", "anyone up for Project DIVA tonight? @everyone"),
    ContextLine("Len", "only if we do the hard charts this time <@123456789>"),
    ContextLine("Miku", "Miku: I'm in!! ~", is_self=True),
    ContextLine("Rin", "Miku what song should we start with?"),
)

FEED_ITEM = FeedItem(
    id="item-1",
    title="Magical Mirai 2026 announces its concert line-up",
    url="https://example.com/magical-mirai-2026",
)

_ids = itertools.count(1)
_MASS_PING = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
_ID_PING = re.compile(r"<@[!&]?\d+>")
# "Miku:", "**Miku**:", "Miku (you):" (the label the prompt gives her own lines).
_SPEAKER = re.compile(
    r"^[\s*_~\[(]*(hatsune\s+)?miku(\s+hatsune)?(\s*\(you\))?[\s*_~\])]*[:：]", re.IGNORECASE
)


def make_request(
    action: str,
    *,
    now: float,
    deadline_s: float = 600.0,
    guild_id: int | None = None,
    mood: str = "neutral",
) -> ActionRequest:
    """An ``ActionRequest`` decided at ``now`` (epoch seconds), due ``deadline_s`` later.

    A fresh request id each call; the guild defaults to one of its own (one autonomous request
    per guild is all the pool takes). ``reply`` is priority 0, everything else autonomous.
    """
    request_id = next(_ids)
    guild = guild_id if guild_id is not None else 1000 + request_id
    return ActionRequest(
        request_id=request_id,
        guild_id=guild,
        channel_id=guild * 10,
        action=action,
        mood=mood,
        decided_at=now,
        deadline=now + deadline_s,
        priority=0 if action == "reply" else 1,
        target_user_id=42 if action == "engage_user" else None,
        target_activity="Project DIVA Mega Mix+" if action == "engage_user" else None,
        reply_to_message_id=7 if action == "reply" else None,
    )


def assert_clean(text: str) -> None:
    """The sent text is fit for Discord: non-empty, <= 2000 chars, no ping, no speaker prefix."""
    assert text.strip(), "empty text was sent"
    assert len(text) <= 2000, f"{len(text)} characters"
    assert not _MASS_PING.search(text), f"mass ping in {text!r}"
    assert not _ID_PING.search(text), f"user or role ping in {text!r}"
    assert not _SPEAKER.match(text), f"speaker prefix in {text!r}"


class StaticItems:
    """An ``ItemSource`` that always has ``FEED_ITEM`` to share."""

    def pick(self, guild_id: int) -> FeedItem | None:
        return FEED_ITEM


@dataclass
class Recorder:
    """The router and the sender: every ``ActionFinished``, every send with its epoch time."""

    clock: LoopClock
    results: list[ActionFinished] = field(default_factory=list)
    #: (request, text, epoch time of the send)
    sent: list[tuple[ActionRequest, str, float]] = field(default_factory=list)
    _changed: anyio.Event | None = None

    def deliver(self, event: ActionFinished) -> None:
        self.results.append(event)
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def send(self, request: ActionRequest, text: str) -> None:
        self.sent.append((request, text, self.clock.now()))

    async def context(self, guild_id: int, channel_id: int, limit: int) -> list[ContextLine]:
        return list(CONVERSATION[-limit:])

    async def names(self, guild_id: int, user_id: int) -> str | None:
        return "Len"

    async def wait_for(self, count: int) -> list[ActionFinished]:
        """Wait until ``count`` results have arrived (callers bound it with ``fail_after``)."""
        while len(self.results) < count:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()
        return self.results

    def by_request(self) -> dict[int, list[ActionFinished]]:
        """Results grouped by request id (a correct pool gives each id exactly one)."""
        grouped: dict[int, list[ActionFinished]] = {}
        for event in self.results:
            grouped.setdefault(event.request_id, []).append(event)
        return grouped


class RecordingBackend:
    """The real ``OpenAIBackend``, wrapped to keep each prompt and raw answer (with its finish
    reason) and how many requests were outstanding at the server at once (it has one slot, so
    the others wait there)."""

    def __init__(self, inner: OpenAIBackend) -> None:
        self.inner = inner
        self.temperature = inner.temperature
        self.raw: dict[int, list[str]] = {}
        #: Per request id: (prompt, answer) of each sample, in order.
        self.samples: dict[int, list[tuple[Prompt, Answer]]] = {}
        self.attempts = 0
        self.active = 0
        self.max_active = 0
        #: Seconds of each call that returned words (time at the server, its queue included).
        self.durations: list[float] = []
        self.started = anyio.Event()

    async def complete(self, prompt: Prompt) -> Answer:
        self.attempts += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.started.set()
        start = anyio.current_time()
        try:
            answer = await self.inner.complete(prompt)
        finally:
            self.active -= 1
        self.durations.append(anyio.current_time() - start)
        self.raw.setdefault(prompt.request_id, []).append(answer.text)
        self.samples.setdefault(prompt.request_id, []).append((prompt, answer))
        return answer

    async def generate(self, prompt: Prompt) -> str:
        return (await self.complete(prompt)).text


@asynccontextmanager
async def open_real_pool(
    base_url: str,
    recorder: Recorder,
    *,
    workers: int,
    model: str = "smollm2",
    temperature: float | None = 0.9,
    max_tokens: int = MAX_TOKENS,
    timeouts: Timeouts | None = None,
    **pool_options: Any,
) -> AsyncIterator[tuple[LLMPool, RecordingBackend]]:
    """The real pool over the real OpenAI-compatible backend at ``base_url``.

    Generous action deadlines (600 s) unless ``deadlines`` is given: a queue of requests at a
    one-slot CPU server must not go stale in tests that are about the words.
    """
    pool_options.setdefault("deadlines", dict.fromkeys(ACTIONS, 600.0))
    pool_options.setdefault("items", StaticItems())
    pool_options.setdefault("context", recorder.context)
    pool_options.setdefault("names", recorder.names)
    timeouts = timeouts or Timeouts(connect=2.0, first_byte=120.0, total=150.0)
    async with OpenAIBackend(
        base_url,
        model,
        api_key_env=None,
        timeouts=timeouts,
        max_tokens=max_tokens,
        temperature=temperature,
    ) as inner:
        backend = RecordingBackend(inner)
        pool = LLMPool(
            backend,
            workers=workers,
            deliver=recorder.deliver,
            sender=recorder.send,
            clock=recorder.clock,
            seed=7,
            **pool_options,
        )
        async with pool:
            yield pool, backend
