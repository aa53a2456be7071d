"""The discord.py client: gateway events in (synchronously, to ``deliver``), messages out.

Events are handled inside ``dispatch``, which discord.py calls from the shard's websocket
reader right after parsing a payload. The handler converts and calls ``deliver(event)`` and
returns: no task per event, no await, nothing stored. (discord.py would otherwise schedule one
task per ``on_*`` coroutine per event; at tens of thousands of events a second that hop is the
whole cost. See DESIGN.md, "What costs what".)

discord.py's message cache is off (``max_messages=None``): the library would otherwise keep the
last thousand messages, content included, in memory. Context for the pool is fetched from
Discord's history when asked and dropped after the prompt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import discord
import msgspec
import structlog

from actors.events import ActionRequest
from runtime.errors import SendRejected
from runtime.gateway import convert
from runtime.gateway.convert import ChannelOf
from runtime.pool.models import ContextLine

__all__ = ["MAX_MESSAGE_CHARS", "GatewayStatistics", "PersonaClient", "persona_intents"]

log = structlog.get_logger()

#: Discord refuses longer messages.
MAX_MESSAGE_CHARS = 2000
_MAX_HISTORY = 100


def persona_intents() -> discord.Intents:
    """Guilds, guild messages, members and presences for the signals; message content only
    because history fetched for the pool's context would come back empty without it."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.members = True
    intents.presences = True
    intents.message_content = True
    return intents


class GatewayStatistics(msgspec.Struct, frozen=True, gc=False):
    """Counters since start: events delivered and dropped, handler errors, sends."""

    delivered: int
    ignored: int
    handler_errors: int
    sent: int
    send_rejected: int


class PersonaClient(discord.AutoShardedClient):
    """The persona's gateway client.

    Args:
        deliver: the router's synchronous ``deliver(event)``; called from the gateway reader.
        channel_of: ``guild_id -> autonomous channel id | None``; a guild with None is not
            reported at all.
        clock: epoch seconds for the events' ``at`` (the receipt time, so it agrees with the
            actors' clock rather than with Discord's).
        shard_ids, shard_count: the shards this process owns (None: all, as Discord says).
        chunk_guilds_at_startup: request every member of every guild on connect.
        **options: passed to ``discord.AutoShardedClient`` (e.g. ``guild_ready_timeout``).
    """

    def __init__(self, *, deliver: Callable[[Any], None], channel_of: ChannelOf,
                 clock: Callable[[], float] = time.time,
                 shard_ids: Iterable[int] | None = None, shard_count: int | None = None,
                 chunk_guilds_at_startup: bool = False, **options: Any) -> None:
        options.setdefault("max_messages", None)
        super().__init__(
            intents=persona_intents(),
            shard_ids=None if shard_ids is None else list(shard_ids),  # type: ignore[arg-type]
            shard_count=shard_count,
            chunk_guilds_at_startup=chunk_guilds_at_startup,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self._deliver = deliver
        self._channel_of = channel_of
        self._clock = clock
        self._delivered = 0
        self._ignored = 0
        self._handler_errors = 0
        self._sent = 0
        self._send_rejected = 0
        self._handlers: dict[str, Callable[..., Any]] = {
            "message": self._on_message,
            "presence_update": self._on_presence,
            "member_join": self._on_member_join,
            "guild_available": self._on_guild_ready,
            "guild_join": self._on_guild_ready,
            "guild_remove": self._on_guild_remove,
            "shard_ready": self._on_shard_ready,
            "shard_disconnect": self._on_shard_disconnect,
            "shard_resumed": self._on_shard_resumed,
        }

    # --- events in ----------------------------------------------------------------------

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        handler = self._handlers.get(event)
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
        self._emit(convert.message_event(message, channel_of=self._channel_of,
                                         self_id=self._self_id(), now=self._clock()))

    def _on_presence(self, before: discord.Member, after: discord.Member) -> None:
        self._emit(convert.presence_event(before, after, channel_of=self._channel_of,
                                          now=self._clock()))

    def _on_member_join(self, member: discord.Member) -> None:
        self._emit(convert.member_join_event(member, channel_of=self._channel_of,
                                             now=self._clock()))

    def _on_guild_ready(self, guild: discord.Guild) -> None:
        event = convert.guild_ready_event(guild, channel_of=self._channel_of, now=self._clock())
        if event is not None:
            log.info("gateway.guild_ready", guild_id=guild.id, shard_id=guild.shard_id,
                     online=len(event.online_user_ids))
        self._emit(event)

    def _on_guild_remove(self, guild: discord.Guild) -> None:
        event = convert.guild_removed_event(guild, channel_of=self._channel_of,
                                            now=self._clock())
        if event is not None:
            log.info("gateway.guild_removed", guild_id=guild.id, shard_id=guild.shard_id)
        self._emit(event)

    def _on_shard_ready(self, shard_id: int) -> None:
        log.info("gateway.shard_ready", shard_id=shard_id,
                 guilds=sum(1 for g in self.guilds if g.shard_id == shard_id))

    def _on_shard_disconnect(self, shard_id: int) -> None:
        log.warning("gateway.shard_disconnected", shard_id=shard_id)

    def _on_shard_resumed(self, shard_id: int) -> None:
        log.info("gateway.shard_resumed", shard_id=shard_id)

    def statistics(self) -> GatewayStatistics:
        return GatewayStatistics(
            delivered=self._delivered, ignored=self._ignored,
            handler_errors=self._handler_errors, sent=self._sent,
            send_rejected=self._send_rejected,
        )

    # --- messages out -------------------------------------------------------------------

    def _channel(self, guild_id: int, channel_id: int) -> discord.PartialMessageable:
        expected = self._channel_of(guild_id)
        if expected is None or expected != channel_id:
            raise SendRejected("not the guild's autonomous channel")
        return self.get_partial_messageable(channel_id, guild_id=guild_id,
                                            type=discord.ChannelType.text)

    async def send(self, request: ActionRequest, text: str) -> None:
        """Send ``text`` to the request's guild's autonomous channel, mentions disabled,
        as a reply to ``request.reply_to_message_id`` when set (a plain message if that one
        is gone). discord.py waits out rate limits (429) itself.

        Raises:
            SendRejected: not the autonomous channel, empty text, Discord refused it
                (403 missing permission, 404 channel gone, other HTTP errors) or the network
                failed. Logged here with ids and status, never the text.
        """
        bound = log.bind(guild_id=request.guild_id, channel_id=request.channel_id,
                         request_id=request.request_id, action=request.action)
        try:
            channel = self._channel(request.guild_id, request.channel_id)
            text = text.strip()
            if not text:
                raise SendRejected("empty message")
            if len(text) > MAX_MESSAGE_CHARS:
                text = text[: MAX_MESSAGE_CHARS - 1] + "…"
            reference = None
            if request.reply_to_message_id:
                reference = discord.MessageReference(
                    message_id=request.reply_to_message_id, channel_id=request.channel_id,
                    guild_id=request.guild_id, fail_if_not_exists=False,
                )
            try:
                await channel.send(text, allowed_mentions=discord.AllowedMentions.none(),
                                   reference=reference)  # type: ignore[arg-type]
            except discord.Forbidden as exc:
                bound.warning("send.forbidden", status=exc.status, code=exc.code)
                raise SendRejected(f"forbidden (403, code {exc.code})", status=exc.status
                                   ) from None
            except discord.HTTPException as exc:
                bound.warning("send.http_error", status=exc.status, code=exc.code)
                raise SendRejected(f"http {exc.status}", status=exc.status) from None
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                bound.warning("send.network_error", error=type(exc).__name__)
                raise SendRejected(f"network error ({type(exc).__name__})") from None
        except SendRejected:
            self._send_rejected += 1
            raise
        self._sent += 1
        bound.debug("send.sent", reply=reference is not None, chars=len(text))

    async def display_name(self, guild_id: int, user_id: int) -> str | None:
        """A member's display name from the member cache (None when not cached): the pool's
        ``names`` for engage_user. No HTTP call: a name is not worth a request."""
        guild = self.get_guild(guild_id)
        member = guild.get_member(user_id) if guild is not None else None
        return None if member is None else member.display_name

    async def fetch_context(self, guild_id: int, channel_id: int,
                            limit: int) -> list[ContextLine]:
        """The last ``limit`` messages of the autonomous channel, oldest first, as transient
        ``ContextLine`` records (author display name, text with mentions resolved to names,
        whether it is hers). Empty when the channel is not the guild's autonomous channel or
        Discord refuses (logged); never stored, never logged.
        """
        try:
            channel = self._channel(guild_id, channel_id)
        except SendRejected:
            return []
        self_id = self._self_id()
        lines: list[ContextLine] = []
        try:
            async for m in channel.history(limit=max(1, min(limit, _MAX_HISTORY))):
                text = m.clean_content
                if text:
                    lines.append(ContextLine(author=m.author.display_name, text=text,
                                             is_self=m.author.id == self_id))
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning("context.unavailable", guild_id=guild_id, channel_id=channel_id,
                        status=getattr(exc, "status", None), error=type(exc).__name__)
            return []
        lines.reverse()
        return lines
