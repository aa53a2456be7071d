"""What the router admits, and what it remembers of each guild between its actor's lives.

- Ids: every id entering from outside must be ``0 < id < 2**63`` (SQLite's and PostgreSQL's
  signed 64-bit integer). One outside that range would pass through the actor and break the
  guild's next snapshot, or the whole batch it is written in; the router refuses it first.
- Shards: a process runs only the guilds of its own shards,
  ``(guild_id >> 22) % shard_count in shard_ids`` (Discord's own sharding).
- Readiness: a guild decides only while it is ready in this process (its ``GuildReady`` seen
  on the current connection, no ``GuildUnavailable`` since). Kept here, per process and never
  snapshotted, so a passivated guild woken later knows it is still ready.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import anyio
import structlog

from actors.actor import READY, SILENT, WAITING, Readiness
from actors.events import (
    ActionFinished,
    ChannelAccess,
    GuildReady,
    GuildRemoved,
    GuildUnavailable,
    MemberJoined,
    MemberLeft,
    MemberOptedOut,
    MemberTimedOut,
    MessagesCoalesced,
    MessagesDeleted,
    MessageSeen,
    PresenceChanged,
    ReactionChanged,
)

__all__ = [
    "ID_LIMIT",
    "REMOVED_KEPT_S",
    "ReadyGuilds",
    "bad_id",
    "id_ok",
    "purge_removed_daily",
    "refuse_bad_id",
    "refuse_foreign",
    "shard_filter",
]

log = structlog.get_logger("runtime.supervisor")

#: Removed guilds' rows are dropped this long after their removal.
REMOVED_KEPT_S = 30 * 86400.0
_PURGE_EVERY_S = 86400.0
_LOGGED_MAX = 4096  # other shards' guilds logged once each, up to this many

#: Ids must be below this (and above 0).
ID_LIMIT = 1 << 63

#: The id fields of each event type (every event has a ``guild_id``).
_ID_FIELDS: dict[type, tuple[str, ...]] = {
    MessageSeen: ("guild_id", "channel_id", "author_id", "message_id"),
    PresenceChanged: ("guild_id", "user_id"),
    MemberJoined: ("guild_id", "user_id"),
    MemberLeft: ("guild_id", "user_id"),
    MemberOptedOut: ("guild_id", "user_id"),
    MessagesCoalesced: ("guild_id",),
    ActionFinished: ("guild_id",),
    MessagesDeleted: ("guild_id", "channel_id"),
    ReactionChanged: ("guild_id", "channel_id", "user_id", "message_id"),
    MemberTimedOut: ("guild_id", "user_id"),
}
#: Fields where 0 means "none" (a message seen without its id).
_ZERO_MEANS_NONE = frozenset({"message_id"})
#: Fields holding many ids.
_ID_LISTS: dict[type, str] = {GuildReady: "online_user_ids",
                               MessagesDeleted: "message_ids"}


def id_ok(value: object) -> bool:
    """True for an int id in ``0 < id < 2**63`` (a bool is not an id)."""
    return type(value) is int and 0 < value < ID_LIMIT


def bad_id(event: Any) -> str | None:
    """The first id of ``event`` out of range, as ``"field=value"``; None when all are fine."""
    kind = type(event)
    if kind is MessageSeen:  # the common case, checked in one expression
        try:
            if (0 < event.guild_id < ID_LIMIT and 0 < event.channel_id < ID_LIMIT
                    and 0 < event.author_id < ID_LIMIT and 0 <= event.message_id < ID_LIMIT
                    and type(event.guild_id) is int and type(event.channel_id) is int
                    and type(event.author_id) is int and type(event.message_id) is int):
                return None
        except TypeError:
            pass
    for name in _ID_FIELDS.get(kind, ("guild_id",)):
        value = getattr(event, name, None)
        if name in _ZERO_MEANS_NONE and value == 0:
            continue
        if not id_ok(value):
            return f"{name}={value!r}"
    many = _ID_LISTS.get(kind)
    if many is not None:
        for i, value in enumerate(getattr(event, many)):
            if not id_ok(value):
                return f"{many}[{i}]={value!r}"
    return None


def shard_filter(shard_ids: Iterable[int] | None,
                 shard_count: int | None) -> Callable[[int], bool] | None:
    """``guild_id -> owned?`` for this process's shards; None when it owns them all.

    Raises:
        ValueError: ``shard_ids`` without a ``shard_count``, or a shard id not below it.
    """
    if shard_ids is None or shard_count is None:
        if shard_ids is not None:
            raise ValueError("shard_ids needs shard_count")
        return None
    owned = frozenset(shard_ids)
    if not owned or any(not 0 <= s < shard_count for s in owned):
        raise ValueError(f"shard_ids {sorted(owned)}: expected ids in 0..{shard_count - 1}")
    if len(owned) == shard_count:
        return None

    def owns(guild_id: int) -> bool:
        return (guild_id >> 22) % shard_count in owned

    return owns


class ReadyGuilds:
    """Each guild's readiness in this process, and the guilds removed since it started.

    Bounded by the guilds this process owns (the router refuses the others first).
    """

    __slots__ = ("ready", "removed", "silent")

    def __init__(self) -> None:
        self.ready: set[int] = set()
        self.silent: set[int] = set()  # ready, but she may not speak there
        self.removed: set[int] = set()

    def readiness(self, guild_id: int) -> Readiness:
        """What an actor starting now must know."""
        if guild_id not in self.ready:
            return WAITING
        return SILENT if guild_id in self.silent else READY

    def note(self, event: Any) -> bool:
        """Record a readiness event. Returns True when the guild's actor must see it even if
        it is not live (it may act now, or its online list changed); False when it changes
        nothing but this record (an outage, or a lost permission, of a sleeping guild)."""
        gid = event.guild_id
        kind = type(event)
        if kind is GuildReady:
            self.removed.discard(gid)  # invited again
            self.ready.add(gid)
            if event.can_speak:
                self.silent.discard(gid)
            else:
                self.silent.add(gid)
            return True
        if kind is GuildUnavailable:
            self.ready.discard(gid)
            self.silent.discard(gid)
            return False
        if kind is ChannelAccess:
            if event.can_speak:
                self.silent.discard(gid)
                return gid in self.ready
            self.silent.add(gid)
            return False
        if kind is GuildRemoved:
            self.ready.discard(gid)
            self.silent.discard(gid)
            self.removed.add(gid)
            return False
        raise TypeError(f"not a readiness event: {kind.__name__}")


#: The events ``ReadyGuilds.note`` takes.
READINESS_EVENTS = frozenset({GuildReady, GuildUnavailable, ChannelAccess, GuildRemoved})


# --- refusals, counted and logged sparingly ----------------------------------------------

def refuse_bad_id(stats: dict[str, Any], event: Any, problem: str) -> bool:
    """Count an event refused for an id out of range; log the first 100, then every 1000th
    (a flood of them must not flood the log too). Returns False (refused)."""
    n = stats["refused_bad_id"] = stats["refused_bad_id"] + 1
    if n <= 100 or n % 1000 == 0:
        log.warning("event_refused", reason="id out of range (expected 0 < id < 2**63)",
                    event_type=type(event).__name__, field=problem, refused=n)
    return False


def refuse_foreign(stats: dict[str, Any], logged: set[int], gid: int, kind: type) -> bool:
    """Count an event of another process's shard; log each such guild once (up to 4,096).
    Returns False (refused)."""
    stats["refused_other_shard"] += 1
    if gid not in logged and len(logged) < _LOGGED_MAX:
        logged.add(gid)
        log.debug("event_refused", reason="guild of another shard", guild_id=gid,
                  event_type=kind.__name__)
    return False


class _Purges(Protocol):
    async def purge_removed(self, before: float) -> int: ...


async def purge_removed_daily(store: _Purges, now: Callable[[], float]) -> None:
    """Drop removed guilds' rows 30 days after their removal: at once, then daily, until
    cancelled. A failure is logged and tried again the next day."""
    while True:
        try:
            purged = await store.purge_removed(now() - REMOVED_KEPT_S)
            if purged:
                log.info("removed_guilds_purged", count=purged)
        except Exception as exc:
            log.error("purge_removed_failed", error=repr(exc))
        await anyio.sleep(_PURGE_EVERY_S)
