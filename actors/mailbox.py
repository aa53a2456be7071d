"""The bounded mailbox of one guild actor: a deque and a wake-up event.

Delivering never awaits and never blocks the caller (the gateway reader calls it). The actor
drains everything queued per wake-up, so a burst of frames costs one task switch, not one per
event (an anyio memory stream pays a wake-up per item: several times slower here).

When the mailbox is full nothing is lost silently:

- human messages are coalesced into one ``MessagesCoalesced`` per second, kept beside the
  queue, so the engine's per-second counts stay exact;
- bot messages, presence changes, joins and reactions are dropped and counted (``dropped``);
- everything else (the persona's own messages, mood changes, action results, control
  messages) is always queued, past the bound: each is rare, and losing one would be a bug.

``statistics()`` reports the depth, the high-water mark and every overflow.
"""

from __future__ import annotations

from typing import Any

import anyio
import msgspec

from actors.events import (
    MemberJoined,
    MessagesCoalesced,
    MessageSeen,
    PresenceChanged,
    ReactionChanged,
)

__all__ = ["Mailbox", "MailboxClosed", "MailboxStatistics"]


class MailboxClosed(RuntimeError):
    """The actor behind this mailbox has stopped; the event was not queued."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(f"mailbox of guild {guild_id} is closed")
        self.guild_id = guild_id


class MailboxStatistics(msgspec.Struct, frozen=True, gc=False):
    """A mailbox's counters at one moment."""

    depth: int
    capacity: int
    high_water: int
    delivered: int
    coalesced: int
    dropped: int
    overflowed: int


class Mailbox:
    """A bounded, never-blocking mailbox for one guild.

    Args:
        guild_id: the guild this mailbox belongs to (for errors).
        capacity: how many events may wait before overflow handling starts.
    """

    __slots__ = ("_q", "_spill", "_waiting", "_wake", "capacity", "closed", "coalesced",
                 "delivered", "dropped", "guild_id", "high_water", "overflowed")

    def __init__(self, guild_id: int, capacity: int = 1024) -> None:
        if capacity < 1:
            raise ValueError(f"mailbox capacity must be >= 1, got {capacity}")
        self.guild_id = guild_id
        self.capacity = capacity
        # A list, not a deque: drain takes everything at once, and an empty list costs a tenth
        # of an empty deque (idle actors are most actors).
        self._q: list[Any] = []
        # Per-second runs of human messages that arrived while full, oldest first.
        self._spill: list[MessagesCoalesced] | None = None  # made on the first overflow
        # The receiver parks on a semaphore kept for the mailbox's life: an Event can fire
        # only once, and a new one per wake-up left several objects per actor for the
        # collector to scan (the longest pauses at 100k actors came from them).
        self._wake: anyio.Semaphore | None = None
        self._waiting = False
        self.closed = False
        self.delivered = 0
        self.coalesced = 0
        self.dropped = 0
        self.overflowed = 0
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._q) + (len(self._spill) if self._spill else 0)

    def put_nowait(self, event: Any) -> None:
        """Queue ``event``; never blocks. Raises ``MailboxClosed`` after ``close()``."""
        if self.closed:
            raise MailboxClosed(self.guild_id)
        self.delivered += 1
        q = self._q
        if len(q) >= self.capacity and not self._must_queue(event):
            return
        q.append(event)
        n = len(q)
        if n > self.high_water:
            self.high_water = n
        if self._waiting:
            self._waiting = False
            self._wake.release()  # type: ignore[union-attr]

    def _must_queue(self, event: Any) -> bool:
        """Overflow handling; True if the event is queued past the bound anyway."""
        self.overflowed += 1
        kind = type(event)
        if kind is MessageSeen:
            if event.is_self:
                return True
            if event.author_is_bot:
                self.dropped += 1
                return False
            self._coalesce(event.at)
            return False
        if kind is PresenceChanged or kind is MemberJoined or kind is ReactionChanged:
            self.dropped += 1
            return False
        if kind is MessagesCoalesced:
            self._coalesce(event.last_at, event.count, event.first_at)
            return False
        return True

    def _coalesce(self, at: float, count: int = 1, first_at: float | None = None) -> None:
        self.coalesced += count
        spill = self._spill
        if spill is None:
            spill = self._spill = []
        sec = int(at)
        if spill and int(spill[-1].last_at) == sec:
            last = spill[-1]
            spill[-1] = MessagesCoalesced(last.guild_id, last.count + count, last.first_at,
                                          max(last.last_at, at))
        else:
            spill.append(MessagesCoalesced(self.guild_id, count,
                                           at if first_at is None else first_at, at))
        if self._waiting:
            self._waiting = False
            self._wake.release()  # type: ignore[union-attr]

    def drain(self) -> list[Any]:
        """Take everything queued (coalesced runs last); empty list if nothing waits."""
        q = self._q
        if not q and not self._spill:
            return []
        # A copy, and the queue list kept: the copy dies with the batch, where a new queue
        # list per wake-up would live on for the collector to scan.
        items = q[:]
        q.clear()
        if self._spill:
            items.extend(self._spill)
            self._spill = None
        return items

    def put_back(self, items: list[Any]) -> None:
        """Return undelivered items to the front of the queue, in order (after a crash the
        events behind the failing one must not be lost). Ignores the bound and ``closed``."""
        if items:
            self._q[:0] = items

    async def wait(self) -> None:
        """Wait until something is queued. Returns at once if something already is."""
        while not (self._q or self._spill):
            wake = self._wake
            if wake is None:
                wake = self._wake = anyio.Semaphore(0, fast_acquire=True)
            self._waiting = True
            try:
                await wake.acquire()
            finally:
                self._waiting = False

    def close(self) -> list[Any]:
        """Refuse further events and return what was still queued."""
        self.closed = True
        return self.drain()

    def statistics(self) -> MailboxStatistics:
        """The mailbox's counters now."""
        return MailboxStatistics(
            depth=len(self), capacity=self.capacity, high_water=self.high_water,
            delivered=self.delivered, coalesced=self.coalesced, dropped=self.dropped,
            overflowed=self.overflowed,
        )
