"""The pool against a real chat-completions server on loopback: retries, time-outs, the
breaker, staleness, and what each action is given."""

from __future__ import annotations

import anyio
import pytest
import trio
from structlog.testing import capture_logs

from engine import NO_ITEM
from runtime.pool import (
    CircuitBreaker,
    ContextLine,
    FeedItem,
    FeedItems,
    LLMPool,
    OpenAIBackend,
    RetryPolicy,
    Timeouts,
)
from runtime.pool.persona import default_persona
from tests.kit.fakeserver import Reply, open_fake_server, refused_url
from tests.kit.pool_harness import Recorder, request, running_pool

pytestmark = pytest.mark.anyio


async def test_retries_5xx_then_sends(recorder: Recorder) -> None:
    """A 503 and a 500 are retried; the third answer is sent, and the retries are counted."""
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.plan(Reply.error(503), Reply.error(500), Reply.ok("Hello everyone!"))
        req = request()
        pool.submit(req)
        await recorder.wait(1)
        stats = pool.statistics()
    assert recorder.outcome(req) == ("sent", "")
    assert recorder.sent == [(req, "Hello everyone!")]
    assert len(server.chat_requests) == 3
    assert stats.retries == 2 and stats.sent == 1


@pytest.mark.parametrize("anyio_backend", [
    # Virtual time running 50 times faster than real time: the second's wait takes 20 ms,
    # and the server's timestamps (anyio.current_time()) are on the same clock as the pool's.
    pytest.param(("trio", {"clock": trio.testing.MockClock(rate=50)}), id="trio-fastclock"),
])
async def test_429_waits_for_retry_after(recorder: Recorder) -> None:
    """A 429 with Retry-After: 1 is retried no sooner than a second later."""
    slow = Timeouts(connect=100.0, first_byte=500.0, total=500.0)  # 2-10 s of real time
    async with open_fake_server() as server, running_pool(server.base_url, recorder,
                                                          timeouts=slow) as pool:
        server.plan(Reply.error(429, retry_after="1"), Reply.ok())
        req = request()
        pool.submit(req)
        await recorder.wait(1)
    first, second = server.chat_requests
    assert recorder.outcome(req) == ("sent", "")
    assert second.at - first.at >= 0.95


async def test_never_retries_past_the_deadline(recorder: Recorder) -> None:
    """A Retry-After beyond the deadline fails the request at once instead of waiting."""
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.plan(Reply.error(429, retry_after="30"))
        req = request(deadline_s=10.0)
        started = anyio.current_time()
        pool.submit(req)
        await recorder.wait(1)
        elapsed = anyio.current_time() - started
    assert recorder.outcome(req) == ("failed", "http 429")
    assert len(server.chat_requests) == 1
    assert elapsed < 5.0


async def test_gives_up_after_max_attempts(recorder: Recorder) -> None:
    """A server that keeps answering 503 gets max_attempts tries, then the request fails."""
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, retry=RetryPolicy(max_attempts=3, base_s=0.01),
            breaker=CircuitBreaker(failure_threshold=10)) as pool:
        server.default = Reply.error(503)
        req = request()
        pool.submit(req)
        await recorder.wait(1)
    assert recorder.outcome(req) == ("failed", "http 503")
    assert len(server.chat_requests) == 3
    assert recorder.sent == []


@pytest.mark.parametrize(("timeouts", "reason"), [
    (Timeouts(connect=2.0, first_byte=10.0, total=0.2), "timeout (total)"),
    (Timeouts(connect=2.0, first_byte=0.2, total=10.0), "timeout (first byte)"),
])
async def test_hanging_server_times_out(recorder: Recorder, timeouts: Timeouts,
                                        reason: str) -> None:
    """A server that never answers fails the attempt at the total or first-byte time-out."""
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, timeouts=timeouts,
            retry=RetryPolicy(max_attempts=1)) as pool:
        server.default = Reply.hang()
        req = request()
        pool.submit(req)
        await recorder.wait(1)
        server.release()
    assert recorder.outcome(req) == ("failed", reason)


@pytest.mark.parametrize(("reply", "reason"), [
    (Reply.malformed(), "malformed response"),
    (Reply.error(400), "http 400"),
])
async def test_broken_answers_fail_without_retry(recorder: Recorder, reply: Reply,
                                                 reason: str) -> None:
    """Malformed JSON and a 400 are not retried: the request fails with a clear reason."""
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.default = reply
        req = request()
        pool.submit(req)
        await recorder.wait(1)
        stats = pool.statistics()
    assert recorder.outcome(req) == ("failed", reason)
    assert len(server.chat_requests) == 1
    assert stats.retries == 0 and stats.rewrites == 0


@pytest.mark.parametrize("reply", [
    Reply.empty(),
    Reply.ok("**Miku**: <@123>"),
    Reply.ok("As an AI language model, I cannot have feelings."),
])
async def test_an_empty_or_rejected_answer_is_asked_again_once(recorder: Recorder,
                                                              reply: Reply) -> None:
    """An answer empty once cleaned gets one fresh sample (another seed); if that one is
    empty too, the request fails as "empty output"."""
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.default = reply
        req = request()
        pool.submit(req)
        await recorder.wait(1)
        stats = pool.statistics()
    assert recorder.outcome(req) == ("failed", "empty output")
    first, second = server.chat_requests
    assert first.body["seed"] != second.body["seed"]
    assert first.body["messages"] == second.body["messages"]
    assert stats.rewrites == 1 and stats.retries == 0 and recorder.sent == []


async def test_a_reply_whose_two_samples_are_empty_gets_a_line_of_her_own(
        recorder: Recorder) -> None:
    """Someone spoke to her: after two answers that clean to nothing, she still answers, with
    a line of her persona's own (the offline lines, filled with the asker's name), counted as
    a fallback; the model's words never go out."""
    recorder.context = [ContextLine("Rin", "miku are you there?", author_id=5, message_id=50)]
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.default = Reply.ok("As an AI language model, I cannot have feelings.")
        req = request(action="reply", reply_to_message_id=50, target_user_id=5)
        pool.submit(req)
        await recorder.wait(1)
        stats = pool.statistics()
    assert recorder.outcome(req) == ("sent", "")
    [(_, text)] = recorder.sent
    persona = default_persona()
    offline = {line.replace("{author}", "Rin") for line in persona.lines["neutral"]["reply"]}
    assert text in offline and "AI" not in text
    assert stats.rewrites == 1 and stats.fallbacks == 1 and len(server.chat_requests) == 2


async def test_a_rejected_answer_is_replaced_by_the_second_sample(recorder: Recorder) -> None:
    """A first answer that is only someone else's line is dropped, and the second sample is
    what she sends."""
    recorder.context = [ContextLine("Rin", "who is up for karaoke?", author_id=5,
                                    message_id=50)]
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.plan(Reply.ok("Rin: I am!"), Reply.ok("Me, me! Count me in~"))
        req = request(action="join_conversation")
        pool.submit(req)
        await recorder.wait(1)
    assert recorder.outcome(req) == ("sent", "")
    assert [text for _, text in recorder.sent] == ["Me, me! Count me in~"]


async def test_no_second_sample_when_the_deadline_leaves_no_time(recorder: Recorder) -> None:
    """When another attempt as long as the first would end past the deadline, an empty
    answer fails at once instead of being asked again."""
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.default = Reply.ok("<@1>", latency=0.6)
        req = request(deadline_s=1.0)
        pool.submit(req)
        await recorder.wait(1)
    assert recorder.outcome(req) == ("failed", "empty output")
    assert len(server.chat_requests) == 1


async def test_dropped_connection_is_retried(recorder: Recorder) -> None:
    """A connection closed without an answer is retried."""
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.plan(Reply.drop(), Reply.ok())
        req = request()
        pool.submit(req)
        await recorder.wait(1)
    assert recorder.outcome(req) == ("sent", "")
    assert len(server.chat_requests) == 2


async def test_connection_refused_is_retried_then_fails(recorder: Recorder) -> None:
    """Nothing listening: every attempt is refused and the request fails as a connect error."""
    url = await refused_url()
    async with running_pool(url, recorder, retry=RetryPolicy(max_attempts=3, base_s=0.01),
                            breaker=CircuitBreaker(failure_threshold=10)) as pool:
        req = request()
        pool.submit(req)
        await recorder.wait(1)
        stats = pool.statistics()
    assert recorder.outcome(req) == ("failed", "connect error")
    assert stats.retries == 2


async def test_breaker_opens_fails_fast_and_recovers(recorder: Recorder) -> None:
    """Two server faults open the breaker: the next request fails fast without reaching the
    server; after reset_after one probe goes through, and its success closes the breaker."""
    breaker = CircuitBreaker(failure_threshold=2, reset_after=0.6)
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, breaker=breaker, retry=RetryPolicy(max_attempts=1),
            workers=1) as pool:
        server.default = Reply.error(503)
        for guild in (1, 2):
            pool.submit(request(guild))
        await recorder.wait(2)
        assert breaker.opened == 1
        fast = request(3)
        pool.submit(fast)
        await recorder.wait(3)
        assert recorder.outcome(fast) == ("failed", "circuit open")
        assert len(server.chat_requests) == 2

        # The probe fails: open for another period.
        await anyio.sleep(breaker.reset_after)  # the breaker's own period, not a sync point
        assert pool.statistics().breaker_state == "half_open"
        pool.submit(request(4))
        await recorder.wait(4)
        assert breaker.opened == 2

        # The server is back; the next probe closes it and traffic flows again.
        server.default = Reply.ok()
        await anyio.sleep(breaker.reset_after)
        probe, after = request(5), request(6)
        pool.submit(probe)
        await recorder.wait(5)
        pool.submit(after)
        await recorder.wait(6)
        stats = pool.statistics()
    assert recorder.outcome(probe) == ("sent", "")
    assert recorder.outcome(after) == ("sent", "")
    assert stats.breaker_state == "closed"
    assert breaker.opened == 2
    assert len(server.chat_requests) == 5


async def test_queued_request_goes_stale_and_is_never_sent(recorder: Recorder) -> None:
    """A request whose deadline passes while it waits is reported stale at its deadline, not
    when a worker frees up, and never reaches the server."""
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, workers=1, retry=RetryPolicy(max_attempts=1)) as pool:
        server.plan(Reply.hang())
        blocker, late = request(guild_id=1), request(guild_id=2, deadline_s=0.3)
        pool.submit(blocker)
        await server.wait_requests(1)
        with capture_logs() as logs:
            pool.submit(late)
            (result,) = await recorder.wait(1)
        assert (result.request_id, result.outcome) == (late.request_id, "stale")
        assert pool.statistics().stale == 1
        assert [(e["event"], e["request_id"], e["where"]) for e in logs
                if e["event"] == "pool.stale"] == [("pool.stale", late.request_id, "queued")]
        server.release()
        await recorder.wait(2)
    assert len(server.chat_requests) == 1
    assert [r for r, _ in recorder.sent] == []


async def test_slow_answer_past_deadline_is_not_sent(recorder: Recorder) -> None:
    """Words that arrive after the deadline are dropped: stale, never sent late."""
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        server.default = Reply.ok(latency=2.0)
        req = request(deadline_s=0.3)
        pool.submit(req)
        await recorder.wait(1)
    assert recorder.outcome(req) == ("stale", "deadline passed")
    assert recorder.sent == []
    assert len(server.chat_requests) == 1


async def test_action_deadline_table_caps_the_request(recorder: Recorder) -> None:
    """The pool's per-action deadline applies even when the actor's deadline is later."""
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, deadlines={"break_silence": 0.3}) as pool:
        server.default = Reply.hang()
        req = request(deadline_s=600.0)
        pool.submit(req)
        await recorder.wait(1)
        server.release()
    assert recorder.outcome(req) == ("stale", "deadline passed")


async def test_each_action_gets_its_own_facts(recorder: Recorder) -> None:
    """Join/FOMO/reply get the last messages (fetched when served); engage gets the user and
    activity; break_silence gets the mood alone; share gets the item, whose link is sent."""
    recorder.context = [ContextLine("Rin", "who wants karaoke tonight?"),
                        ContextLine("Miku", "me!!", is_self=True),
                        ContextLine("Len", "only if it's World is Mine")]

    async def names(guild_id: int, user_id: int) -> str:
        return f"user{user_id}"

    items = FeedItems([FeedItem("a", "New song out", "https://example.com/song")])
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, names=names, items=items) as pool:
        server.default = Reply.ok("Count me in!")
        join = request(1, "join_conversation", mood="bubbly")
        engage = request(2, "engage_user", target_user_id=7, target_activity="Tetris")
        silence = request(3, "break_silence", mood="sleepy")
        share = request(4, "share_tweet", mood="curious")
        for req in (join, engage, silence, share):
            pool.submit(req)
        await recorder.wait(4)
    bodies = {r.body["messages"][-1]["content"]: r.body for r in server.chat_requests}
    prompts = list(bodies)
    join_prompt = next(p for p in prompts if "karaoke" in p)
    assert "Len: only if it's World is Mine" in join_prompt
    assert "Miku: me!!" in join_prompt
    assert "bubbly" in bodies[join_prompt]["messages"][0]["content"]
    assert recorder.context_calls == [(1, 10, 20)]
    engage_prompt = next(p for p in prompts if "Tetris" in p)
    assert "user7" in engage_prompt
    silence_prompt = next(p for p in prompts if "quiet" in p)
    assert "karaoke" not in silence_prompt and "Tetris" not in silence_prompt
    assert next(p for p in prompts if "New song out" in p)
    sent = {req.action: text for req, text in recorder.sent}
    assert sent["share_tweet"] == "Count me in!\nhttps://example.com/song"
    assert all(body["model"] == "fake" for body in bodies.values())


async def test_share_without_item_fails_as_no_item(recorder: Recorder) -> None:
    """With nothing (left) to share, share_tweet fails as engine.NO_ITEM, without a call."""
    items = FeedItems([FeedItem("a", "Only one", "https://example.com/1")])
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, items=items) as pool:
        first = request(1, "share_tweet")
        pool.submit(first)
        await recorder.wait(1)
        second = request(1, "share_tweet")
        pool.submit(second)
        await recorder.wait(2)
    assert recorder.outcome(first) == ("sent", "")
    assert recorder.outcome(second) == ("failed", NO_ITEM)
    assert len(server.chat_requests) == 1


async def test_failed_share_gives_the_item_back(recorder: Recorder) -> None:
    """An item whose share was not sent stays available to the guild."""
    items = FeedItems([FeedItem("a", "Only one", "https://example.com/1")])
    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, items=items) as pool:
        server.plan(Reply.error(400))
        pool.submit(request(1, "share_tweet"))
        await recorder.wait(1)
        again = request(1, "share_tweet")
        pool.submit(again)
        await recorder.wait(2)
    assert recorder.outcome(again) == ("sent", "")


async def test_send_rejected_is_a_failure(recorder: Recorder) -> None:
    """The sender's refusal (403) becomes the request's failure reason."""
    recorder.reject_sends = "forbidden (403)"
    async with open_fake_server() as server, running_pool(server.base_url, recorder) as pool:
        req = request()
        pool.submit(req)
        await recorder.wait(1)
    assert recorder.outcome(req) == ("failed", "send rejected: forbidden (403)")


async def test_context_failure_is_a_failure(recorder: Recorder) -> None:
    """A context fetch that raises fails the request, naming the error type only."""
    async def broken(guild_id: int, channel_id: int, limit: int) -> list[ContextLine]:
        raise ConnectionError("discord is down")

    async with open_fake_server() as server, running_pool(
            server.base_url, recorder, context=broken) as pool:
        req = request(action="reply")
        pool.submit(req)
        await recorder.wait(1)
    assert recorder.outcome(req) == ("failed", "context: ConnectionError")
    assert server.chat_requests == []


async def test_unauthorised_names_the_key_variable(recorder: Recorder,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With the key's variable unset no Authorization header is sent; a 401 is not retried
    and its reason names the variable to set (never a key)."""
    monkeypatch.delenv("FAKE_LLM_KEY", raising=False)
    async with open_fake_server() as server:
        server.default = Reply.error(401)
        async with OpenAIBackend(server.base_url, "fake", api_key_env="FAKE_LLM_KEY") as be:
            async with LLMPool(be, deliver=recorder.deliver, sender=recorder.send) as pool:
                req = request()
                pool.submit(req)
                await recorder.wait(1)
    assert recorder.outcome(req) == ("failed", "http 401; check $FAKE_LLM_KEY")
    assert "authorization" not in server.chat_requests[0].headers
    assert len(server.chat_requests) == 1
