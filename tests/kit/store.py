"""The store tests' clock: epoch seconds that move only when a test says so."""

from __future__ import annotations

NOW = 1_800_000_000.0


class FakeClock:
    """Epoch seconds that move only when a test says so (lease expiry)."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
