"""The pool's queue: two priorities, round-robin between guilds within each.

A reply (priority 0) always goes before an autonomous action (priority 1). Within a priority
each guild has its own lane and lanes take turns, so a guild with many queued replies gets one
served per round and cannot starve the others.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Protocol, TypeVar

__all__ = ["FairQueue"]


class _Queued(Protocol):
    @property
    def guild_id(self) -> int: ...

    @property
    def priority(self) -> int: ...


T = TypeVar("T", bound=_Queued)


class FairQueue(Generic[T]):
    """Jobs by priority, then by guild in turn, then first come first served."""

    __slots__ = ("_lanes", "depth")

    def __init__(self) -> None:
        # One dict per priority: guild -> its jobs. Dicts keep insertion order, so the guild
        # at the front is the next to be served; after a turn it goes to the back.
        self._lanes: tuple[dict[int, deque[T]], dict[int, deque[T]]] = ({}, {})
        self.depth = 0

    def __len__(self) -> int:
        return self.depth

    def push(self, job: T) -> None:
        """Queue ``job`` at the back of its guild's lane."""
        lanes = self._lanes[0 if job.priority <= 0 else 1]
        lane = lanes.get(job.guild_id)
        if lane is None:
            lanes[job.guild_id] = lane = deque()
        lane.append(job)
        self.depth += 1

    def pop(self) -> T | None:
        """The next job, or None when empty."""
        for lanes in self._lanes:
            if lanes:
                guild = next(iter(lanes))
                lane = lanes.pop(guild)
                job = lane.popleft()
                if lane:
                    lanes[guild] = lane
                self.depth -= 1
                return job
        return None

    def remove(self, job: T) -> None:
        """Take a queued ``job`` out (it went stale, or the pool shuts down).

        Raises:
            ValueError: ``job`` is not queued.
        """
        lanes = self._lanes[0 if job.priority <= 0 else 1]
        lane = lanes.get(job.guild_id)
        if lane is None:
            raise ValueError("job is not queued")
        lane.remove(job)
        if not lane:
            del lanes[job.guild_id]
        self.depth -= 1
