"""Attempts at the content backend for one request: back-off and the circuit breaker, each
attempt's sampling, and the typing indicator held meanwhile.

    attempts = Attempts(backend, breaker, retry, seed=7)
    answer = await attempts.generate(prompt, deadline=job.deadline, fields=log_fields)
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

import anyio
import structlog

from actors.events import ActionRequest
from runtime.pool.breaker import CircuitBreaker, Permit
from runtime.pool.errors import BackendError
from runtime.pool.models import Answer, Backend, Prompt, RetryPolicy, TypingFn

__all__ = ["RETRY_TEMPERATURE", "Attempts", "Failure", "LoopTimer", "Timer", "typing_while"]

log = structlog.get_logger("runtime.pool")

#: A greedy backend (temperature 0) would write the same empty answer again: a second sample
#: of the words is drawn at least this warm.
RETRY_TEMPERATURE = 0.7


class Failure(Exception):
    """The request fails with ``reason`` (it becomes ``ActionFinished.reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Timer(Protocol):
    """The time the back-off and the breaker go by: the loop's clock and its sleep. A test
    gives one it can move (``tests.kit.pool_harness.MovableTimer``), so a breaker's period or
    a Retry-After is seen to pass without being waited for."""

    def now(self) -> float:
        """Loop time now (seconds)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this timer's time."""
        ...


class LoopTimer:
    """``Timer`` on the running loop: ``anyio.current_time`` and ``anyio.sleep``."""

    __slots__ = ()

    def now(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class Attempts:
    """Calls the backend for the pool: retries what may succeed, never past a deadline.

    Args:
        backend: the content backend (its ``complete`` is preferred to ``generate``).
        breaker: the circuit breaker of the server.
        retry: the back-off between attempts.
        seed: seeds the jitter and each sample's seed (None: unpredictable, and the server
            picks the sampling seed of a first sample).
        timer: the time back-off and the breaker go by (default: the loop's).
    """

    def __init__(self, backend: Backend, breaker: CircuitBreaker, retry: RetryPolicy,
                 seed: int | None, timer: Timer | None = None) -> None:
        self.backend = backend
        self.breaker = breaker
        self.retry = retry
        self.timer = timer or LoopTimer()
        self.retries = 0
        self._seed = seed
        self._rng = random.Random(seed)

    def sampling(self, request: ActionRequest, sample: int) -> dict[str, Any]:
        """The ``Prompt`` fields for the ``sample``-th sample of ``request``'s words: a seed
        of its own (reproducible from the pool's seed) and, for a second sample from a greedy
        backend, enough temperature to differ."""
        if self._seed is not None:
            seed: int | None = zlib.crc32(f"{self._seed}:{request.request_id}:{sample}"
                                          .encode()) & 0x7FFFFFFF
        else:
            seed = self._rng.getrandbits(31) if sample > 1 else None
        out: dict[str, Any] = {"seed": seed}
        if sample > 1:
            temperature = getattr(self.backend, "temperature", None)
            if isinstance(temperature, (int, float)) and temperature < RETRY_TEMPERATURE:
                out["temperature"] = RETRY_TEMPERATURE
        return out

    async def generate(self, prompt: Prompt, *, deadline: float,
                       fields: Mapping[str, Any]) -> Answer | str:
        """The backend's answer to ``prompt``, retrying connection errors, 429 and 5xx with
        back-off while the breaker allows and ``deadline`` (loop time) leaves time.

        Raises:
            Failure: "circuit open", or the last attempt's reason.
        """
        attempt = 0
        breaker = self.breaker
        complete = getattr(self.backend, "complete", None)
        while True:
            attempt += 1
            permit = breaker.allow(self.timer.now())
            if permit is Permit.DENIED:
                raise Failure("circuit open")
            try:
                answer = await (complete(prompt) if complete is not None
                                else self.backend.generate(prompt))
            except BackendError as err:
                self._judge(permit, err)
                if not err.retryable or attempt >= self.retry.max_attempts:
                    raise Failure(err.reason) from None
                delay = self.retry.delay(attempt, self._rng.random(), err.retry_after)
                if self.timer.now() + delay >= deadline:
                    log.info("pool.no_time_to_retry", **fields, reason=err.reason,
                             delay=round(delay, 3))
                    raise Failure(err.reason) from None
                self.retries += 1
                log.info("pool.retry", **fields, attempt=attempt, reason=err.reason,
                         delay=round(delay, 3))
                await self.timer.sleep(delay)
                continue
            except BaseException:
                breaker.release(permit)
                raise
            if breaker.success(permit):
                log.info("pool.breaker_closed")
            return answer

    def _judge(self, permit: Permit, err: BackendError) -> None:
        """Tell the breaker what an error says about the server."""
        if err.server_fault:
            if self.breaker.failure(permit, self.timer.now()):
                log.error("pool.breaker_opened", reason=err.reason,
                          reset_after=self.breaker.reset_after)
        elif err.retryable:
            # A 429: the server is alive but busy; no verdict.
            self.breaker.release(permit)
        elif self.breaker.success(permit):
            log.info("pool.breaker_closed")


async def typing_while(typing: TypingFn | None, request: ActionRequest,
                       words: Awaitable[str], fields: Mapping[str, Any]) -> str:
    """Await ``words`` with the typing indicator on, if there is one; the indicator's own
    failures are logged and ignored (the words matter, the indicator does not)."""
    if typing is None:
        return await words
    manager = None
    try:
        manager = typing(request)
        await manager.__aenter__()
    except Exception as exc:
        log.warning("pool.typing_failed", **fields, error=type(exc).__name__)
        manager = None
    try:
        return await words
    finally:
        if manager is not None:
            # Shielded: a request cut at its deadline still stops its indicator.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5.0):
                try:
                    await manager.__aexit__(None, None, None)
                except Exception as exc:
                    log.warning("pool.typing_failed", **fields, error=type(exc).__name__)
