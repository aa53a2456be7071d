"""Shard leases: two stores on one database are two processes; only the lease holder of a
guild's shard writes it, and a process whose lease expired can no longer write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from runtime.store import (
    Lease,
    LeaseLostError,
    Refusal,
    RowsRefusedError,
    StoreError,
    open_leases,
    shard_of,
)
from runtime.store.leases import plan_acquire
from tests.kit.store import NOW, FakeClock

pytestmark = pytest.mark.anyio

SHARD0 = 0 << 22 | 7          # guild ids of shard 0 and shard 1 of 2
SHARD1 = 1 << 22 | 7


def test_shard_of_is_discords_rule() -> None:
    """A guild's shard is (id >> 22) % shard_count."""
    assert shard_of(SHARD1, 2) == 1 and shard_of(SHARD0, 2) == 0
    assert shard_of(81384788765712384, 16) == (81384788765712384 >> 22) % 16


def test_plan_is_all_or_nothing_and_fences_grow() -> None:
    """An acquisition waits for every live lease in its way, takes expired ones with the next
    fencing number, and invalidates rows of another shard count."""
    rows = [Lease(0, 2, "a", 4, NOW + 10), Lease(1, 2, "", 2, 0.0)]
    blocked, writes = plan_acquire(rows, "b", [0, 1], 2, 30, NOW)
    assert [r.shard_id for r in blocked] == [0] and writes == []
    blocked, writes = plan_acquire(rows, "b", [1], 2, 30, NOW)
    assert blocked == [] and writes == [Lease(1, 2, "b", 3, NOW + 30)]
    blocked, _ = plan_acquire(rows, "b", [0], 1, 30, NOW)  # another count overlaps everything
    assert [r.shard_id for r in blocked] == [0]
    blocked, writes = plan_acquire(rows, "b", [0], 1, 30, NOW + 11)
    assert writes == [Lease(0, 1, "b", 5, NOW + 41)]
    blocked, writes = plan_acquire([Lease(3, 4, "a", 9, NOW - 1)], "b", [0], 2, 30, NOW)
    assert writes == [Lease(0, 2, "b", 1, NOW + 30), Lease(3, 4, "", 10, 0.0)]


async def test_the_second_process_waits_then_takes_over(make_store: Callable[..., Any],
                                                        lease_clock: FakeClock) -> None:
    """A second process asking for a held shard is blocked while the lease lives; once it
    expired, it takes the shard, and the paused first owner can neither write nor renew."""
    async with make_store() as a, make_store() as b:
        grant = await a.acquire_leases("proc-a", [0, 1], 2, 30)
        assert grant.ok and [r.fence for r in grant.granted] == [1, 1]
        await a.save_many([(SHARD0, b"a0"), (SHARD1, b"a1")])
        blocked = await b.acquire_leases("proc-b", [1], 2, 30)
        assert not blocked.ok and [(r.shard_id, r.owner) for r in blocked.blocked] == [
            (1, "proc-a")]
        lease_clock.now += 20
        await a.renew_leases(30)   # renewed at +20: lives until +50
        lease_clock.now += 25
        assert not (await b.acquire_leases("proc-b", [1], 2, 30)).ok
        lease_clock.now += 10      # +55: a's lease expired, a is paused
        with pytest.raises(RowsRefusedError, match="expired") as info:
            await a.save_many([(SHARD1, b"stale")])
        assert info.value.reasons == {SHARD1: Refusal.LEASE_EXPIRED}  # nobody took it yet
        grant = await b.acquire_leases("proc-b", [1], 2, 30)
        assert grant.ok and grant.granted[0].fence == 2
        with pytest.raises(RowsRefusedError, match="taken by another process") as info:
            await a.save_many([(SHARD1, b"stale")])
        assert info.value.reasons == {SHARD1: Refusal.LEASE_TAKEN}
        await b.save_many([(SHARD1, b"b1")])
        with pytest.raises(LeaseLostError) as lost:
            await a.renew_leases(30)  # shard 1 is gone; shard 0 (not taken) is renewed
        assert lost.value.shard_ids == (1,)
        with pytest.raises(RowsRefusedError):
            await a.save_many([(SHARD0, b"a0-again"), (SHARD1, b"stale")])
        assert await b.load(SHARD1) == b"b1"
        assert await b.load(SHARD0) == b"a0-again"  # a still holds shard 0: its write stands
        with pytest.raises(RowsRefusedError, match="not leased to this process"):
            await b.save_many([(SHARD0, b"not mine")])
        with pytest.raises(RowsRefusedError):
            await a.mark_removed(SHARD1, NOW)
        assert await b.load(SHARD1) == b"b1"


async def test_release_frees_at_once_and_stops_writes(make_store: Callable[..., Any]) -> None:
    """Released leases are taken at once by the next process (no expiry wait), with a larger
    fencing number; the releasing store writes nothing more."""
    async with make_store() as a, make_store() as b:
        assert (await a.acquire_leases("proc-a", [0], 1, 30)).ok
        await a.release_leases()
        with pytest.raises(RowsRefusedError):
            await a.save_many([(SHARD0, b"after release")])
        grant = await b.acquire_leases("proc-b", [0], 1, 30)
        assert grant.ok and grant.granted[0].fence == 2
        assert await a.renew_leases(30) == ()  # released: nothing of its own to renew


async def test_a_store_without_leases_writes_freely(make_store: Callable[..., Any]) -> None:
    """A store that never asked for leases (one process, no shards) writes every guild."""
    async with make_store() as a:
        await a.save_many([(SHARD0, b"x"), (SHARD1, b"y")])
        assert await a.renew_leases(30) == ()
        assert len(await a.load_all_ids()) == 2


async def test_bad_lease_requests_are_refused(make_store: Callable[..., Any]) -> None:
    """A shard id outside the count, a count below one or a bad TTL is a clear error."""
    async with make_store() as a:
        with pytest.raises(StoreError, match=r"shard_ids must be 0 <= id < 2"):
            await a.acquire_leases("p", [2], 2, 30)
        with pytest.raises(StoreError, match="shard_count"):
            await a.acquire_leases("p", [0], 0, 30)
        with pytest.raises(StoreError, match="ttl_s"):
            await a.acquire_leases("p", [0], 1, float("nan"))
        with pytest.raises(StoreError, match="owner"):
            await a.acquire_leases("", [0], 1, 30)


async def test_open_leases_waits_once_then_holds_and_releases(
        make_store: Callable[..., Any], lease_clock: FakeClock) -> None:
    """open_leases says once that it waits for a live lease, acquires it when the holder
    releases it, and releases on the way out."""
    async with make_store() as a, make_store() as b:
        assert (await a.acquire_leases("proc-a", [0, 1], 2, 30)).ok
        got, three_tries = anyio.Event(), anyio.Event()
        tries = 0
        acquire = b.acquire_leases

        async def counted(*args: Any) -> Any:
            nonlocal tries
            grant = await acquire(*args)
            tries += 1
            if tries == 3:
                three_tries.set()
            return grant

        b.acquire_leases = counted
        with capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                async def second() -> None:
                    async with open_leases(b, "proc-b", [0, 1], 2, 30, retry_s=0.01) as held:
                        assert [r.owner for r in held] == ["proc-b", "proc-b"]
                        got.set()
                tg.start_soon(second)
                await three_tries.wait()  # three blocked attempts, one warning
                assert not got.is_set()
                await a.release_leases()
                await got.wait()
        waits = [e for e in logs if e["event"] == "store.lease_wait"]
        assert len(waits) == 1 and waits[0]["holders"] == ["proc-a"]
        assert (await a.acquire_leases("proc-a", [0, 1], 2, 30)).ok  # b released on exit
