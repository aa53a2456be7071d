"""Keep the garbage collector's pauses short with a hundred thousand live actors.

Each live actor holds about fifty tracked objects. Left alone, the collector's full
collections walk all of them (1.5 s per pass at 100k actors, measured), and the younger
passes grow with every burst of wake-ups: each waiting actor leaves a fresh await chain
(coroutines, a future) behind.

The guard does two things while it is held:

- after every collection of the middle generation, ``gc.freeze()`` moves what survived into
  the permanent generation, so no full collection ever has much to walk;
- the middle generation is collected every 3 young collections instead of 10, so it never
  holds more than a few thousand wake-ups.

The cost: cyclic garbage made of objects that already survived a middle-generation pass is
not reclaimed while frozen. A stopped or passivated actor leaves no cycles (measured: 0
objects per actor), but the gateway does: a reconnect (a new IDENTIFY) or a guild leaving
drops discord.py's cyclic Guild and Member objects (6 MB per re-IDENTIFY of 1,500 guilds of
20 members in ``bench/bench_reconnect_memory.py``; 20 MB in a larger shard), which the freeze
used to keep for good. So the permanent generation is
watched: once it has grown by a fifth (and by ``THAW_GROWTH`` objects) since the last
look, ``thaw_if_grown`` (the supervisor calls it every minute, outside any collection)
unfreezes, collects once in full, and freezes what is still alive. That is one full pause
per such growth, the pause the guard exists to avoid, paid only when something large was
let go; a steady process never pays it. Spawn bursts are frozen by the supervisor as well.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import anyio
import anyio.abc
import structlog

__all__ = ["THAW_EVERY_S", "THAW_GROWTH", "GCGuard", "SpawnBursts", "thaw_periodically"]

log = structlog.get_logger("runtime.supervisor")

_MIDDLE_EVERY = 3
#: Growth of the permanent generation (objects) since the last thaw that calls for another.
THAW_GROWTH = 20_000
#: How often the supervisor looks.
THAW_EVERY_S = 60.0


class GCGuard:
    """Process-wide; nested holders share one installation (counted)."""

    _holders = 0
    _saved: tuple[int, ...] | None = None
    #: The permanent generation's size after the last thaw (or when the guard was held).
    _baseline = 0
    #: Full collections made by ``thaw_if_grown`` (statistics, tests).
    thaws = 0

    @classmethod
    def hold(cls) -> None:
        """Install the guard (idempotent per holder; pair with ``release``)."""
        if cls._holders == 0:
            cls._saved = gc.get_threshold()
            young = cls._saved[0]
            gc.set_threshold(young, _MIDDLE_EVERY, cls._saved[2] if len(cls._saved) > 2 else 10)
            gc.callbacks.append(_after_collection)
            cls._baseline = gc.get_freeze_count()
        cls._holders += 1

    @classmethod
    def release(cls) -> None:
        """Remove the guard when its last holder leaves; give the frozen objects back to
        the collector."""
        if cls._holders == 0:
            return
        cls._holders -= 1
        if cls._holders == 0:
            if _after_collection in gc.callbacks:
                gc.callbacks.remove(_after_collection)
            if cls._saved is not None:
                gc.set_threshold(*cls._saved)
            gc.unfreeze()


    @classmethod
    def thaw_if_grown(cls, growth: int = THAW_GROWTH) -> int:
        """If the frozen objects grew by ``growth`` (and by a fifth) since the last thaw,
        collect them once in full and freeze the survivors again. Call it outside a
        collection (a task, not a ``gc`` callback). Returns the objects reclaimed (0 when
        it did nothing, or the guard is not held)."""
        if cls._holders == 0:
            return 0
        frozen = gc.get_freeze_count()
        if frozen - cls._baseline < max(growth, cls._baseline // 5):
            return 0
        gc.unfreeze()
        reclaimed = gc.collect()
        gc.freeze()
        cls._baseline = gc.get_freeze_count()
        cls.thaws += 1
        return reclaimed


async def thaw_periodically(every_s: float = THAW_EVERY_S) -> None:
    """Until cancelled: ``GCGuard.thaw_if_grown`` every ``every_s`` of wall-clock time, one
    log line when it reclaimed something (how many objects, and how long the collection
    paused the loop). Wall-clock, not the loop's: under the simulator's virtual clock a day
    passes in seconds, and a full collection every virtual minute would be thousands."""
    last = time.monotonic()
    while True:
        await anyio.sleep(every_s)
        if time.monotonic() - last < every_s:
            continue
        last = time.monotonic()
        started = anyio.current_time()
        reclaimed = GCGuard.thaw_if_grown()
        if reclaimed:
            log.info("gc_thawed", reclaimed=reclaimed, frozen=gc.get_freeze_count(),
                     pause_s=round(anyio.current_time() - started, 3))


def _after_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation", 0) >= 1:
        gc.freeze()


class SpawnBursts:
    """Pauses the collector during a burst of spawns and freezes what the burst built.

    Spawn bursts (start-up, a shard reconnecting) allocate ~50 tracked objects per actor;
    letting the collector scan them all over and over makes spawning 4x slower, and every
    later full collection stall the loop for over a second at 100k actors.
    """

    PAUSE_AT = 200
    FREEZE_AT = 1000

    def __init__(self) -> None:
        self.count_in_burst = 0
        self.started = 0.0
        self.paused = False

    def count(self, tg: anyio.abc.TaskGroup) -> None:
        """One more spawn; the 200th of a burst pauses the collector until it ends."""
        now = anyio.current_time()
        if now - self.started > 1.0 and not self.paused:
            self.started, self.count_in_burst = now, 0
        self.count_in_burst += 1
        if self.count_in_burst == self.PAUSE_AT and gc.isenabled():
            gc.disable()
            self.paused = True
            tg.start_soon(self._watch)

    async def _watch(self) -> None:
        try:
            while True:  # a burst ends when 50 ms pass without a spawn
                seen = self.count_in_burst
                await anyio.sleep(0.05)
                if self.count_in_burst == seen:
                    break
        finally:
            if self.count_in_burst >= self.FREEZE_AT:
                gc.freeze()
            self.count_in_burst, self.started = 0, anyio.current_time()
            self.end()

    def end(self) -> None:
        """Give the collector back (a burst ended, or the supervisor stops)."""
        if self.paused:
            self.paused = False
            gc.enable()
