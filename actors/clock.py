"""Epoch time read from the event loop's clock.

Actors, the pool and the simulator read "now" as ``offset + anyio.current_time()``. On a real
loop the offset pins it to the wall clock once; under trio's ``MockClock`` the same code runs in
virtual time, so hours of timers pass in milliseconds and the engine still sees epoch seconds.
"""

from __future__ import annotations

import time

import anyio

__all__ = ["LoopClock"]


class LoopClock:
    """``now()`` is epoch seconds that advance with the running loop's clock.

    Args:
        epoch_at_start: the epoch time to call the loop's current time; None means the wall
            clock's time now. Must be created inside a running event loop.
    """

    __slots__ = ("offset",)

    def __init__(self, epoch_at_start: float | None = None) -> None:
        loop_now = anyio.current_time()
        start = time.time() if epoch_at_start is None else epoch_at_start
        self.offset = start - loop_now

    def now(self) -> float:
        """Epoch seconds now."""
        return self.offset + anyio.current_time()

    def loop_time(self, epoch: float) -> float:
        """The loop time at which epoch time ``epoch`` arrives (for deadlines)."""
        return epoch - self.offset
