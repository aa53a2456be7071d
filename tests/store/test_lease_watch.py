"""A process acts in its shards only while its lease surely holds: from its last successful
renewal plus the TTL, less a margin, whatever the store does (a partition that makes every
renewal hang included). Virtual time: trio's ``MockClock``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
import trio
import trio.testing

from runtime.store import LeaseLostError, LeaseWatch, open_leases
from tests.kit.store import FakeClock
from tests.kit.store_faults import FaultyStore


def _virtual(body: Callable[[], Awaitable[None]]) -> None:
    trio.run(body, clock=trio.testing.MockClock(autojump_threshold=0))


def test_the_lease_stops_holding_at_last_renewal_plus_ttl_less_the_margin() -> None:
    """Renewals hang (a partition): the watch says the lease holds until the last successful
    renewal + 30 s - 5 s, then not, in one log line; once a renewal gets through it holds
    again, in one more line."""
    seen: dict[str, Any] = {}

    async def body() -> None:
        lease_clock = FakeClock()
        store = FaultyStore(lease_clock=lease_clock)
        watch = LeaseWatch(30.0, margin_s=5.0)
        assert watch.holds()  # not in lease mode yet: nothing to fence
        with structlog.testing.capture_logs() as logs:
            async with open_leases(store, "a", [0], 1, 30.0, watch=watch):
                t0 = trio.current_time()
                assert watch.holds()
                await trio.sleep(10.5)  # one renewal got through at +10
                store.blackhole = True
                await trio.sleep(24.0)  # +34.5: 10 + 30 - 5 = 35 is the end
                seen["at_34_5"] = watch.holds()
                await trio.sleep(1.0)
                seen["at_35_5"] = watch.holds()
                await trio.sleep(60.0)
                seen["later"] = watch.holds()
                lease_clock.now += 1.0  # (nobody took it meanwhile)
                store.heal()
                await trio.sleep(11.0)  # the next attempt after the heal gets through
                seen["healed"] = watch.holds()
                seen["t"] = trio.current_time() - t0
                store.blackhole = False
        seen["logs"] = [x for x in logs if x["event"].startswith("store.lease_")]

    _virtual(body)
    assert seen["at_34_5"] and not seen["at_35_5"] and not seen["later"]
    assert seen["healed"]
    events = [x["event"] for x in seen["logs"]]
    assert events.count("store.lease_unsure") == 1 and events.count("store.lease_sure") == 1
    assert events.index("store.lease_unsure") < events.index("store.lease_sure")


def test_open_leases_reports_a_lost_lease() -> None:
    """When a renewal finds the lease taken, on_lost is called once with the lost shards, a
    third of the TTL after the last renewal; the watch stops holding at once."""
    seen: dict[str, Any] = {}

    async def body() -> None:
        lease_clock = FakeClock()
        store = FaultyStore(lease_clock=lease_clock)
        other = store.twin()
        lost: list[LeaseLostError] = []
        told = trio.Event()
        watch = LeaseWatch(3.0, margin_s=0.5)

        def on_lost(exc: LeaseLostError) -> None:
            lost.append(exc)
            told.set()

        async with open_leases(store, "proc-a", [0], 1, 3.0, on_lost=on_lost, watch=watch):
            t0 = trio.current_time()
            lease_clock.now += 10  # expired; another process takes it
            assert (await other.acquire_leases("proc-b", [0], 1, 30)).ok
            await told.wait()
            seen["after"] = trio.current_time() - t0
            seen["holds"] = watch.holds()
        seen["lost"] = lost

    _virtual(body)
    assert seen["after"] == 1.0  # the next renewal, a third of the TTL later
    assert not seen["holds"]
    assert len(seen["lost"]) == 1 and seen["lost"][0].shard_ids == (0,)
