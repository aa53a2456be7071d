"""The PostgreSQL store itself under faults (a real server behind the fault proxy, and a
session holding a lock): the probe and the lease calls answer by their deadline whatever
the network does, a locked snapshots table is an outage (kept, said once), never a bad row;
and the proxy does what it says (pass, blackhole then heal, reset)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import psycopg
import pytest

from runtime.store import StoreUnavailableError
from runtime.store.postgres import PostgresStore
from tests.kit.fault_proxy import FaultProxy, proxy_for, url_through

pytestmark = [pytest.mark.anyio, pytest.mark.faults]


@pytest.fixture
async def proxied(store_url: str) -> AsyncIterator[tuple[FaultProxy, PostgresStore]]:
    """A proxy in front of the test database, and a store opened through it."""
    proxy = proxy_for(store_url)
    async with anyio.create_task_group() as tg:
        await tg.start(proxy.serve)
        async with PostgresStore(url_through(store_url, proxy), lease_timeout_s=2.0,
                                 connect_timeout_s=2.0) as store:
            yield proxy, store
        tg.cancel_scope.cancel()


async def test_the_proxy_passes_holds_heals_and_resets(store_url: str) -> None:
    """Through the proxy a query answers; blackholed it does not (the bytes are held), and
    healed the held query answers; reset, the connection fails and new ones are refused."""
    proxy = proxy_for(store_url)
    async with anyio.create_task_group() as tg:
        await tg.start(proxy.serve)
        url = url_through(store_url, proxy)
        conn = await anyio.to_thread.run_sync(lambda: psycopg.connect(url, autocommit=True))
        try:
            one = lambda: conn.execute("SELECT 1").fetchone()[0]  # noqa: E731
            assert await anyio.to_thread.run_sync(one) == 1
            proxy.mode = "blackhole"
            done = anyio.Event()
            got: list[int] = []

            async def ask() -> None:
                got.append(await anyio.to_thread.run_sync(one))
                done.set()

            tg.start_soon(ask)
            with anyio.move_on_after(1.0):
                await done.wait()
            assert got == []  # held: no answer while blackholed
            proxy.mode = "pass"
            with anyio.fail_after(10):
                await done.wait()
            assert got == [1]
            proxy.mode = "reset"
            with pytest.raises(psycopg.OperationalError):
                await anyio.to_thread.run_sync(one)
            with pytest.raises(psycopg.OperationalError):
                await anyio.to_thread.run_sync(
                    lambda: psycopg.connect(url, connect_timeout=2).close())
            assert proxy.resets >= 2
        finally:
            await anyio.to_thread.run_sync(conn.close)
        tg.cancel_scope.cancel()


async def test_ping_and_lease_calls_end_by_their_deadline_when_the_store_goes_silent(
        proxied: tuple[FaultProxy, PostgresStore]) -> None:
    """Blackholed, ``ping`` (what ``/readyz`` asks) and a lease renewal each end within
    their deadline (2 s + 1) with an error, never hang; healed, both answer again."""
    proxy, store = proxied
    await store.acquire_leases("a", [0], 1, 30.0)
    await store.ping()
    proxy.mode = "blackhole"
    for call in (store.ping, lambda: store.renew_leases(30.0)):
        with anyio.fail_after(8):  # 3 s of deadline, and room for a loaded machine
            with pytest.raises((TimeoutError, StoreUnavailableError)):
                await call()
    assert store.statistics().unreachable_now == 1
    proxy.mode = "pass"
    with anyio.fail_after(10):
        await store.ping()
        assert len(await store.renew_leases(30.0)) == 1
    stats = store.statistics()
    assert stats.unreachable_now == 0 and stats.outages == 1


async def test_a_locked_snapshots_table_is_an_outage_for_a_deadline_not_a_bad_row(
        store_url: str) -> None:
    """Another session holds ``LOCK TABLE snapshots IN EXCLUSIVE MODE``: a save with a
    deadline fails by it with ``StoreUnavailableError`` (nothing put aside), while the
    probe still answers; after the lock, the same save goes through."""
    async with PostgresStore(store_url) as store:
        lock = await anyio.to_thread.run_sync(lambda: psycopg.connect(store_url))
        try:
            await anyio.to_thread.run_sync(
                lock.execute, "LOCK TABLE snapshots IN EXCLUSIVE MODE")
            with anyio.fail_after(5):
                with pytest.raises(StoreUnavailableError, match="statement timeout"):
                    with anyio.move_on_after(1.0):
                        await store.save_many([(1, b"state")])
                await store.ping()
        finally:
            await anyio.to_thread.run_sync(lock.close)
        await store.save_many([(1, b"state")])
        assert await store.load(1) == b"state"
