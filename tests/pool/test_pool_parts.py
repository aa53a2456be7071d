"""The pool's smaller parts: the circuit breaker, the fair queue, Retry-After, feed items,
and the offline backend under trio's virtual clock."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
import trio.testing
from structlog.testing import capture_logs

from runtime.pool import (
    CircuitBreaker,
    FeedItem,
    FeedItems,
    ItemsFileError,
    LLMPool,
    OfflineBackend,
    RetryPolicy,
    load_items,
    parse_feed,
    parse_retry_after,
)
from runtime.pool.breaker import Permit
from runtime.pool.queue import FairQueue
from tests.kit.fakeserver import open_fake_server
from tests.kit.pool_harness import Recorder, request

# -- the breaker --------------------------------------------------------------------------


def test_breaker_opens_after_threshold_and_half_opens_after_reset() -> None:
    """Faults in a row open it; after reset_after one probe at a time is let through."""
    breaker = CircuitBreaker(failure_threshold=3, reset_after=10.0)
    for t in range(2):
        assert breaker.failure(breaker.allow(t), t) is False
    assert breaker.state(2) == "closed"
    assert breaker.failure(breaker.allow(2), 2) is True
    assert breaker.state(5) == "open" and breaker.allow(5) is Permit.DENIED
    assert breaker.state(12) == "half_open"
    probe = breaker.allow(12)
    assert probe is Permit.PROBE
    assert breaker.allow(12) is Permit.DENIED
    assert breaker.success(probe) is True
    assert breaker.state(12) == "closed" and breaker.allow(12) is Permit.GRANTED


def test_breaker_failed_probe_reopens_and_released_probe_frees_the_slot() -> None:
    """A failed probe opens it for another period; a cancelled probe frees the slot."""
    breaker = CircuitBreaker(failure_threshold=1, reset_after=10.0)
    breaker.failure(breaker.allow(0), 0)
    probe = breaker.allow(10)
    breaker.release(probe)
    probe = breaker.allow(10)
    assert probe is Permit.PROBE
    assert breaker.failure(probe, 11) is True
    assert breaker.state(20) == "open" and breaker.state(21) == "half_open"
    assert breaker.opened == 2


def test_breaker_success_resets_the_count() -> None:
    """Only faults in a row count: a success in between starts again."""
    breaker = CircuitBreaker(failure_threshold=2)
    breaker.failure(breaker.allow(0), 0)
    breaker.success(breaker.allow(0))
    breaker.failure(breaker.allow(0), 0)
    assert breaker.state(0) == "closed"


@pytest.mark.parametrize("kw", [{"failure_threshold": 0}, {"reset_after": 0.0}])
def test_breaker_checks_its_settings(kw: dict[str, float]) -> None:
    """Nonsense settings are refused at construction."""
    with pytest.raises(ValueError):
        CircuitBreaker(**kw)  # type: ignore[arg-type]


# -- the queue ----------------------------------------------------------------------------

@dataclass(eq=False)
class _J:
    guild_id: int
    priority: int


def test_queue_serves_priority_then_guilds_in_turn() -> None:
    """Priority 0 first; within a priority guilds take turns; removal keeps the order."""
    q: FairQueue[_J] = FairQueue()
    a1, a2, a3, b1, c1 = _J(1, 1), _J(1, 0), _J(1, 0), _J(2, 0), _J(3, 1)
    for job in (a1, a2, a3, b1, c1):
        q.push(job)
    q.remove(a3)
    assert len(q) == 4
    assert [q.pop() for _ in range(5)] == [a2, b1, a1, c1, None]
    with pytest.raises(ValueError):
        q.remove(a1)


# -- back-off ----------------------------------------------------------------------------

def test_backoff_doubles_with_jitter_and_honours_retry_after() -> None:
    """Delays double per attempt up to max_s, the jitter takes up to its fraction off, and a
    longer Retry-After wins."""
    policy = RetryPolicy(base_s=0.5, max_s=3.0, jitter=0.5)
    assert [policy.delay(a, 0.0) for a in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(2, 0.999) == pytest.approx(0.5, abs=0.001)
    assert policy.delay(1, 0.0, retry_after=7.0) == 7.0
    assert policy.delay(3, 0.0, retry_after=0.1) == 2.0


# -- Retry-After --------------------------------------------------------------------------

def test_retry_after_parses_seconds_and_dates() -> None:
    """Delta-seconds and HTTP dates both work; junk and absence give None."""
    now = time.time()
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True),
                             now=now) == pytest.approx(30, abs=1.0)
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# -- feed items ---------------------------------------------------------------------------

RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>News</title>
<item><title>New single out</title><link>https://example.com/single</link>
<guid>tag:single</guid></item>
<item><title>Tour dates</title><link>https://example.com/tour</link></item>
<item><description>no title, skipped</description></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>
<entry><title>Concert recap</title><id>urn:recap</id>
<link href="https://example.com/recap"/><updated>2026-01-01T00:00:00Z</updated></entry>
</feed>"""


def test_parse_rss_and_atom() -> None:
    """RSS and Atom entries become items; ids fall back to the link; untitled are skipped."""
    assert parse_feed(RSS) == [FeedItem("tag:single", "New single out",
                                        "https://example.com/single"),
                               FeedItem("https://example.com/tour", "Tour dates",
                                        "https://example.com/tour")]
    assert parse_feed(ATOM) == [FeedItem("urn:recap", "Concert recap",
                                         "https://example.com/recap")]


def test_load_items_json_lines_array_and_toml(tmp_path: Path) -> None:
    """The local file may be JSON lines, a JSON array, or TOML [[items]]."""
    lines = tmp_path / "items.jsonl"
    lines.write_text('# mine\n{"id": "1", "title": "One", "url": "https://e.com/1"}\n\n'
                     '{"id": "2", "title": "Two"}\n')
    array = tmp_path / "items.json"
    array.write_text('[{"id": "1", "title": "One", "url": "https://e.com/1"}]')
    toml = tmp_path / "items.toml"
    toml.write_text('[[items]]\nid = "1"\ntitle = "One"\nurl = "https://e.com/1"\n')
    one = FeedItem("1", "One", "https://e.com/1")
    assert load_items(lines) == [one, FeedItem("2", "Two")]
    assert load_items(array) == [one]
    assert load_items(toml) == [one]


@pytest.mark.parametrize(("name", "content", "where"), [
    ("bad.jsonl", '{"id": "1", "title": "One"}\n{"id": 2, "title": "Two"}\n', ":2"),
    ("bad.jsonl", '{"id": "1", "title": "One"}\nnot json\n', ":2"),
    ("bad.toml", '[[items]]\nid = "1"\n', ":1"),
    ("bad.toml", "[[items]\n", "not valid TOML"),
])
def test_bad_items_file_names_file_and_line(tmp_path: Path, name: str, content: str,
                                            where: str) -> None:
    """A bad item names the file and its line (or index)."""
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ItemsFileError, match="items file") as info:
        load_items(path)
    assert str(path) in str(info.value) and where in str(info.value)


def test_an_item_is_never_shared_twice_in_a_guild() -> None:
    """Each guild gets the newest item it has not had; released items come back; memory of
    shared ids is bounded."""
    items = FeedItems([FeedItem("b", "B"), FeedItem("a", "A")], remember=2)
    assert [items.pick(1), items.pick(1), items.pick(1)] == [FeedItem("b", "B"),
                                                             FeedItem("a", "A"), None]
    assert items.pick(2) == FeedItem("b", "B")
    items.release(2, "b")
    assert items.pick(2) == FeedItem("b", "B")
    assert items.add([FeedItem("c", "C"), FeedItem("a", "A")]) == 1
    assert items.pick(1) == FeedItem("c", "C")
    # Guild 1 remembers only its last two ids ("a", "c"): "b" is forgotten and comes back.
    assert items.pick(1) == FeedItem("b", "B")


def test_items_keep_only_the_newest() -> None:
    """Beyond max_items the oldest items are dropped."""
    items = FeedItems([FeedItem(str(i), f"T{i}") for i in range(5)], max_items=3)
    assert len(items) == 3
    assert items.pick(1) == FeedItem("0", "T0")


@pytest.mark.anyio
async def test_feeds_are_fetched_with_the_shared_client() -> None:
    """refresh() fetches RSS and Atom from loopback; a failing feed is counted, not raised."""
    import httpx

    async with open_fake_server() as server, httpx.AsyncClient() as client:
        base = server.base_url.removesuffix("/v1")
        server.files["/news.rss"] = ("application/rss+xml", RSS)
        server.files["/blog.atom"] = ("application/atom+xml", ATOM)
        items = FeedItems(urls=[f"{base}/news.rss", f"{base}/blog.atom", f"{base}/gone"],
                          client=client)
        assert await items.refresh() == 3
        assert await items.refresh() == 0
    assert items.fetch_errors == 2
    # Items fetched later count as newer: the Atom entry comes first.
    assert [items.pick(1) for _ in range(4)] == [*parse_feed(ATOM), *parse_feed(RSS), None]


def test_feed_urls_need_a_client() -> None:
    """Feed URLs without an HTTP client are refused at construction."""
    with pytest.raises(ValueError, match="httpx client"):
        FeedItems(urls=["https://example.com/feed"])


# -- the offline backend in virtual time --------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", [
    pytest.param(("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}),
                 id="trio-mockclock"),
])
async def test_offline_pool_in_virtual_time(recorder: Recorder) -> None:
    """With the offline backend and a simulated latency of 100-200 s, a break_silence is sent
    and a join_conversation (two-minute deadline) goes stale, in virtual time."""
    backend = OfflineBackend(seed=3, latency=(100.0, 200.0))
    async with LLMPool(backend, workers=2, deliver=recorder.deliver, sender=recorder.send,
                       deadlines={"join_conversation": 50.0}) as pool:
        started = anyio.current_time()
        silence = request(1, "break_silence", deadline_s=3600)
        join = request(2, "join_conversation", deadline_s=3600)
        pool.submit(silence)
        pool.submit(join)
        await recorder.wait(2)
        elapsed = anyio.current_time() - started
    assert recorder.outcome(join) == ("stale", "deadline passed")
    assert recorder.outcome(silence) == ("sent", "")
    assert 100.0 <= elapsed <= 200.0
    assert recorder.results[0].request_id == join.request_id


class _WatchedItems(FeedItems):
    """FeedItems that signals each finished refresh."""

    refreshed: anyio.Event

    async def refresh(self) -> int:
        new = await super().refresh()
        self.refreshed.set()
        return new


@pytest.mark.anyio
async def test_the_pool_keeps_feeds_fresh(recorder: Recorder) -> None:
    """Given FeedItems, the running pool fetches its feeds, so a share finds an item."""
    import httpx

    async with open_fake_server() as server, httpx.AsyncClient() as client:
        server.files["/news.rss"] = ("application/rss+xml", RSS)
        items = _WatchedItems(urls=[server.base_url.removesuffix("/v1") + "/news.rss"],
                              client=client)
        items.refreshed = anyio.Event()
        async with LLMPool(OfflineBackend(), deliver=recorder.deliver, sender=recorder.send,
                           items=items) as pool:
            await items.refreshed.wait()
            share = request(1, "share_tweet")
            pool.submit(share)
            await recorder.wait(1)
    assert recorder.outcome(share) == ("sent", "")
    assert "https://example.com/single" in recorder.sent[0][1]


class _Buggy:
    """A backend with a bug: it raises something that is not a BackendError."""

    async def generate(self, prompt: object) -> str:
        raise ZeroDivisionError


@pytest.mark.anyio
async def test_a_buggy_backend_or_router_does_not_stop_the_pool(recorder: Recorder) -> None:
    """A backend's unexpected exception fails only its request; a router that raises is
    logged; the workers go on."""
    calls: list[int] = []
    both = anyio.Event()

    def bad_router(event: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            both.set()
        raise RuntimeError("router down")

    async with LLMPool(_Buggy(), workers=1, deliver=recorder.deliver,
                       sender=recorder.send) as pool:
        first = request(1)
        pool.submit(first)
        await recorder.wait(1)
    assert recorder.outcome(first) == ("failed", "internal error: ZeroDivisionError")
    second = Recorder()
    with capture_logs() as logs:
        async with LLMPool(OfflineBackend(), workers=1, deliver=bad_router,
                           sender=second.send) as pool:
            pool.submit(request(2))
            pool.submit(request(3))
            await both.wait()
    assert len(calls) == 2 and len(second.sent) == 2
    assert [e["event"] for e in logs].count("pool.deliver_failed") == 2
