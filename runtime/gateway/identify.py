"""IDENTIFY paced across every process of the bot (with the shared PostgreSQL store).

Discord allows ``max_concurrency`` IDENTIFYs per 5 s for the whole bot (``GET /gateway/bot``,
``session_start_limit``; 1 for most bots), one per bucket ``shard_id % max_concurrency``, and
answers one more with INVALID_SESSION (Gateway, "Rate Limiting"). discord.py 2.7 paces only
its own process: it launches the shards one after another and sleeps 5 s before each
IDENTIFY but the first (``Client.before_identify_hook``). Two processes starting together
(or one reconnecting while another starts) identify at once, and one is refused.

With the PostgreSQL store, ``IdentifyPacer`` replaces that hook: before each IDENTIFY the
shard reserves its bucket's next slot in the store (``PgOnce.next_identify``: 5 s after the
last slot any process reserved, plus a margin for the time between the reservation and the
IDENTIFY reaching Discord, on the database server's clock) and waits for it. Shards of
different buckets do not wait for each other. Without PostgreSQL (one process), discord.py's
own pacing is what Discord asks, and nothing here is used.

A store that cannot be reached does not hold the shard: it identifies as discord.py would
(5 s after the process's previous one), said once per outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog

from runtime.store.contract import StoreError

__all__ = ["IDENTIFY_MARGIN_S", "IdentifyPacer", "install_identify_pacing"]

log = structlog.get_logger("runtime.gateway")

#: Discord's window: ``max_concurrency`` IDENTIFYs per this many seconds.
_WINDOW_S = 5.0
#: Added to the window between two reserved slots: a slot is reserved a moment before the
#: IDENTIFY leaves, and Discord counts when it arrives.
IDENTIFY_MARGIN_S = 0.5
#: discord.py's own wait before an IDENTIFY that is not the process's first.
_LOCAL_WAIT_S = 5.0


class Slots(Protocol):
    """``runtime.store.pg_once.PgOnce``'s IDENTIFY slots."""

    async def next_identify(self, bucket: int, *, interval_s: float = ...) -> float: ...


class IdentifyPacer:
    """Waits before each IDENTIFY for the bucket's slot in the shared store.

    Args:
        slots: the shared store's slots (``PgOnce``).
        max_concurrency: ``session_start_limit.max_concurrency``, or a coroutine function
            that asks Discord for it (once; 1 when it cannot).
        interval_s: between two slots of a bucket (Discord's 5 s and a margin).
        sleep: how the wait is waited (tests: a clock of their own).
    """

    def __init__(self, slots: Slots, *,
                 max_concurrency: int | Callable[[], Awaitable[int]] = 1,
                 interval_s: float = _WINDOW_S + IDENTIFY_MARGIN_S,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._slots = slots
        self._concurrency = max_concurrency
        self.interval_s = interval_s
        self._sleep = sleep
        self._unreachable = False
        #: Seconds waited for a slot, per IDENTIFY (the last 100), for stats and tests.
        self.waits: list[float] = []

    async def _max_concurrency(self) -> int:
        if isinstance(self._concurrency, int):
            return max(1, self._concurrency)
        try:
            self._concurrency = max(1, int(await self._concurrency()))
        except Exception as exc:  # any failure (HTTP, network): the safe value
            log.warning("gateway.max_concurrency_unknown", error=type(exc).__name__,
                        assumed=1)
            self._concurrency = 1
        return self._concurrency

    async def wait(self, shard_id: int, *, initial: bool) -> None:
        """Until shard ``shard_id`` may IDENTIFY (``initial``: the process's first)."""
        bucket = shard_id % await self._max_concurrency()
        try:
            delay = await self._slots.next_identify(bucket, interval_s=self.interval_s)
        except (StoreError, TimeoutError) as exc:
            if not self._unreachable:
                log.warning("gateway.identify_unpaced", shard_id=shard_id,
                            error=getattr(exc, "detail", None) or type(exc).__name__,
                            then="pacing this process only, as discord.py does")
            self._unreachable = True
            if not initial:
                await self._sleep(_LOCAL_WAIT_S)
            return
        self._unreachable = False
        self.waits = [*self.waits[-99:], delay]
        if delay > 0:
            log.info("gateway.identify_waits", shard_id=shard_id, bucket=bucket,
                     wait_s=round(delay, 2))
            await self._sleep(delay)


def install_identify_pacing(client: Any, slots: Slots, **options: Any) -> IdentifyPacer:
    """Make ``client`` (a discord.py ``AutoShardedClient``, before ``start``) wait for an
    ``IdentifyPacer`` on ``slots`` before every IDENTIFY instead of its own 5 s; its
    ``max_concurrency`` asked of Discord (``GET /gateway/bot``) at the first IDENTIFY.

    Args:
        **options: ``IdentifyPacer``'s (``interval_s``, ``sleep``, ``max_concurrency``).
    """

    async def max_concurrency() -> int:
        return int((await client.fetch_session_start_limits()).max_concurrency)

    options.setdefault("max_concurrency", max_concurrency)
    pacer = IdentifyPacer(slots, **options)

    async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
        await pacer.wait(shard_id or 0, initial=initial)

    client.before_identify_hook = before_identify_hook
    return pacer
