"""The log of a store outage: one line when the store stops answering, one when it answers
again (how long, how many calls failed meanwhile), counters in between for the metrics.

A 330 s PostgreSQL outage used to write dozens of multi-line pool warnings and one warning
per failed renewal or batch, and never "unreachable since" or "back after". The stores call
``failed`` for every call that met ``StoreUnavailableError`` (or a deadline) and ``ok`` for
every call that went through; the first of each run of them is the line.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

__all__ = ["OutageLog"]

log = structlog.get_logger("runtime.store")


class OutageLog:
    """Outages of one store, said once each (``store.unreachable`` / ``store.back``).

    Args:
        path: the store, as shown (a redacted URL).
        clock: monotonic seconds (durations only).
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._since: float | None = None
        #: Outages since the store was opened (each counted when it starts).
        self.outages = 0
        #: Calls that failed because the store was unreachable or late.
        self.failed_calls = 0
        self._failed_now = 0

    @property
    def unreachable(self) -> bool:
        """True from a failed call until the next call that goes through."""
        return self._since is not None

    def failed(self, error: str) -> None:
        """A call met the store unreachable (or past its deadline)."""
        self.failed_calls += 1
        self._failed_now += 1
        if self._since is None:
            self._since = self._clock()
            self.outages += 1
            log.error("store.unreachable", store=self.path, error=error,
                      detail="calls wait and retry; said again when it answers")

    def ok(self) -> None:
        """A call went through."""
        if self._since is None:
            return
        down = self._clock() - self._since
        log.info("store.back", store=self.path, down_s=round(down, 1),
                 failed_calls=self._failed_now)
        self._since = None
        self._failed_now = 0
