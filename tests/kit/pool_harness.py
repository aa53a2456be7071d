"""Helpers for the pool tests: requests, a recording router and sender, waiting on them."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel

from actors.events import ActionFinished, ActionRequest
from runtime.errors import SendRejected
from runtime.pool import ContextLine, LLMPool, OpenAIBackend, RetryPolicy, Timeouts

_ids = itertools.count(1)


def request(guild_id: int = 1, action: str = "break_silence", *, mood: str = "neutral",
            priority: int | None = None, deadline_s: float = 60.0, **kw: object
            ) -> ActionRequest:
    """An action request decided now, with a deadline ``deadline_s`` from now (wall clock,
    which is what the pool's ``LoopClock`` reads)."""
    now = time.time()
    if priority is None:
        priority = 0 if action == "reply" else 1
    return ActionRequest(request_id=next(_ids), guild_id=guild_id, channel_id=guild_id * 10,
                         action=action, mood=mood, decided_at=now, deadline=now + deadline_s,
                         priority=priority, **kw)  # type: ignore[arg-type]


@dataclass
class Recorder:
    """Records what the pool delivers and sends; tests wait on it by count."""

    results: list[ActionFinished] = field(default_factory=list)
    sent: list[tuple[ActionRequest, str]] = field(default_factory=list)
    context_calls: list[tuple[int, int, int]] = field(default_factory=list)
    context: list[ContextLine] = field(default_factory=list)
    reject_sends: str | None = None
    _changed: anyio.Event | None = None

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = None

    def deliver(self, event: ActionFinished) -> None:
        self.results.append(event)
        self._notify()

    async def send(self, req: ActionRequest, text: str) -> None:
        if self.reject_sends:
            raise SendRejected(self.reject_sends, status=403)
        self.sent.append((req, text))

    async def fetch_context(self, guild_id: int, channel_id: int, limit: int
                            ) -> list[ContextLine]:
        self.context_calls.append((guild_id, channel_id, limit))
        return list(self.context)

    async def wait(self, n: int) -> list[ActionFinished]:
        """Wait until ``n`` results have arrived; return them."""
        while len(self.results) < n:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()
        return self.results

    def outcome(self, req: ActionRequest) -> tuple[str, str]:
        (event,) = [e for e in self.results if e.request_id == req.request_id]
        return event.outcome, event.reason


@asynccontextmanager
async def running_pool(base_url: str, rec: Recorder, *, timeouts: Timeouts | None = None,
                       **kw: Any) -> AsyncIterator[LLMPool]:
    """An ``LLMPool`` over an ``OpenAIBackend`` at ``base_url``, recording into ``rec``;
    back-off is short (10-50 ms) unless ``retry`` says otherwise."""
    timeouts = timeouts or Timeouts(connect=2.0, first_byte=10.0, total=10.0)
    kw.setdefault("retry", RetryPolicy(base_s=0.01, max_s=0.05))
    kw.setdefault("context", rec.fetch_context)
    async with OpenAIBackend(base_url, "fake", api_key_env=None, timeouts=timeouts) as backend:
        async with LLMPool(backend, deliver=rec.deliver, sender=rec.send, seed=1,
                           **kw) as pool:
            yield pool


class MovableTimer:
    """The pool's ``Timer`` that a test moves: loop time plus what the test (or a back-off
    sleep) added. A sleep is recorded and passes at once, so a test sees the wait that was
    asked for without waiting it."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return anyio.current_time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move this timer ``seconds`` ahead."""
        self.offset += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        await anyio.lowlevel.checkpoint()
