"""The pool's scheduling against a real loopback server: the in-flight cap, priority,
fairness, admission, exactly one result per request, shutdown, statistics and logs."""

from __future__ import annotations

import os
import random
from collections import Counter

import anyio
import msgspec
import pytest
from structlog.testing import capture_logs

from runtime.pool import (
    CircuitBreaker,
    ContextLine,
    LLMPool,
    OfflineBackend,
    PoolRejected,
    RetryPolicy,
    Timeouts,
)
from tests.kit.fakeserver import Reply, open_fake_server
from tests.kit.pool_harness import Recorder, request, running_pool

pytestmark = pytest.mark.anyio


async def test_never_more_in_flight_than_workers(recorder: Recorder) -> None:
    """Twenty requests through four workers: the server never sees more than four at once."""
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, workers=4) as pool:
        server.latency = 0.05
        for guild in range(20):
            pool.submit(request(guild))
        await server.wait_in_flight(4)
        assert pool.statistics().in_flight == 4
        assert pool.statistics().queue_depth == 16
        await recorder.wait(20)
    assert server.max_in_flight == 4
    assert Counter(e.outcome for e in recorder.results) == {"sent": 20}


async def test_replies_go_before_autonomous_actions(recorder: Recorder) -> None:
    """With the only worker busy, a reply submitted after two autonomous actions is served
    first."""
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, workers=1, retry=RetryPolicy(max_attempts=1)) as pool:
        server.plan(Reply.hang())
        pool.submit(request(1))
        await server.wait_requests(1)
        auto2, auto3, reply = request(2), request(3), request(4, "reply")
        for req in (auto2, auto3, reply):
            pool.submit(req)
        server.release()
        await recorder.wait(4)
    assert [r.request_id for r, _ in recorder.sent] == [reply.request_id, auto2.request_id,
                                                         auto3.request_id]


async def test_a_busy_guild_does_not_starve_the_others(recorder: Recorder) -> None:
    """Ten queued replies of guild 1 do not hold back one reply each of guilds 2 and 3: the
    guilds take turns."""
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, workers=1, retry=RetryPolicy(max_attempts=1)) as pool:
        server.plan(Reply.hang())
        pool.submit(request(9))
        await server.wait_requests(1)
        for _ in range(10):
            pool.submit(request(1, "reply"))
        pool.submit(request(2, "reply"))
        pool.submit(request(3, "reply"))
        server.release()
        await recorder.wait(13)
    order = [r.guild_id for r, _ in recorder.sent]
    assert order[:3] == [1, 2, 3]
    assert order[3:] == [1] * 9


async def test_admission(recorder: Recorder) -> None:
    """submit refuses loudly, with a reason and no result: before start, a second autonomous
    request of a guild, an unknown action, a duplicate id, a full queue, after shutdown."""
    async with open_fake_server() as server:
        async with running_pool(server.base_url, recorder, workers=1, queue_size=2,
                                retry=RetryPolicy(max_attempts=1)) as pool:
            server.default = Reply.hang()
            first = request(1)
            pool.submit(first)
            with pytest.raises(PoolRejected, match="already queued or in flight"):
                pool.submit(request(1))
            with pytest.raises(PoolRejected, match="unknown action 'dance'"):
                pool.submit(request(2, "dance"))
            with pytest.raises(PoolRejected, match="duplicate request id"):
                pool.submit(first)
            await server.wait_requests(1)
            queued = [request(2), request(3, "reply")]
            for req in queued:
                pool.submit(req)
            with pytest.raises(PoolRejected, match="queue full") as info:
                pool.submit(request(4, "reply"))
            assert isinstance(info.value, RuntimeError)
            assert info.value.guild_id == 4
            assert pool.statistics().rejected == 4
            pool.shutdown_timeout = 0.0
        with pytest.raises(PoolRejected, match="shut down"):
            pool.submit(request(5))
        server.release()
    unstarted = LLMPool(OfflineBackend(), deliver=recorder.deliver, sender=recorder.send)
    with pytest.raises(PoolRejected, match="not started"):
        unstarted.submit(request(6))
    accepted = [first, *queued]
    assert sorted(e.request_id for e in recorder.results) == [r.request_id for r in accepted]


async def test_exactly_one_result_per_request(recorder: Recorder) -> None:
    """Under a random mix of answers, failures, hangs and tight deadlines, every accepted
    request gets exactly one result, and the counters add up."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    kinds = [Reply.ok(), Reply.ok(latency=0.02), Reply.error(503), Reply.error(429,
             retry_after="0"), Reply.malformed(), Reply.empty(), Reply.drop(), Reply.hang()]
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, workers=3,
            timeouts=Timeouts(connect=1.0, first_byte=0.3, total=0.3),
            breaker=CircuitBreaker(failure_threshold=1000)) as pool:
        server.plan(*(rng.choice(kinds) for _ in range(200)))
        accepted = []
        for i in range(60):
            req = request(i, rng.choice(["reply", "join_conversation", "break_silence"]),
                          deadline_s=rng.choice([0.05, 0.5, 5.0]))
            pool.submit(req)
            accepted.append(req.request_id)
        await recorder.wait(60)
        stats = pool.statistics()
    counts = Counter(e.request_id for e in recorder.results)
    assert counts == Counter(accepted), f"seed {seed}"
    assert stats.sent + stats.failed + stats.stale == stats.accepted == 60, f"seed {seed}"
    assert len(recorder.sent) == stats.sent, f"seed {seed}"


async def test_shutdown_cancels_in_flight_and_fails_queued(recorder: Recorder) -> None:
    """Leaving the pool fails queued requests at once, gives those in flight the shutdown
    deadline, then cancels them: each gets exactly one "shutdown" failure."""
    async with open_fake_server() as server:
        async with running_pool(server.base_url, recorder, workers=2,
                                shutdown_timeout=0.2) as pool:
            server.default = Reply.hang()
            reqs = [request(g) for g in range(5)]
            for req in reqs:
                pool.submit(req)
            await server.wait_in_flight(2)
            started = anyio.current_time()
        elapsed = anyio.current_time() - started
        server.release()
    assert sorted(e.request_id for e in recorder.results) == [r.request_id for r in reqs]
    assert {(e.outcome, e.reason) for e in recorder.results} == {("failed", "shutdown")}
    assert 0.2 <= elapsed < 2.0
    assert pool.statistics().in_flight == 0


async def test_shutdown_lets_quick_requests_finish(recorder: Recorder) -> None:
    """Requests in flight that finish within the shutdown deadline are sent normally."""
    async with open_fake_server() as server:
        async with running_pool(server.base_url, recorder, workers=2,
                                shutdown_timeout=10.0) as pool:
            server.latency = 0.1
            for guild in (1, 2):
                pool.submit(request(guild))
            await server.wait_in_flight(2)
    assert [e.outcome for e in recorder.results] == ["sent", "sent"]


async def test_cancelled_from_outside_still_reports_everything(recorder: Recorder) -> None:
    """When the pool's host scope is cancelled, every accepted request still gets a result."""
    async with open_fake_server() as server:
        server.default = Reply.hang()
        with anyio.CancelScope() as scope:
            async with running_pool(server.base_url, recorder, workers=1,
                                    shutdown_timeout=0.1) as pool:
                for guild in range(3):
                    pool.submit(request(guild))
                await server.wait_in_flight(1)
                scope.cancel()
                await anyio.sleep_forever()
        server.release()
    assert len(recorder.results) == 3
    assert {e.reason for e in recorder.results} == {"shutdown"}


async def test_an_error_in_the_body_comes_out_as_it_is(recorder: Recorder) -> None:
    """An exception raised inside ``async with pool`` is not wrapped in an exception group,
    and the requests it leaves behind still get their result."""
    async with open_fake_server() as server:
        server.default = Reply.hang()
        with pytest.raises(KeyError, match="boom"):
            async with running_pool(server.base_url, recorder, workers=1,
                                    shutdown_timeout=0.05) as pool:
                pool.submit(request(1))
                pool.submit(request(2))
                await server.wait_in_flight(1)
                raise KeyError("boom")
        server.release()
    assert [e.reason for e in recorder.results] == ["shutdown", "shutdown"]


async def test_statistics_are_a_frozen_record(recorder: Recorder) -> None:
    """statistics() is a frozen msgspec Struct with counters, breaker state and latencies."""
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        empty = pool.statistics()
        for guild in range(10):
            pool.submit(request(guild))
        await recorder.wait(10)
        stats = pool.statistics()
    assert empty.latency_p50 is None and empty.breaker_state == "closed"
    assert (stats.sent, stats.queue_depth, stats.in_flight) == (10, 0, 0)
    assert stats.latency_p50 is not None and stats.latency_p99 is not None
    assert 0 < stats.latency_p50 <= stats.latency_p95 <= stats.latency_p99
    with pytest.raises(AttributeError):
        stats.sent = 3  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(stats))["sent"] == 10


async def test_logs_carry_no_content_and_no_key(recorder: Recorder,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Log lines name guilds, requests and reasons, never message text or the API key."""
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-very-secret")
    recorder.context = [ContextLine("Rin", "my password is hunter2")]
    async with open_fake_server() as server:
        server.plan(Reply.error(503), Reply.ok("words only the channel sees"))
        from runtime.pool import OpenAIBackend
        with capture_logs() as logs:
            async with OpenAIBackend(server.base_url, "fake", api_key_env="FAKE_LLM_KEY") as be:
                async with LLMPool(be, deliver=recorder.deliver, sender=recorder.send,
                                   context=recorder.fetch_context,
                                   retry=RetryPolicy(base_s=0.01)) as pool:
                    pool.submit(request(1, "reply"))
                    await recorder.wait(1)
    assert server.chat_requests[0].headers["authorization"] == "Bearer sk-very-secret"
    assert recorder.results[0].outcome == "sent"
    text = repr(logs)
    assert "pool.retry" in text and "pool.sent" in text
    for secret in ("hunter2", "words only", "sk-very-secret", os.environ["FAKE_LLM_KEY"]):
        assert secret not in text
