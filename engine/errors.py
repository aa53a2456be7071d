"""The engine's exceptions.

    ValueError
    ├── UnknownMoodError      a mood name that is not one of the 14
    ├── InvalidTimeError      a time that is negative, NaN or infinite
    ├── UnknownTimezoneError  a time zone name the tz database does not know
    └── SnapshotError         state bytes that cannot be restored
        └── SnapshotVersionError  state written by another schema version
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "InvalidTimeError",
    "SnapshotError",
    "SnapshotVersionError",
    "UnknownMoodError",
    "UnknownTimezoneError",
]


class UnknownMoodError(ValueError):
    """A mood name that is not one of the fourteen; the message lists them."""

    def __init__(self, mood: object, valid: Iterable[str]) -> None:
        self.mood = mood
        self.valid = tuple(valid)
        super().__init__(f"unknown mood {mood!r}; valid moods: {', '.join(self.valid)}")


class InvalidTimeError(ValueError):
    """A time (epoch seconds) that is negative, NaN or infinite."""

    def __init__(self, what: str, value: object) -> None:
        self.value = value
        super().__init__(
            f"{what} must be a finite, non-negative number of epoch seconds, got {value!r}"
        )


class UnknownTimezoneError(ValueError):
    """A time zone name the tz database does not know."""

    def __init__(self, name: object) -> None:
        self.name = name
        super().__init__(
            f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        )


class SnapshotError(ValueError):
    """Snapshot bytes that cannot be restored: corrupt, or not a usable guild state."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"cannot restore guild state: {detail}")


class SnapshotVersionError(SnapshotError):
    """A snapshot written by another schema version of the state."""

    def __init__(self, found: object, expected: int) -> None:
        self.found = found
        self.expected = expected
        super().__init__(
            f"snapshot schema version {found!r} is not supported (this build reads version "
            f"{expected})"
        )
