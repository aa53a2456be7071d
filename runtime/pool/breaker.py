"""A circuit breaker for the content server: closed, open, half-open.

Pure bookkeeping: every method takes ``now`` (loop seconds), so it is tested with plain
numbers. While open, requests fail fast instead of waiting on a dead server; after
``reset_after`` one request at a time is let through as a probe (half-open), and the first
probe that succeeds closes the breaker again.
"""

from __future__ import annotations

import enum

from runtime.pool.models import BreakerState

__all__ = ["CircuitBreaker", "Permit"]


class Permit(enum.Enum):
    """What ``CircuitBreaker.allow`` grants."""

    DENIED = 0
    GRANTED = 1
    #: The one probe of a half-open breaker: its outcome decides, and it must be returned
    #: (success, failure or ``release``) even when cancelled.
    PROBE = 2


class CircuitBreaker:
    """Opens after ``failure_threshold`` server faults in a row.

    Args:
        failure_threshold: consecutive server faults that open the breaker.
        reset_after: seconds the breaker stays open before it lets a probe through.
    """

    __slots__ = ("_failures", "_opened_at", "_probing", "failure_threshold", "opened",
                 "reset_after")

    def __init__(self, *, failure_threshold: int = 5, reset_after: float = 30.0) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if reset_after <= 0:
            raise ValueError(f"reset_after must be > 0, got {reset_after}")
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        #: How many times it opened (for statistics and tests).
        self.opened = 0

    def state(self, now: float) -> BreakerState:
        """``closed``, ``open`` or ``half_open`` at ``now``."""
        if self._opened_at is None:
            return "closed"
        if now - self._opened_at >= self.reset_after:
            return "half_open"
        return "open"

    def allow(self, now: float) -> Permit:
        """May an attempt go to the server now? A half-open breaker lets one probe at a time."""
        state = self.state(now)
        if state == "closed":
            return Permit.GRANTED
        if state == "half_open" and not self._probing:
            self._probing = True
            return Permit.PROBE
        return Permit.DENIED

    def success(self, permit: Permit) -> bool:
        """The server answered. Returns True if this closed an open breaker."""
        self._failures = 0
        if permit is Permit.PROBE:
            self._probing = False
        if self._opened_at is not None and permit is Permit.PROBE:
            self._opened_at = None
            return True
        return False

    def failure(self, permit: Permit, now: float) -> bool:
        """The server is at fault. Returns True if this opened the breaker."""
        if permit is Permit.PROBE:
            # The probe failed: stay open for another period.
            self._probing = False
            self._opened_at = now
            self.opened += 1
            return True
        self._failures += 1
        if self._opened_at is None and self._failures >= self.failure_threshold:
            self._opened_at = now
            self.opened += 1
            return True
        return False

    def release(self, permit: Permit) -> None:
        """The attempt ended without a verdict (cancelled, or a 429): free the probe slot."""
        if permit is Permit.PROBE:
            self._probing = False
