"""The discord.py client: gateway events in (synchronously, to ``deliver``), messages out.

Events are handled inside ``dispatch``, which discord.py calls from the shard's websocket
reader right after parsing a payload. The handler converts and calls ``deliver(event)`` and
returns: no task per event, no await, nothing stored. (discord.py would otherwise schedule one
task per ``on_*`` coroutine per event; at tens of thousands of events a second that hop is the
whole cost. See DESIGN.md, "What costs what".)

Readiness (DESIGN.md, "A guild acts only while it is really there"): GuildReady when a guild's
GUILD_CREATE arrives on the current connection (or at its first event, when discord.py still
holds the shard's guild stream, or when the guild got its channel later: ``/miku channel``,
a reload), with whether she can speak in its channel; GuildUnavailable on an outage and, when
a shard starts a new session (READY, not RESUMED), for that shard's guilds until their
GUILD_CREATE; ChannelAccess when a role, channel, thread or member update, or the end of her
timeout, changes what she may do there (kept in ``tracking.Access``); GuildRemoved when she
is removed.

discord.py's message cache is off (``max_messages=None``): the library would otherwise keep the
last thousand messages, content included, in memory. Context for the pool is fetched from
Discord's history when asked and dropped after the prompt.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import discord
import structlog

from actors.events import ChannelAccess, MemberLeft
from runtime.gateway import convert
from runtime.gateway.convert import ChannelOf, RecentIds
from runtime.gateway.members import Chunker, UncachedPresences
from runtime.gateway.outbound import _NETWORK_ERRORS, Outbound
from runtime.gateway.reactions import RoomSignals
from runtime.gateway.stats import GatewayStatistics, ShardState, ShardStatistics
from runtime.gateway.tracking import Access
from runtime.pool.models import ExcludeFn

__all__ = ["PersonaClient", "persona_intents"]

log = structlog.get_logger("runtime.gateway")


def persona_intents(*, presences: bool = True, members: bool = True) -> discord.Intents:
    """Guilds and guild messages for the signals (deletions too), guild message reactions
    for the room's tone; presences (who is online, games started)
    and members (joins, complete member lists) when the bot has those privileged intents;
    message content always, because history fetched for the pool's context would come back
    empty without it."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.members = members
    intents.presences = presences
    intents.guild_reactions = True  # the room's tone (runtime/gateway/reactions.py)
    intents.message_content = True
    return intents


def _loop_call_later(delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle | None:
    """``fn`` after ``delay`` on the running loop (handlers always run on it; a payload
    parsed outside any loop, in a test, schedules nothing)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.call_later(delay, fn)


class PersonaClient(RoomSignals, Outbound, discord.AutoShardedClient):
    """The persona's gateway client.

    Args:
        deliver: the router's synchronous ``deliver(event)``; called from the gateway reader.
        channel_of: ``guild_id -> autonomous channel id | None``; a guild with None is not
            reported at all.
        clock: epoch seconds for the events' ``at`` (the receipt time, so it agrees with the
            actors' clock rather than with Discord's) and for send deadlines.
        shard_ids, shard_count: the shards this process owns (None: all, as Discord says).
        chunk_guilds_at_startup: discord.py's own start-up chunking of *every* guild (all
            members of every guild in memory). Off by default: guilds with an autonomous
            channel are chunked anyway, once ready, when ``members`` is on.
        presences: ask for the Presence intent (who is online, games started).
        members: ask for the Server Members intent (joins, complete member lists).
        call_later: ``(delay_s, fn)`` runs ``fn`` later on the client's loop (default: the
            running loop's ``call_later``); how the end of her timeout is checked.
        exclude: ``(guild_id, user_id) -> bool``, the members left out of prompts (opted
            out, ignored: ``Settings.excluded``); their names in others' mentions are
            "@someone" in the context. None: nobody.
        **options: passed to ``discord.AutoShardedClient`` (e.g. ``guild_ready_timeout``,
            ``max_ratelimit_timeout``: 60 s here, a longer 429 wait fails the send at once).
    """

    def __init__(self, *, deliver: Callable[[Any], object], channel_of: ChannelOf,
                 clock: Callable[[], float] = time.time,
                 shard_ids: Iterable[int] | None = None, shard_count: int | None = None,
                 chunk_guilds_at_startup: bool = False, presences: bool = True,
                 members: bool = True,
                 call_later: Callable[[float, Callable[[], None]], Any] | None = None,
                 exclude: ExcludeFn | None = None, **options: Any) -> None:
        options.setdefault("max_messages", None)
        options.setdefault("max_ratelimit_timeout", 60.0)
        # Raw presences are how a member discord.py has not cached still counts (members.py).
        options.setdefault("enable_raw_presences", presences)
        super().__init__(
            intents=persona_intents(presences=presences, members=members),
            shard_ids=None if shard_ids is None else list(shard_ids),  # type: ignore[arg-type]
            shard_count=shard_count,
            chunk_guilds_at_startup=chunk_guilds_at_startup,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self._deliver = deliver
        self._channel_of = channel_of
        self._clock = clock
        self._exclude = exclude
        #: Her recent messages (sent here, or seen on the gateway): a reply to one addresses
        #: her even when Discord leaves the referenced message out.
        self._own = RecentIds()
        #: (guild id, user id) of members who left lately: no greeting goes out to them.
        self._left = RecentIds()
        self._call_later = call_later or _loop_call_later
        #: Guilds with a channel, ready on this connection: her access there.
        self._access = Access(clock=clock, call_later=self._call_later,
                              look_again=lambda gid: self._recheck(self.get_guild(gid)))
        self._lookups: set[asyncio.Task[None]] = set()
        self._delivered = 0
        self._ignored = 0
        self._handler_errors = 0
        self._sent = 0
        self._send_rejected = 0
        self._deadline_passed = 0
        self._presences_uncached = 0
        self._shard_state: dict[int, tuple[ShardState, str, float | None]] = {}
        self._sessions: set[int] = set()
        self._uncached = UncachedPresences()
        # Once a guild is chunked its members are cached: what was remembered of them here
        # is discord.py's to track from then on.
        self._chunker = Chunker(self, presences=presences, call_later=self._call_later,
                                on_chunked=self._uncached.forget_guild) if members else None
        # discord.py 2.7 has no parser for RATE_LIMITED (it logs the event as unknown); the
        # websocket looks parsers up in this dict, so the chunker hears of it.
        self._connection.parsers["RATE_LIMITED"] = self._on_rate_limited
        self._event_handlers: dict[str, Callable[..., Any]] = {
            "message": self._on_message,
            "presence_update": self._on_presence,
            "raw_presence_update": self._on_raw_presence,
            "member_join": self._on_member_join,
            "raw_member_remove": self._on_member_remove,
            "guild_available": self._on_guild_available,
            "guild_join": self._on_guild_available,
            "guild_unavailable": self._on_guild_unavailable,
            "guild_remove": self._on_guild_remove,
            "guild_role_update": self._on_role_changed,
            "guild_role_create": self._on_role_changed,
            "guild_role_delete": self._on_role_changed,
            "guild_channel_update": self._on_channel_changed,
            "guild_channel_create": self._on_channel_changed,
            "guild_channel_delete": self._on_channel_changed,
            "thread_update": self._on_thread_update,
            "thread_join": self._on_thread_join,
            "thread_delete": self._on_channel_changed,
            "raw_thread_delete": self._on_raw_thread_delete,
            "member_update": self._on_member_update,
            "shard_connect": self._on_shard_connect,
            "shard_ready": self._on_shard_ready,
            "shard_disconnect": self._on_shard_disconnect,
            "shard_resumed": self._on_shard_resumed,
            **self._room_handlers(),  # reactions, deletions, timeouts: the room's tone
        }
        self._say_what_is_off(presences=presences, members=members)

    @staticmethod
    def _say_what_is_off(*, presences: bool, members: bool) -> None:
        if not presences:
            log.warning("gateway.intent_off", intent="presences",
                        off="who is online at ready, greeting someone who starts a game")
        if not members:
            log.warning("gateway.intent_off", intent="members",
                        off="greeting members who join, complete member lists of large guilds")

    # --- events in ----------------------------------------------------------------------

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        handler = self._event_handlers.get(event)
        if handler is not None:
            try:
                handler(*args)
            except Exception:
                # A bug here must not kill the shard's reader; the event is lost, visibly.
                self._handler_errors += 1
                log.exception("gateway.handler_failed", discord_event=event)
        super().dispatch(event, *args, **kwargs)

    def _emit(self, event: Any) -> None:
        if event is None:
            self._ignored += 1
            return
        self._delivered += 1
        self._deliver(event)

    def _self_id(self) -> int | None:
        user = self._connection.user
        return None if user is None else user.id

    def _on_message(self, message: discord.Message) -> None:
        self._track(message.guild)
        self_id = self._self_id()
        if message.author.id == self_id:
            self._own.add(message.id)
        self._emit(convert.message_event(message, channel_of=self._channel_of,
                                         self_id=self_id, now=self._clock(), own=self._own))

    def _on_presence(self, before: discord.Member, after: discord.Member) -> None:
        self._track(after.guild)
        self._emit(convert.presence_event(before, after, channel_of=self._channel_of,
                                          now=self._clock()))

    def _on_raw_presence(self, raw: discord.RawPresenceUpdateEvent) -> None:
        # A cached member's update comes again as presence_update; only the others count here.
        guild = raw.guild
        if guild is None or self._channel_of(guild.id) is None:
            return
        if guild.get_member(raw.user_id) is not None:
            return
        self._track(guild)
        self._presences_uncached += 1
        self._emit(self._uncached.event(raw, now=self._clock(), is_bot=self._is_bot))

    def _is_bot(self, user_id: int) -> bool:
        user = self.get_user(user_id)
        return bool(user is not None and user.bot)

    def _on_member_remove(self, raw: discord.RawMemberRemoveEvent) -> None:
        # Raw: discord.py sends member_remove only for a member it had cached.
        self._left.add((raw.guild_id, raw.user.id))
        if not raw.user.bot and self._channel_of(raw.guild_id) is not None:
            self._emit(MemberLeft(raw.guild_id, raw.user.id, self._clock()))

    def _on_member_join(self, member: discord.Member) -> None:
        self._left.discard((member.guild.id, member.id))
        self._track(member.guild)
        if member.pending:
            # Membership Screening: they cannot speak yet; the join counts when they pass.
            self._ignored += 1
            return
        self._emit(convert.member_join_event(member, channel_of=self._channel_of,
                                             now=self._clock()))

    def _on_guild_available(self, guild: discord.Guild) -> None:
        # During a shard's first guild stream discord.py holds guild_available until the
        # stream ends; a guild with an event before that was reported then (``_track``).
        if guild.id not in self._access:
            self._on_guild_ready(guild)

    def _on_guild_ready(self, guild: discord.Guild) -> None:
        channel_id = self._channel_of(guild.id)
        if channel_id is None:
            self._ignored += 1
            return
        can_speak, missing = self._access.start(guild, channel_id)
        event = convert.guild_ready_event(guild, channel_of=self._channel_of, now=self._clock(),
                                          can_speak=can_speak, missing=missing,
                                          can_react=self._access.can_react(guild.id))
        log.info("gateway.guild_ready", guild_id=guild.id, shard_id=guild.shard_id,
                 online=len(event.online_user_ids) if event else 0, large=guild.large)
        if not can_speak:
            log.warning("gateway.cannot_speak", guild_id=guild.id, guild=guild.name,
                        channel_id=channel_id, missing=missing)
        self._emit(event)
        if self._chunker is not None:
            self._chunker.want(guild)
        if not self._access.knows_channel(guild, channel_id):
            # Not in GUILD_CREATE: deleted, hidden, or an archived thread. Ask once.
            guild_id = guild.id
            self._call_later(0.0, lambda: self._look_up(guild_id, channel_id))

    def _on_guild_unavailable(self, guild: discord.Guild) -> None:
        self._not_ready(guild.id)
        log.info("gateway.guild_unavailable", guild_id=guild.id, shard_id=guild.shard_id)

    def _not_ready(self, guild_id: int) -> None:
        self._access.forget(guild_id)
        if self._chunker is not None:
            self._chunker.forget(guild_id)
        self._emit(convert.guild_unavailable_event(guild_id, channel_of=self._channel_of,
                                                   now=self._clock()))

    def _on_guild_remove(self, guild: discord.Guild) -> None:
        self._access.forget(guild.id)
        self._uncached.forget_guild(guild.id)
        if self._chunker is not None:
            self._chunker.forget(guild.id)
        event = convert.guild_removed_event(guild, channel_of=self._channel_of,
                                            now=self._clock())
        if event is not None:
            log.info("gateway.guild_removed", guild_id=guild.id, shard_id=guild.shard_id)
        self._emit(event)

    def _on_rate_limited(self, data: dict[str, Any]) -> None:
        """Discord refused a gateway command (so far only opcode 8, REQUEST_GUILD_MEMBERS)."""
        meta = data.get("meta") or {}
        if data.get("opcode") != 8 or "guild_id" not in meta:
            log.warning("gateway.rate_limited", opcode=data.get("opcode"))
            return
        # discord.py's pending request would otherwise wait out its 30 s for nothing.
        nonce = meta.get("nonce")
        if nonce is not None:
            self._connection._chunk_requests.pop(nonce, None)
        if self._chunker is not None:
            self._chunker.rate_limited(int(meta["guild_id"]),
                                       float(data.get("retry_after") or 30.0))

    # --- permissions after ready ---------------------------------------------------------

    def channel_changed(self, guild_id: int) -> None:
        """The guild's autonomous channel was set, changed or cleared (``/miku channel``, a
        reload): a guild that had none when it became ready is ready now (GuildReady, its
        member list asked for), one that has none any more is forgotten, and a changed
        channel's access is checked (ChannelAccess when it differs)."""
        self._recheck(self.get_guild(guild_id))

    def _track(self, guild: discord.Guild | None) -> None:
        """Ready a guild that has a channel now but had none when its GUILD_CREATE came (a
        reload gave it one): its next event is not dropped as "not ready"."""
        if (guild is not None and guild.id not in self._access and not guild.unavailable
                and self._channel_of(guild.id) is not None):
            self._on_guild_ready(guild)

    def _recheck(self, guild: discord.Guild | None) -> None:
        """Her access to the guild's channel again; ChannelAccess when it changed."""
        if guild is None or guild.unavailable:
            return
        channel_id = self._channel_of(guild.id)
        if channel_id is None:
            if self._access.forget(guild.id) and self._chunker is not None:
                self._chunker.forget(guild.id)
            return
        if guild.id not in self._access:
            self._track(guild)
            return
        access = self._access.changed(guild, channel_id)
        if access is None:
            return
        can_speak, missing = access
        if can_speak:
            log.info("gateway.can_speak", guild_id=guild.id, channel_id=channel_id,
                     can_react=self._access.can_react(guild.id))
        else:
            log.warning("gateway.cannot_speak", guild_id=guild.id, guild=guild.name,
                        channel_id=channel_id, missing=missing)
        self._emit(ChannelAccess(guild_id=guild.id, at=self._clock(), can_speak=can_speak,
                                 missing=missing, can_react=self._access.can_react(guild.id)))

    def _on_thread_update(self, before: discord.Thread, after: discord.Thread) -> None:
        self._access.thread_updated(after, self._channel_of(after.guild.id))
        self._recheck(after.guild)

    def _on_thread_join(self, thread: discord.Thread) -> None:
        self._access.thread_back(thread.id)
        self._recheck(thread.guild)

    def _on_raw_thread_delete(self, raw: discord.RawThreadDeleteEvent) -> None:
        if self._access.thread_gone(raw.thread_id):
            self._recheck(self.get_guild(raw.guild_id))

    def _look_up(self, guild_id: int, channel_id: int) -> None:
        task = asyncio.get_running_loop().create_task(
            self._look_up_archived(guild_id, channel_id), name="gateway-channel-lookup")
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _look_up_archived(self, guild_id: int, channel_id: int) -> None:
        """One Get Channel for an autonomous channel missing from GUILD_CREATE: an archived
        thread under the guild is remembered and her access checked again."""
        try:
            channel = await self.fetch_channel(channel_id)
        except (discord.HTTPException, discord.RateLimited, *_NETWORK_ERRORS) as exc:
            log.debug("gateway.channel_lookup_failed", guild_id=guild_id, channel_id=channel_id,
                      status=getattr(exc, "status", None), error=type(exc).__name__)
            return
        if (isinstance(channel, discord.Thread) and channel.archived
                and channel.guild.id == guild_id and self._channel_of(guild_id) == channel_id):
            self._access.thread_updated(channel, channel_id)
            self._recheck(self.get_guild(guild_id))

    def _on_role_changed(self, role: discord.Role, *after: discord.Role) -> None:
        self._recheck(role.guild)

    def _on_channel_changed(self, channel: Any, *after: Any) -> None:
        self._recheck(getattr(channel, "guild", None))

    def _on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        if after.id == self._self_id():
            self._recheck(after.guild)
        elif before.pending and not after.pending:
            self._emit(convert.member_join_event(after, channel_of=self._channel_of,
                                                 now=self._clock()))

    # --- shards -------------------------------------------------------------------------

    def _set_shard(self, shard_id: int, state: ShardState, event: str) -> None:
        self._shard_state[shard_id] = (state, event, self._clock())

    def _on_shard_connect(self, shard_id: int) -> None:
        # READY: a new session. Every guild of the shard is unavailable until its
        # GUILD_CREATE on this session (events missed in between are gone for good). On the
        # shard's first session nothing was ready yet, so there is nothing to take back.
        self._set_shard(shard_id, "connected", "connect")
        if shard_id in self._sessions:
            stale = [g.id for g in self.guilds if g.shard_id == shard_id
                     and self._channel_of(g.id) is not None]
            log.info("gateway.new_session", shard_id=shard_id, guilds=len(stale))
            for guild_id in stale:
                self._not_ready(guild_id)
        self._sessions.add(shard_id)

    def _on_shard_ready(self, shard_id: int) -> None:
        self._set_shard(shard_id, "ready", "ready")
        log.info("gateway.shard_ready", shard_id=shard_id,
                 guilds=sum(1 for g in self.guilds if g.shard_id == shard_id))

    def _on_shard_disconnect(self, shard_id: int) -> None:
        self._set_shard(shard_id, "disconnected", "disconnect")
        log.warning("gateway.shard_disconnected", shard_id=shard_id)

    def _on_shard_resumed(self, shard_id: int) -> None:
        # RESUMED replays what was missed: the guilds stay ready.
        self._set_shard(shard_id, "ready", "resumed")
        log.info("gateway.shard_resumed", shard_id=shard_id)

    def _shard_statistics(self) -> tuple[ShardStatistics, ...]:
        out = []
        for shard_id in sorted(set(self.shard_ids or ()) | set(self._shard_state)):
            state, event, at = self._shard_state.get(shard_id, ("connecting", "", None))
            info = self.get_shard(shard_id)
            latency = info.latency if info is not None else math.nan
            out.append(ShardStatistics(
                shard_id=shard_id, state=state, last_event=event, last_event_at=at,
                latency_s=latency if math.isfinite(latency) else None))
        return tuple(out)

    def statistics(self) -> GatewayStatistics:
        """The gateway's counters and each shard's state (for ``stats`` and metrics)."""
        return GatewayStatistics(
            delivered=self._delivered, ignored=self._ignored,
            handler_errors=self._handler_errors, sent=self._sent,
            send_rejected=self._send_rejected, deadline_passed=self._deadline_passed,
            guilds_ready=self._access.ready,
            guilds_silent=self._access.silent,
            presences_uncached=self._presences_uncached, reacted=self._reacted,
            pauses=self._access.pauses.begun, sends_paused=self._access.pauses.held,
            channels_paused=self._access.pauses.channels,
            chunks=self._chunker.statistics() if self._chunker is not None else None,
            shards=self._shard_statistics(),
        )

    async def members_complete(self) -> None:
        """Wait until every member-list request queued so far is answered (or given up on):
        for tests and tools; the runtime never waits for it."""
        if self._chunker is not None:
            await self._chunker.join()

    async def login(self, token: str) -> None:
        """discord.py's login; a failed attempt closes the HTTP session it opened (discord.py
        opens one per attempt, so each retry of a failed start leaked one)."""
        try:
            await super().login(token)
        except BaseException:
            await self.http.close()
            self.http.connector = discord.utils.MISSING  # closed with the session
            raise

    async def close(self) -> None:
        if self._chunker is not None:
            self._chunker.cancel()
        for task in list(self._lookups):
            task.cancel()
        await super().close()
