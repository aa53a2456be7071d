"""The shared LLM worker pool: every guild's chosen actions, put into words and sent.

One inference server is the bottleneck of the whole bot, so the pool spends it carefully:

- ``workers`` tasks each serve one request at a time, so never more requests are in flight at
  the server than workers; the rest wait in a bounded queue (``FairQueue``: replies first,
  guilds in turn).
- At most one autonomous request per guild is queued or in flight (the actor's pending gate
  guarantees it; a second one is refused loudly).
- Every request has a deadline (the actor's, capped by the action's entry in ``deadlines``).
  Past it the request is dropped and reported stale, whether it was queued (a sweeper task
  wakes at the earliest deadline) or being served; words that arrive late are never sent.
- Attempts that fail with a connection error, 429 or 5xx are retried with exponential
  back-off and jitter, honouring ``Retry-After``, but never past the deadline. A circuit
  breaker fails requests fast while the server is down and probes it now and then.
- An answer that is empty once cleaned (``runtime.pool.clean``) is asked for again once,
  with a fresh sample, if the deadline leaves time for another like it; then it fails.
- Each accepted request gets exactly one ``ActionFinished`` through ``deliver``: sent, failed
  (with the reason) or stale, and at shutdown "failed: shutdown" for whatever is left.

Conversation text is fetched when a request is served, used for the prompt and dropped; it is
never stored and never logged. A ``react`` has no words: its emoji (``runtime.pool.react``)
goes to the sender in place of the text, and a message deleted meanwhile drops it (stale, no
back-off) instead of failing it.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType

import anyio
import anyio.abc
import msgspec
import structlog

from actors.clock import LoopClock
from actors.events import ActionFinished, ActionRequest, Outcome
from engine import NO_ITEM, REACT
from runtime.errors import SendRejected
from runtime.pool.attempts import Attempts, Failure, Timer, typing_while
from runtime.pool.breaker import CircuitBreaker
from runtime.pool.errors import PoolRejected
from runtime.pool.models import (
    CONTEXT_ACTIONS,
    DEFAULT_DEADLINES,
    Backend,
    ContextFn,
    ContextLine,
    ExcludeFn,
    FeedItem,
    FinishedFn,
    ItemSource,
    NamesFn,
    PoolStatistics,
    RetryPolicy,
    SenderFn,
    TypingFn,
)
from runtime.pool.offline import OfflineBackend
from runtime.pool.persona import Persona, default_persona
from runtime.pool.prompt import build_prompt
from runtime.pool.queue import FairQueue
from runtime.pool.react import Dropped, pick_emoji
from runtime.pool.words import accepts_upto, fetch_context, finish

__all__ = ["LLMPool"]

log = structlog.get_logger()

_QUEUED, _RUNNING, _DONE = 0, 1, 2
_NEW, _OPEN, _CLOSING, _CLOSED = 0, 1, 2, 3
_LATENCY_SAMPLES = 2048


class _Job:
    """One accepted request and where it is."""

    __slots__ = ("deadline", "guild_id", "item", "priority", "request", "state", "submitted")

    def __init__(self, request: ActionRequest, deadline: float, submitted: float) -> None:
        self.request = request
        self.guild_id = request.guild_id
        self.priority = request.priority
        #: Loop time past which the words are worthless.
        self.deadline = deadline
        self.submitted = submitted
        self.state = _QUEUED
        self.item: FeedItem | None = None


class LLMPool:
    """The action sink every guild's actor submits to.

    Args:
        backend: turns a prompt into words (``OpenAIBackend``, ``OfflineBackend``).
        workers: concurrent requests at the server (match its parallel slots).
        queue_size: requests that may wait; beyond it ``submit`` refuses.
        deliver: called with each ``ActionFinished``, synchronously (``router.deliver``).
        sender: ``async (request, text)``, sends the words with mentions disabled; raises
            ``runtime.errors.SendRejected`` when Discord refuses.
        context: ``async (guild_id, channel_id, limit, *, upto_message_id=None) ->
            list[ContextLine]``, the channel's last messages, for join / FOMO / reply; a reply
            calls it with ``upto_message_id`` (the message that spoke to her), the others
            without (so a callable without the keyword still serves them). None gives those
            actions no context.
        items: where ``share_tweet`` gets its item; None means there is never one. If it has
            an async ``run()`` (``FeedItems`` does: it refreshes its feeds periodically), the
            pool runs it for as long as the pool runs.
        clock: epoch time from the loop's clock; None makes a ``LoopClock`` on entry.
        deadlines: seconds after ``decided_at`` per action, over ``DEFAULT_DEADLINES``.
        persona: the words; None for the shipped persona.
        names: ``async (guild_id, user_id) -> display name``, for engage_user.
        retry: the back-off between attempts.
        breaker: the circuit breaker (one per server); None makes a default one.
        shutdown_timeout: seconds requests in flight get to finish when the pool is left.
        context_limit: how many recent messages to ask ``context`` for.
        seed: seed of the back-off jitter and of each attempt's sampling seed (None:
            unpredictable, and the server picks the sampling seed).
        typing: ``(request) -> async context manager``, held while the words are written
            (Discord's "is typing…"); its failures are logged, never fail the request.
        exclude_user: ``(guild_id, user_id) -> bool``; those users' lines are left out of
            every prompt's context.
        on_finished: ``(action, outcome, seconds)``, called once per finished request with
            the seconds since it was accepted (metrics); its failures are logged.
        timer: the time back-off and the breaker go by (``attempts.Timer``); None: the loop's.
    """

    def __init__(self, backend: Backend, *, workers: int = 4, queue_size: int = 256,
                 deliver: Callable[[ActionFinished], object], sender: SenderFn,
                 context: ContextFn | None = None, items: ItemSource | None = None,
                 clock: LoopClock | None = None, deadlines: Mapping[str, float] | None = None,
                 persona: Persona | None = None, names: NamesFn | None = None,
                 retry: RetryPolicy | None = None, breaker: CircuitBreaker | None = None,
                 shutdown_timeout: float = 5.0, context_limit: int = 20,
                 seed: int | None = None, typing: TypingFn | None = None,
                 exclude_user: ExcludeFn | None = None,
                 on_finished: FinishedFn | None = None, timer: Timer | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        table = dict(DEFAULT_DEADLINES)
        for action, seconds in (deadlines or {}).items():
            if not seconds > 0:
                raise ValueError(f"deadlines[{action!r}] must be > 0 seconds, got {seconds}")
            table[action] = float(seconds)
        self.backend = backend
        self.workers = workers
        self.queue_size = queue_size
        self.deadlines = table
        self.persona = persona or default_persona()
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.shutdown_timeout = shutdown_timeout
        self.context_limit = context_limit
        self._deliver = deliver
        self._sender = sender
        self._context = context
        self._items = items
        self._names = names
        self._clock = clock
        self._typing = typing
        self._exclude = exclude_user
        self._on_finished = on_finished
        self._upto = accepts_upto(context)
        self._attempts = Attempts(backend, self.breaker, self.retry, seed, timer)
        self._state = _NEW
        self._queue: FairQueue[_Job] = FairQueue()
        self._jobs: dict[int, _Job] = {}
        self._autonomous: set[int] = set()
        self._heap: list[tuple[float, int, _Job]] = []
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self._in_flight = 0
        self._idle = 0
        # Made on entry, inside the running loop.
        self._wake: anyio.Event
        self._sweep_wake: anyio.Event
        self._drained: anyio.Event
        self._tg: anyio.abc.TaskGroup
        self._counts = {"accepted": 0, "sent": 0, "failed": 0, "stale": 0, "rewrites": 0,
                        "fallbacks": 0, "rejected": 0}

    # -- the sink ---------------------------------------------------------------------------

    def submit(self, request: ActionRequest) -> None:
        """Take ``request``; its ``ActionFinished`` comes later through ``deliver``.

        Never awaits, never blocks.

        Raises:
            PoolRejected: not running, unknown action, a second autonomous request for the
                guild, a request id already in the pool, or the queue is full. No
                ``ActionFinished`` follows.
        """
        if self._state != _OPEN:
            self._reject(request, "not started" if self._state == _NEW else "shut down")
        if request.action not in self.deadlines or (request.action not in self.persona.actions
                                                    and request.action != REACT):
            self._reject(request, f"unknown action {request.action!r}")
        if request.request_id in self._jobs:
            self._reject(request, "duplicate request id")
        autonomous = request.priority > 0
        if autonomous and request.guild_id in self._autonomous:
            self._reject(request, "an autonomous request of this guild is already queued or "
                                  "in flight")
        if self._queue.depth >= self.queue_size:
            self._reject(request, "queue full")
        assert self._clock is not None
        epoch_deadline = min(request.deadline,
                             request.decided_at + self.deadlines[request.action])
        job = _Job(request, self._clock.loop_time(epoch_deadline), anyio.current_time())
        self._jobs[request.request_id] = job
        if autonomous:
            self._autonomous.add(request.guild_id)
        self._queue.push(job)
        self._counts["accepted"] += 1
        heap = self._heap
        earliest = not heap or job.deadline < heap[0][0]
        if len(heap) > 2 * self._queue.depth + 64:
            heap[:] = [e for e in heap if e[2].state == _QUEUED]
            heapq.heapify(heap)
        heapq.heappush(heap, (job.deadline, request.request_id, job))
        if earliest:
            self._sweep_wake.set()
            self._sweep_wake = anyio.Event()
        if self._idle:
            self._wake.set()
            self._wake = anyio.Event()

    def _reject(self, request: ActionRequest, reason: str) -> None:
        self._counts["rejected"] += 1
        log.warning("pool.rejected", guild_id=request.guild_id, request_id=request.request_id,
                    action=request.action, reason=reason)
        raise PoolRejected(reason, guild_id=request.guild_id, request_id=request.request_id)

    def statistics(self) -> PoolStatistics:
        """The pool now: queue, in flight, counters, breaker, latency percentiles."""
        lat = sorted(self._latencies)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return lat[min(len(lat) - 1, max(0, math.ceil(p * len(lat)) - 1))]

        c = self._counts
        return PoolStatistics(
            workers=self.workers, queue_size=self.queue_size, queue_depth=self._queue.depth,
            in_flight=self._in_flight, accepted=c["accepted"], sent=c["sent"],
            failed=c["failed"], stale=c["stale"], retries=self._attempts.retries,
            rewrites=c["rewrites"], fallbacks=c["fallbacks"],
            rejected=c["rejected"], breaker_state=self.breaker.state(self._attempts.timer.now()),
            latency_p50=pct(0.50), latency_p95=pct(0.95), latency_p99=pct(0.99))

    # -- running ----------------------------------------------------------------------------

    async def __aenter__(self) -> LLMPool:
        if self._state != _NEW:
            raise RuntimeError("an LLMPool runs once; make a new one")
        if self._clock is None:
            self._clock = LoopClock()
        self._wake = anyio.Event()
        self._sweep_wake = anyio.Event()
        self._drained = anyio.Event()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        for _ in range(self.workers):
            self._tg.start_soon(self._worker)
        self._tg.start_soon(self._sweeper)
        run_items = getattr(self._items, "run", None)
        if run_items is not None:
            self._tg.start_soon(self._refresh_items, run_items)
        self._state = _OPEN
        log.info("pool.started", workers=self.workers, queue_size=self.queue_size)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> bool | None:
        """Stop admitting, fail what is queued, give what is in flight ``shutdown_timeout``
        seconds, then cancel it; every request left gets "failed: shutdown"."""
        self._state = _CLOSING
        queued = [j for j in self._jobs.values() if j.state == _QUEUED]
        for job in queued:
            self._finish(job, "failed", "shutdown")
        self._wake.set()
        in_flight = self._in_flight
        with anyio.CancelScope(shield=True):
            if self._in_flight:
                with anyio.move_on_after(self.shutdown_timeout):
                    await self._drained.wait()
        self._tg.cancel_scope.cancel()
        try:
            if exc is not None and not isinstance(exc, anyio.get_cancelled_exc_class()):
                # The body's own error goes on as it is, not wrapped in an exception group
                # (the workers were only cancelled; they have nothing to add to it).
                await self._tg.__aexit__(None, None, None)
                return None
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            left = list(self._jobs.values())
            for job in left:
                self._finish(job, "failed", "shutdown")
            self._state = _CLOSED
            log.info("pool.stopped", failed_queued=len(queued), in_flight=in_flight,
                     cancelled=len(left), retries=self._attempts.retries,
                     **{k: v for k, v in self._counts.items()})

    async def _worker(self) -> None:
        while True:
            job = self._queue.pop()
            if job is None:
                if self._state != _OPEN:
                    return
                wake = self._wake
                self._idle += 1
                try:
                    await wake.wait()
                finally:
                    self._idle -= 1
                continue
            job.state = _RUNNING
            self._in_flight += 1
            try:
                await self._serve(job)
            except anyio.get_cancelled_exc_class():
                self._finish(job, "failed", "shutdown")
                raise
            except Exception as exc:
                log.exception("pool.internal_error", guild_id=job.guild_id,
                              request_id=job.request.request_id)
                self._finish(job, "failed", f"internal error: {type(exc).__name__}")
            finally:
                self._in_flight -= 1
                if self._in_flight == 0 and self._state != _OPEN:
                    self._drained.set()

    async def _refresh_items(self, run: Callable[[], Awaitable[None]]) -> None:
        try:
            await run()
        except Exception:
            # Sharing falls back to what is already known; the words go on.
            log.exception("pool.items_refresh_failed")

    async def _sweeper(self) -> None:
        """Report queued requests stale at their deadline, without waiting for a worker."""
        while True:
            heap = self._heap
            while heap and heap[0][2].state != _QUEUED:
                heapq.heappop(heap)
            wake = self._sweep_wake
            if not heap:
                await wake.wait()
                continue
            deadline, _, job = heap[0]
            if anyio.current_time() >= deadline:
                heapq.heappop(heap)
                self._finish(job, "stale", "deadline passed", where="queued")
                continue
            with anyio.CancelScope(deadline=deadline):
                await wake.wait()

    # -- serving one request ----------------------------------------------------------------

    async def _serve(self, job: _Job) -> None:
        request = job.request
        if anyio.current_time() >= job.deadline:
            self._finish(job, "stale", "deadline passed", where="queued")
            return
        try:
            with anyio.CancelScope(deadline=job.deadline) as scope:
                text = await typing_while(self._typing, request, self._words(job),
                                          self._fields(job))
            if scope.cancelled_caught or anyio.current_time() >= job.deadline:
                # Late words are worthless: never sent.
                self._finish(job, "stale", "deadline passed", where="in_flight")
                return
            try:
                await self._sender(request, text)
            except SendRejected as exc:
                if request.action == REACT and exc.status == 404:
                    # The message was deleted meanwhile (10008): nothing to react to any
                    # more, which is no failure to back off from.
                    raise Dropped(f"send rejected: {exc.reason}") from None
                raise Failure(f"send rejected: {exc.reason}") from None
            except Exception as exc:
                log.warning("pool.send_error", guild_id=job.guild_id,
                            request_id=request.request_id, error=type(exc).__name__)
                raise Failure(f"send error: {type(exc).__name__}") from None
        except Dropped as dropped:
            self._finish(job, "stale", dropped.reason, where="gone")
            return
        except Failure as failure:
            self._finish(job, "failed", failure.reason)
            return
        self._finish(job, "sent")

    async def _words(self, job: _Job) -> str:
        request = job.request
        action = request.action
        if action == REACT:
            return await pick_emoji(self, job)
        item = None
        if action == "share_tweet":
            item = self._items.pick(request.guild_id) if self._items is not None else None
            if item is None:
                raise Failure(NO_ITEM)
            job.item = item
        context: list[ContextLine] = []
        if action in CONTEXT_ACTIONS and self._context is not None:
            try:
                context = await fetch_context(self._context, request, self.context_limit,
                                              upto=self._upto, exclude=self._exclude)
            except Exception as exc:
                raise Failure(f"context: {type(exc).__name__}") from None
        user = None
        if action == "engage_user" and request.target_user_id is not None and self._names:
            try:
                user = await self._names(request.guild_id, request.target_user_id)
            except Exception as exc:
                log.warning("pool.name_lookup_failed", guild_id=job.guild_id,
                            request_id=request.request_id, error=type(exc).__name__)
        prompt = build_prompt(self.persona, request, context=context, user=user, item=item)
        del context
        for attempt in (1, 2):
            prompt = msgspec.structs.replace(prompt, **self._attempts.sampling(request, attempt))
            started = anyio.current_time()
            try:
                answer = await self._attempts.generate(prompt, deadline=job.deadline,
                                                       fields=self._fields(job))
                text = finish(prompt, answer, self.persona.aliases)
            except Failure as failure:
                if failure.reason != "empty output":
                    raise
                text = ""
            if text:
                return text
            now = anyio.current_time()
            if attempt == 2 or now + (now - started) >= job.deadline:
                break
            self._counts["rewrites"] += 1
            log.info("pool.rewrite", **self._fields(job), reason="empty output")
        if action == "reply":
            # Someone spoke to her and waits: a line of her own persona (the offline
            # backend's, filled for this prompt) beats silence. Autonomous actions just fail.
            self._counts["fallbacks"] += 1
            log.info("pool.fallback", **self._fields(job), reason="empty output")
            return OfflineBackend(self.persona, seed=request.request_id).line(prompt)
        raise Failure("empty output")

    @staticmethod
    def _fields(job: _Job) -> dict[str, int]:
        return {"guild_id": job.guild_id, "request_id": job.request.request_id}

    def _finish(self, job: _Job, outcome: Outcome, reason: str = "", *,
                where: str = "") -> None:
        """Report ``job``'s one result; later calls for the same job do nothing."""
        if job.state == _DONE:
            return
        if job.state == _QUEUED:
            self._queue.remove(job)
        job.state = _DONE
        request = job.request
        del self._jobs[request.request_id]
        if request.priority > 0:
            self._autonomous.discard(request.guild_id)
        if outcome != "sent" and job.item is not None:
            release = getattr(self._items, "release", None)
            if release is not None:
                release(request.guild_id, job.item.id)
        self._counts[outcome] += 1
        now = anyio.current_time()
        fields = {"guild_id": request.guild_id, "request_id": request.request_id,
                  "action": request.action}
        if outcome == "sent":
            self._latencies.append(now - job.submitted)
            log.debug("pool.sent", **fields, latency=round(now - job.submitted, 4))
        elif outcome == "stale":
            log.warning("pool.stale", **fields, where=where,
                        late_by=round(now - job.deadline, 3))
        else:
            log.warning("pool.failed", **fields, reason=reason)
        assert self._clock is not None
        event = ActionFinished(request.guild_id, request.request_id, request.action, outcome,
                               self._clock.now(), reason)
        try:
            self._deliver(event)
        except Exception:
            log.exception("pool.deliver_failed", **fields)
        if self._on_finished is not None:
            try:
                self._on_finished(request.action, outcome, now - job.submitted)
            except Exception:
                log.exception("pool.on_finished_failed", **fields)
