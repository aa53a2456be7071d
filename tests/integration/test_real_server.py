"""The real pool and OpenAI-compatible backend against a real llama.cpp server and model.

The server (see conftest.py) answers one request at a time, on the CPU, with
SmolLM2-135M-Instruct. A fake proves the error handling; this proves the protocol the way a
real server speaks it: real latency, real token limits, real odd outputs, queueing at the
server, a real process going away and coming back.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
import msgspec
import pytest
from structlog.testing import capture_logs

from actors.clock import LoopClock
from actors.events import ActionRequest
from runtime.pool import (
    ACTIONS,
    CircuitBreaker,
    OfflineBackend,
    RetryPolicy,
    Timeouts,
    build_prompt,
    default_persona,
)
from runtime.pool.clean import ends_whole, is_ai_talk, sentences
from runtime.pool.words import finish
from tests.integration.llama_server import LlamaServer
from tests.integration.real_harness import (
    FEED_ITEM,
    Recorder,
    RecordingBackend,
    assert_clean,
    make_request,
    open_real_pool,
)
from tests.integration.words_checks import check_words
from tests.integration.words_set import MOODS as MOODS_ALL
from tests.integration.words_set import Items, cases, context_for

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

#: A few moods, rotated over the actions (shifted per backend, so the two runs cover 14 pairs).
MOODS = ("bubbly", "sleepy", "shy", "angry", "silly", "melancholy", "excited")


def _expected_text(backend: RecordingBackend, request: ActionRequest) -> str:
    """What the pool must send for the model's last answer to ``request`` (the cleaning
    contract: ``runtime.pool.words.finish`` on the prompt that was sent)."""
    prompt, answer = backend.samples[request.request_id][-1]
    return finish(prompt, answer, default_persona().aliases)


def _fallback(backend: RecordingBackend, request: ActionRequest, text: str) -> bool:
    """Whether ``text`` is the pool's fallback for a reply whose two samples both cleaned to
    nothing: a line of the persona's own for that mood (its offline lines, filled)."""
    samples = backend.samples[request.request_id]
    if request.action != "reply" or len(samples) != 2 or _expected_text(backend, request):
        return False
    prompt, _ = samples[-1]
    return text == OfflineBackend(seed=request.request_id).line(prompt)


def _check_exactly_once(recorder: Recorder, requests: list[ActionRequest]) -> None:
    """One ActionFinished per request; a send for each "sent" and for nothing else."""
    grouped = recorder.by_request()
    assert sorted(grouped) == sorted(r.request_id for r in requests)
    twice = {rid: events for rid, events in grouped.items() if len(events) != 1}
    assert not twice, f"answered more than once: {twice}"
    sent_ids = [request.request_id for request, _, _ in recorder.sent]
    assert len(sent_ids) == len(set(sent_ids)), "a request was sent twice"
    assert set(sent_ids) == {rid for rid, (e,) in grouped.items() if e.outcome == "sent"}


@pytest.mark.timeout(400)
async def test_every_action_gets_clean_words_that_are_exactly_what_is_sent(
    llm_url: str, anyio_backend: str
) -> None:
    """Every action, in several moods, comes back from the real model as a cleaned line, and
    the sender receives exactly the cleaned model answer (the share with its link)."""
    clock = LoopClock()
    recorder = Recorder(clock)
    shift = 0 if anyio_backend == "asyncio" else 3
    # Greedy decoding: real answers, the same ones on every run (a sampled run could, rarely,
    # produce an answer that cleans to nothing, which the pool rightly fails).
    async with open_real_pool(llm_url, recorder, workers=2, temperature=0.0) as (pool, backend):
        now = clock.now()
        requests = [
            make_request(action, now=now, mood=MOODS[(i + shift) % len(MOODS)])
            for i, action in enumerate(ACTIONS)
        ]
        for request in requests:
            pool.submit(request)
        with anyio.fail_after(360):
            await recorder.wait_for(len(requests))

    _check_exactly_once(recorder, requests)
    outcomes = {e.request_id: (e.outcome, e.reason) for e in recorder.results}
    # Sent, or (an autonomous action only) failed because both samples cleaned to nothing.
    replies = {r.request_id for r in requests if r.action == "reply"}
    for rid, outcome in outcomes.items():
        allowed = {("sent", "")} if rid in replies else {("sent", ""), ("failed", "empty output")}
        assert outcome in allowed, outcomes
    assert sum(o == ("sent", "") for o in outcomes.values()) >= len(requests) - 2, outcomes
    texts = {request.request_id: text for request, text, _ in recorder.sent}
    for request in requests:
        raw = backend.raw[request.request_id]
        text = texts.get(request.request_id)
        print(f"{request.action:18} {request.mood:11} {text!r}")
        if text is None:
            assert len(backend.samples[request.request_id]) == 2  # asked twice, then failed
            continue
        assert_clean(text)
        assert text == _expected_text(backend, request) or _fallback(backend, request, text), \
            (request.action, raw, text)
        if request.action == "share_tweet":
            assert FEED_ITEM.url in text


#: A small model copies a line it is told to copy: these have every kind of ping and a prefix
#: (the second one the label the prompt gives her own lines in a conversation).
MISCHIEF = (
    "Miku: wake up @everyone and @here, <@123456789> <@!42> <@&987654321> is live!",
    "Miku (you): @here the stream starts now <@123456789>",
)


@pytest.mark.timeout(200)
async def test_a_model_told_to_ping_and_sign_is_cleaned(llm_url: str) -> None:
    """Action templates that make the real model write a speaker prefix and every kind of
    ping: the raw answers carry them, and what is sent carries none."""
    persona = default_persona()
    # The line first, the instruction last: the instruction is the prompt's own words (an
    # answer repeating it would be an echo), the line is what the model is to write.
    copy = [f"{line}\n\nCopy the line above exactly." for line in MISCHIEF]
    # The prompt's example answer (the persona's first offline line for that mood and
    # action) is the mischief too: a small model copies the example before the instruction.
    lines = {mood: dict(per_action) for mood, per_action in persona.lines.items()}
    lines["neutral"]["break_silence"] = (MISCHIEF[0],)
    lines["bubbly"]["general"] = (MISCHIEF[1],)
    persona = msgspec.structs.replace(
        persona, actions={**persona.actions, "break_silence": copy[0], "general": copy[1]},
        lines=lines,
    )
    clock = LoopClock()
    recorder = Recorder(clock)
    async with open_real_pool(llm_url, recorder, workers=1, persona=persona, temperature=0.0) as (
        pool,
        backend,
    ):
        now = clock.now()
        requests = [
            make_request(action, now=now, mood=mood)
            for action, mood in (("break_silence", "neutral"), ("general", "bubbly"))
        ]
        for request in requests:
            pool.submit(request)
        with anyio.fail_after(180):
            await recorder.wait_for(len(requests))

    _check_exactly_once(recorder, requests)
    assert [e.outcome for e in recorder.results] == ["sent"] * len(requests)
    raws = {rid: raw[0] for rid, raw in backend.raw.items()}
    print(*(repr(raw) for raw in raws.values()), sep="\n")
    # The model did misbehave (greedy decoding copies the line), so the cleaning was needed.
    assert any("@everyone" in raw or "<@" in raw for raw in raws.values()), raws
    assert any(raw.startswith("Miku") for raw in raws.values()), raws
    for request, text, _ in recorder.sent:
        assert_clean(text)
        prompt, answer = backend.samples[request.request_id][-1]
        assert text == finish(prompt, answer, persona.aliases)


async def _calibrate(backend: RecordingBackend, clock: LoopClock) -> float:
    """Seconds one break_silence answer takes on this machine now, its prompt already in the
    server's cache (the first call puts it there), as it is for the requests that follow."""
    prompt = build_prompt(default_persona(), make_request("break_silence", now=clock.now()))
    await backend.inner.generate(prompt)
    start = anyio.current_time()
    await backend.inner.generate(prompt)
    return anyio.current_time() - start


@pytest.mark.parametrize("workers", [2, 4])
@pytest.mark.timeout(300)
async def test_requests_queue_at_a_one_slot_server_and_none_is_sent_late(
    llm_url: str, workers: int
) -> None:
    """With more workers than the server has slots, requests wait at the server; the ones
    whose deadline passes (queued in the pool or waiting at the server) are reported stale at
    their deadline, and nothing is ever sent after its deadline."""
    clock = LoopClock()
    recorder = Recorder(clock)
    count = 8
    async with open_real_pool(
        llm_url, recorder, workers=workers, deadlines={}, temperature=0.0
    ) as (pool, backend):
        latency = await _calibrate(backend, clock)
        # Serving 8 one at a time takes about 8 x latency: a deadline of 2 x latency leaves
        # most of them stale, even if the calibration over-estimated by a factor of 3.
        now = clock.now()
        requests = [
            make_request("break_silence", now=now, deadline_s=2.0 * latency) for _ in range(count)
        ]
        with capture_logs() as logs:
            for request in requests:
                pool.submit(request)
            with anyio.fail_after(60 + 10 * latency):
                await recorder.wait_for(count)
        stale_logs = [entry for entry in logs if entry["event"] == "pool.stale"]
        stats = pool.statistics()

    _check_exactly_once(recorder, requests)
    deadline = {r.request_id: r.deadline for r in requests}
    rows = []
    for request, _, sent_at in recorder.sent:
        rows.append(f"sent  #{request.request_id}: {sent_at - request.deadline:+.3f} s")
        assert sent_at <= request.deadline, f"sent {sent_at - request.deadline:.3f} s late"
    outcomes = [e.outcome for e in recorder.results]
    for event in recorder.results:
        if event.outcome == "stale":
            lateness = event.at - deadline[event.request_id]
            rows.append(f"stale #{event.request_id}: reported {lateness:+.3f} s ({event.reason})")
            # Reported at its deadline: not before, and promptly after (a loaded CPU may lag).
            assert -0.001 <= lateness < 2.0
    print(f"workers={workers} latency={latency:.2f}s", *rows, sep="\n  ")
    assert set(outcomes) <= {"sent", "stale"}, recorder.results
    assert outcomes.count("stale") >= 1
    # The pool kept `workers` requests outstanding at a server that serves one at a time,
    # and dropped some of them there, waiting, when their deadline passed.
    assert backend.max_active == workers
    assert any(entry["where"] == "in_flight" for entry in stale_logs), stale_logs
    assert stats.stale == outcomes.count("stale") and stats.sent == outcomes.count("sent")


async def _crash(server: LlamaServer) -> None:
    await anyio.to_thread.run_sync(lambda: server.stop(kill=True))


async def _start(server: LlamaServer) -> None:
    await anyio.to_thread.run_sync(server.start)


@pytest.mark.timeout(300)
async def test_stopping_the_server_trips_the_breaker_and_a_restart_recovers(
    llama_server: LlamaServer,
) -> None:
    """The server is killed (SIGKILL) while a request is being generated: the requests of the outage
    fail (the breaker opens and later ones fail fast), the server comes back on the same port,
    the breaker's probe closes it again, and every request got exactly one answer."""
    clock = LoopClock()
    recorder = Recorder(clock)
    breaker = CircuitBreaker(failure_threshold=2, reset_after=1.0)
    requests: list[ActionRequest] = []

    def submit(action: str = "break_silence") -> None:
        request = make_request(action, now=clock.now(), deadline_s=120.0)
        requests.append(request)
        pool.submit(request)

    async with open_real_pool(
        llama_server.base_url,
        recorder,
        workers=2,
        breaker=breaker,
        retry=RetryPolicy(max_attempts=2, base_s=0.05, max_s=0.1),
        timeouts=Timeouts(connect=1.0, first_byte=60.0, total=90.0),
    ) as (pool, backend):
        # 1. Up: a request is served.
        submit()
        with anyio.fail_after(90):
            await recorder.wait_for(1)
        assert recorder.results[0].outcome == "sent"

        # 2. Killed mid-generation: the two in flight fail, and the breaker opens.
        backend.started = anyio.Event()
        submit()
        submit("general")
        await backend.started.wait()
        await _crash(llama_server)
        with anyio.fail_after(30):
            await recorder.wait_for(3)
        assert breaker.opened >= 1
        assert pool.statistics().breaker_state in ("open", "half_open")

        # 3. Still down: a request now fails fast (open breaker, or its probe is refused).
        submit()
        with anyio.fail_after(30):
            await recorder.wait_for(4)
        assert recorder.results[3].outcome == "failed"

        # 4. Back on the same port: the probe closes the breaker, and words flow again.
        await _start(llama_server)
        # Nothing was attempted since the last opening, so after reset_after it lets a probe by.
        await anyio.sleep(breaker.reset_after)
        submit()
        with anyio.fail_after(90):
            await recorder.wait_for(5)
        submit()
        submit("general")
        with anyio.fail_after(120):
            await recorder.wait_for(7)
        stats = pool.statistics()

    _check_exactly_once(recorder, requests)
    outcomes = [(e.request_id, e.outcome, e.reason) for e in recorder.results]
    print(*outcomes, sep="\n")
    failed = [e for e in recorder.results if e.outcome == "failed"]
    assert len(failed) == 3, outcomes
    assert any(e.reason == "circuit open" for e in failed), outcomes
    assert [e.outcome for e in recorder.results[4:]] == ["sent"] * 3, outcomes
    assert stats.breaker_state == "closed"


@pytest.mark.timeout(200)
async def test_an_answer_that_continues_the_transcript_is_cut_to_her_own_words(
    llm_url: str,
) -> None:
    """The conversation actions show the model a transcript ("Rin: ...", "Miku (you): ...");
    what is sent must not speak for the others or carry those labels on any line."""
    clock = LoopClock()
    recorder = Recorder(clock)
    async with open_real_pool(llm_url, recorder, workers=1, temperature=0.0) as (pool, _):
        now = clock.now()
        requests = [
            make_request(action, now=now, mood=mood)
            for action, mood in (("join_conversation", "angry"), ("reply", "shy"))
        ]
        for request in requests:
            pool.submit(request)
        with anyio.fail_after(180):
            await recorder.wait_for(len(requests))
    labels = ("rin:", "len:", "miku (you):")
    for _, text, _ in recorder.sent:
        for line in text.splitlines():
            assert not line.strip().lower().startswith(labels), text


#: Each action twice, and each of the 14 moods once, from the fixed set of the benchmark.
WORD_PAIRS = tuple(zip(ACTIONS * 2, MOODS_ALL, strict=True))


@pytest.mark.timeout(900)
async def test_the_words_at_the_runtimes_settings_keep_every_rule(
    llm_url: str, anyio_backend: str
) -> None:
    """At the runtime's sampling (temperature 0.9, the token cap from the budget, seeds from
    the pool's seed) over crafted conversations in which the asker is not the last to post:
    what is sent is exactly the cleaning of the model's answer, within its budget, with no
    speaker label, no line written to her, no link but the item's, no handle or hashtag, no
    AI talk; an answer cut at the cap is sent up to a whole sentence; every reply is sent."""
    clock = LoopClock()
    recorder = Recorder(clock)
    set_ = cases(now=clock.now(), first_guild=7000 if anyio_backend == "trio" else 6000,
                 pairs=WORD_PAIRS)
    conversation = {c.request.guild_id: c.conversation for c in set_}

    async def context(guild_id: int, channel_id: int, limit: int, *,
                      upto_message_id: int | None = None) -> list:
        return context_for(conversation[guild_id], upto_message_id)[-limit:]

    async with open_real_pool(llm_url, recorder, workers=1, max_tokens=200, context=context,
                              items=Items()) as (pool, backend):
        for case in set_:
            pool.submit(case.request)
        with anyio.fail_after(880):
            await recorder.wait_for(len(set_))

    _check_exactly_once(recorder, [c.request for c in set_])
    sent = {r.request_id: text for r, text, _ in recorder.sent}
    outcomes = {e.request_id: (e.outcome, e.reason) for e in recorder.results}
    for case in set_:
        rid = case.request.request_id
        text = sent.get(rid)
        print(f"{case.request.action:18} {case.request.mood:11} {outcomes[rid]} {text!r}")
        # Not sent: only because nothing fit to send was left after two samples.
        assert text is not None or outcomes[rid] == ("failed", "empty output"), outcomes[rid]
        if case.request.action == "reply":
            assert text is not None, "a reply to a person came out empty"
        if text is None:
            assert len(backend.samples[rid]) == 2
            continue
        assert_clean(text)
        if _fallback(backend, case.request, text):
            continue  # her own line: the model's two answers to this reply were unusable
        assert text == _expected_text(backend, case.request)
        _, answer = backend.samples[rid][-1]
        verdict = check_words(case.request.action, case.request.mood, text,
                              prompt_texts=(), item_url=case.item_url,
                              item_title=case.item_title)
        for rule in ("within_budget", "no_label", "no_invented_links"):
            assert verdict.passed[rule], (rule, text)
        assert not any(is_ai_talk(s) for line in text.splitlines() for s in sentences(line))
        if answer.truncated:
            assert ends_whole(text.replace(case.item_url, "").strip()), text
