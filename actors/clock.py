"""Epoch time read from the event loop's clock.

Actors, the pool and the simulator read "now" as ``offset + anyio.current_time()``. On a real
loop the offset pins it to the wall clock once; under trio's ``MockClock`` the same code runs in
virtual time, so hours of timers pass in milliseconds and the engine still sees epoch seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import sniffio

__all__ = ["LoopClock"]


class LoopClock:
    """``now()`` is epoch seconds that advance with the running loop's clock.

    Args:
        epoch_at_start: the epoch time to call the loop's current time; None means the wall
            clock's time now. Must be created inside a running event loop.
    """

    __slots__ = ("_time", "offset")

    def __init__(self, epoch_at_start: float | None = None) -> None:
        self._time = _loop_time_function()
        loop_now = self._time()
        start = time.time() if epoch_at_start is None else epoch_at_start
        self.offset = start - loop_now

    def now(self) -> float:
        """Epoch seconds now."""
        return self.offset + self._time()

    def loop_time(self, epoch: float) -> float:
        """The loop time at which epoch time ``epoch`` arrives (for deadlines)."""
        return epoch - self.offset


def _loop_time_function() -> Callable[[], float]:
    """The running loop's own clock: the one ``anyio.current_time()`` reads, bound once.

    ``anyio.current_time()`` finds the backend through sniffio on every call (about 1.5 µs);
    actors read the clock several times per wake-up, so the lookup is done once here.
    """
    library = sniffio.current_async_library()
    if library == "asyncio":
        import asyncio

        return asyncio.get_running_loop().time
    if library == "trio":
        import trio

        # What trio.current_time() reads, without its run-context lookup: a run's clock is
        # fixed for its life (a simulated run's virtual clock included).
        return trio.lowlevel.current_clock().current_time
    return anyio.current_time
