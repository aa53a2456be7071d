"""IDENTIFY across processes: Discord allows ``max_concurrency`` IDENTIFYs per 5 s for the whole
bot (one per bucket ``shard_id % max_concurrency``) and answers one more INVALID_SESSION. Two
clients (two processes of one bot) starting together against the stand-in: without the
shared store the second is refused; paced through the PostgreSQL store (``IdentifyPacer``)
both are accepted, a full interval apart. The stand-in's and the pacer's interval are shrunk
to 0.5 s here so the test does not wait Discord's 5 s; the rule is the same."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from actors.events import GuildReady
from runtime.gateway import PersonaClient
from runtime.gateway.identify import IdentifyPacer, install_identify_pacing
from runtime.store.pg_once import PgOnce
from runtime.store.postgres import PostgresStore
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import Recorder, connected

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

INTERVAL_S = 0.5
UNREACHABLE = "postgresql://miku@127.0.0.1:1/miku"


@pytest.fixture
async def url(store_url: str) -> str:
    async with PostgresStore(store_url):  # the tables, as the runtime makes them at start
        pass
    return store_url


@contextlib.asynccontextmanager
async def two_clients(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch,
                      store: str | None) -> AsyncIterator[list[tuple[PersonaClient, Recorder]]]:
    """Two clients of one bot started at once, each paced through its own connection to
    ``store`` (None: discord.py's own pacing only)."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            client, rec = await stack.enter_async_context(connected(fake, monkeypatch,
                                                                    shard_count=1))
            if store is not None:
                once = PgOnce(store)
                stack.push_async_callback(once.close)
                install_identify_pacing(client, once, interval_s=INTERVAL_S)
            clients.append((client, rec))
        yield clients


async def test_two_processes_identifying_together_are_refused_without_the_store(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """discord.py paces only its own process: the second IDENTIFY comes at once and the
    stand-in answers it INVALID_SESSION, as Discord does."""
    async with FakeDiscord(identify_interval_s=INTERVAL_S) as fake, two_clients(
            fake, monkeypatch, None) as clients:
        await clients[0][1].wait_for(GuildReady)
        await fake.identify_refused_event.wait()
        assert fake.identify_refused == [0] and len(fake.identified_at) == 1


async def test_two_processes_paced_by_the_store_are_both_accepted(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeDiscord(identify_interval_s=INTERVAL_S) as fake, two_clients(
            fake, monkeypatch, url) as clients:
        for _, rec in clients:
            await rec.wait_for(GuildReady)
        assert fake.identify_refused == []
        [(_, first), (_, second)] = fake.identified_at
        assert second - first >= INTERVAL_S


async def test_buckets_do_not_wait_for_each_other(url: str) -> None:
    """max_concurrency 2: shards 0 and 1 are in different buckets and go at once; shard 2
    waits for shard 0's slot."""
    waited: list[float] = []

    async def sleep(s: float) -> None:
        waited.append(s)

    once = PgOnce(url)
    try:
        pacer = IdentifyPacer(once, max_concurrency=2, interval_s=5.5, sleep=sleep)
        for shard_id in (0, 1, 2):
            await pacer.wait(shard_id, initial=shard_id == 0)
    finally:
        await once.close()
    assert len(waited) == 1 and 5.0 < waited[0] <= 5.5
    assert pacer.waits[:2] == [0.0, 0.0]


async def test_an_unreachable_store_paces_like_discord_py_and_says_so_once() -> None:
    waited: list[float] = []

    async def sleep(s: float) -> None:
        waited.append(s)

    once = PgOnce(UNREACHABLE)
    pacer = IdentifyPacer(once, sleep=sleep)
    with capture_logs() as logs:
        await pacer.wait(0, initial=True)
        await pacer.wait(1, initial=False)
    await once.close()
    assert waited == [5.0]
    assert [e["event"] for e in logs].count("gateway.identify_unpaced") == 1
