"""Complete members and presences for the guilds she lives in, and only those.

Discord sends a guild's whole member list in GUILD_CREATE only while the guild has at most
``large_threshold`` members (discord.py asks for 250); past that, only the members who are
online (or have a role or a nickname). discord.py drops a PRESENCE_UPDATE for a member it has
not cached, so in every guild over 250 members someone who was offline at connect and comes
online later to play a game produced nothing at all.

Two parts, both only for guilds with an autonomous channel:

* ``Chunker`` asks Discord for the whole member list (REQUEST_GUILD_MEMBERS, opcode 8, with
  presences) of such a guild once it is ready, one guild at a time per client, through
  discord.py's own request path, so the gateway's command rate limiter (110 commands a minute
  per shard) paces the requests exactly as it paces discord.py's own start-up chunking. Guilds
  without a channel are never chunked: their members are not worth the memory.
* ``UncachedPresences`` turns a raw PRESENCE_UPDATE of a member discord.py has not cached
  (before the chunk arrives, or with the Server Members intent off, when no chunk can be asked
  for) into the same status/activity change, against a bounded memory of what it last saw of
  that member.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import discord
import msgspec
import structlog

from actors.events import PresenceChanged
from runtime.gateway.convert import activity_name, status_name

__all__ = ["Chunker", "ChunkerStatistics", "UncachedPresences"]

log = structlog.get_logger("runtime.gateway")

#: Members remembered by ``UncachedPresences`` (oldest forgotten first): about 150 bytes each.
UNCACHED_LIMIT = 20_000


class ChunkerStatistics(msgspec.Struct, frozen=True, gc=False):
    """Member-list requests since start: asked, answered in full, timed out or failed, and
    guilds waiting for their turn; refused by Discord's one-per-30-s limit (asked again
    after its ``retry_after``)."""

    requested: int
    completed: int
    timed_out: int
    failed: int
    queued: int
    rate_limited: int = 0


class Chunker:
    """Requests the whole member list of guilds, one at a time, in the order they were asked.

    Args:
        client: the discord.py client whose connection sends the requests.
        presences: ask for the members' presences too (needs the Presence intent).
        on_chunked: called with a guild's id once its whole member list is cached.
        call_later: ``(delay_s, fn)`` runs ``fn`` later: a rate-limited guild asked again.
    """

    def __init__(self, client: discord.Client, *, presences: bool,
                 on_chunked: Callable[[int], None] | None = None,
                 call_later: Callable[[float, Callable[[], None]], Any] | None = None
                 ) -> None:
        self._client = client
        self._presences = presences
        self._on_chunked = on_chunked
        self._call_later = call_later
        #: The guild whose request is waiting for its chunks, and that wait.
        self._current: tuple[int, asyncio.Task[Any]] | None = None
        self._limited: dict[int, float] = {}
        self._rate_limited = 0
        self._queue: OrderedDict[int, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._requested = 0
        self._completed = 0
        self._timed_out = 0
        self._failed = 0

    def want(self, guild: discord.Guild) -> None:
        """Queue ``guild`` for chunking unless every member is cached already (a small guild's
        GUILD_CREATE lists them all) or it is queued. Never awaits."""
        if guild.chunked or guild.id in self._queue:
            return
        self._queue[guild.id] = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="gateway-chunker")

    def forget(self, guild_id: int) -> None:
        """Drop a queued guild (removed, or unavailable again)."""
        self._queue.pop(guild_id, None)

    def cancel(self) -> None:
        """Stop the worker (client closing)."""
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()

    async def join(self) -> None:
        """Wait until every guild queued so far has been answered or given up on."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    def statistics(self) -> ChunkerStatistics:
        return ChunkerStatistics(requested=self._requested, completed=self._completed,
                                 timed_out=self._timed_out, failed=self._failed,
                                 queued=len(self._queue), rate_limited=self._rate_limited)

    def rate_limited(self, guild_id: int, retry_after: float) -> None:
        """Discord refused the guild's request (RATE_LIMITED, one all-members request per
        guild per 30 s; discord.py ignores the event and would wait 30 s for chunks that never
        come): stop waiting, and ask again once ``retry_after`` has passed."""
        self._rate_limited += 1
        log.warning("gateway.chunk_rate_limited", guild_id=guild_id,
                    retry_after_s=round(retry_after, 1))
        if self._current is not None and self._current[0] == guild_id:
            self._limited[guild_id] = retry_after
            self._current[1].cancel()
        else:
            self._again_after(guild_id, retry_after)

    def _again_after(self, guild_id: int, retry_after: float) -> None:
        if self._call_later is None:
            return

        def again() -> None:
            guild = self._client.get_guild(guild_id)
            if guild is not None and not guild.unavailable:
                self.want(guild)

        self._call_later(retry_after, again)

    async def _run(self) -> None:
        while self._queue:
            guild_id, _ = self._queue.popitem(last=False)
            guild = self._client.get_guild(guild_id)
            if guild is None or guild.unavailable or guild.chunked:
                continue
            self._requested += 1
            # ConnectionState.query_members is what Guild.query_members calls; it is used
            # here because Guild.chunk() cannot ask for presences, and without them a member
            # who came online before the chunk would be cached as offline. It waits up to
            # 30 s for the last chunk (chunks of 1,000 come back in well under a second
            # each); members already cached are kept as they are. In a task of its own, so
            # that a RATE_LIMITED answer can end the wait.
            wait = asyncio.get_running_loop().create_task(
                self._client._connection.query_members(
                    guild, query="", limit=0, user_ids=None, cache=True,
                    presences=self._presences), name="gateway-chunk-wait")
            self._current = (guild_id, wait)
            try:
                await asyncio.wait({wait})
            finally:
                self._current = None
            retry_after = self._limited.pop(guild_id, None)
            if retry_after is not None:
                self._again_after(guild_id, retry_after)
                continue
            try:
                wait.result()
            except TimeoutError:
                self._timed_out += 1
                log.warning("gateway.chunk_timeout", guild_id=guild_id,
                            members=guild.member_count, cached=len(guild.members))
            except (discord.ClientException, discord.ConnectionClosed, RuntimeError,
                    OSError) as exc:
                self._failed += 1
                log.warning("gateway.chunk_failed", guild_id=guild_id,
                            error=type(exc).__name__)
            else:
                self._completed += 1
                log.info("gateway.chunked", guild_id=guild_id, members=len(guild.members))
                if self._on_chunked is not None:
                    self._on_chunked(guild_id)


class UncachedPresences:
    """Status and activity changes of members discord.py has not cached, for the guilds that
    count (the caller filters), remembered per (guild, user), at most ``limit`` of them.

    A member first seen here is compared with "offline, doing nothing": coming online playing a
    game is both a status change and a new activity, which is what it is.
    """

    def __init__(self, limit: int = UNCACHED_LIMIT) -> None:
        self._limit = limit
        self._last: OrderedDict[tuple[int, int], tuple[str, frozenset[tuple[int, str]]]] = \
            OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def event(self, raw: discord.RawPresenceUpdateEvent, *, now: float,
              is_bot: Callable[[int], bool]) -> PresenceChanged | None:
        """The PresenceChanged this raw update means, or None (no change, a bot, no guild).

        Args:
            raw: discord.py's raw presence (``user`` may be partial: only the id is sure).
            now: the receipt time.
            is_bot: ``user_id -> bool`` from discord.py's user cache (False when unknown).
        """
        if raw.guild_id is None or is_bot(raw.user_id):
            return None
        key = (raw.guild_id, raw.user_id)
        status = status_name(str(raw.client_status.status))
        named = [(a.type.value, name) for a in raw.activities if (name := activity_name(a))]
        old_status, old_activities = self._last.pop(key, ("offline", frozenset()))
        self._last[key] = (status, frozenset(named))
        if len(self._last) > self._limit:
            self._last.popitem(last=False)
        activity = next((name for kind, name in named if (kind, name) not in old_activities),
                        None)
        if activity is None and status == old_status:
            return None
        return PresenceChanged(guild_id=raw.guild_id, user_id=raw.user_id, at=now,
                               status=status, activity=activity)  # type: ignore[arg-type]

    def forget_guild(self, guild_id: int) -> None:
        """Drop what is remembered of a guild (removed, or chunked: its members are cached)."""
        for key in [k for k in self._last if k[0] == guild_id]:
            del self._last[key]
