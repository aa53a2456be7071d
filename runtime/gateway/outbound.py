"""Messages out, context in: the pool's Discord edges (sender, context, typing, names).

Every call names a guild and a channel, and only the guild's autonomous channel or a thread
under it is accepted (a reply to someone who spoke to her in a thread goes to that thread).
Nothing read here is stored or logged: history is turned into transient ``ContextLine``s and
dropped after the prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import discord
import structlog

from actors.events import ActionRequest
from engine import REACT
from runtime.errors import SendRejected
from runtime.gateway.access import speakable_channel
from runtime.gateway.convert import ChannelOf, RecentIds
from runtime.gateway.react import Reactions
from runtime.gateway.tracking import Access
from runtime.pool.models import ContextLine, ExcludeFn

__all__ = ["GONE", "MAX_MESSAGE_CHARS", "TYPING_ACTIONS", "Outbound", "clean_text",
           "line_text", "plain"]

log = structlog.get_logger("runtime.gateway")

#: Discord refuses longer messages.
MAX_MESSAGE_CHARS = 2000
#: A mention in a message's content: user (``@``, ``@!``), role (``@&``) or channel (``#``).
_MENTION = re.compile(r"<(@[!&]?|#)([0-9]+)>")
#: Markup that changes a whole line: a heading (``#``-``###``) or subtext (``-#``) marker.
_LINE_MARKUP = re.compile(r"^(#{1,3} |-# )", re.MULTILINE)
#: A spoiler: its words stay hidden from her (she could repeat them in the open).
_SPOILER = re.compile(r"\|\|.+?\|\|", re.DOTALL)
#: Why a reply is dropped when the message it answers was deleted.
GONE = "the message she answers is gone"
_MAX_HISTORY = 100
#: Discord shows "typing…" for 10 s after a typing POST (Trigger Typing Indicator); renewed
#: a little before it runs out.
_TYPING_RENEW_S = 8.0
#: The actions someone waits for: only these show "typing…".
TYPING_ACTIONS = frozenset({"reply"})
_NETWORK_ERRORS = (TimeoutError, aiohttp.ClientError, OSError)


def plain(text: str) -> str:
    """Her words as she wrote them: Discord markdown that would change the whole message (a
    line starting as a heading, ``#`` to ``###``, or as subtext, ``-#``; a code fence) is
    escaped, so Discord shows the characters instead."""
    text = _LINE_MARKUP.sub(r"\\\1", text)
    return text.replace("```", "\\`\\`\\`")


def clean_text(m: discord.Message, exclude: ExcludeFn | None = None) -> str:
    """The message's words as the client shows them (``<@id>`` as ``@name``, roles, channels,
    ``@everyone`` defused), except that an excluded member (opted out, ignored) mentioned by
    someone else is ``@someone`` (their name never reaches a prompt) and a spoiler is
    ``[spoiler]`` (she cannot repeat it unspoilered). (discord.py's
    ``clean_content`` does the rest the same way but cannot leave a name out.)"""
    guild = m.guild

    def name(match: re.Match[str]) -> str:
        kind, ident = match[1], int(match[2])
        if kind in ("@", "@!"):
            if guild is not None and exclude is not None and exclude(guild.id, ident):
                return "@someone"
            member = (guild.get_member(ident) if guild is not None else None) or \
                discord.utils.get(m.mentions, id=ident)
            return f"@{member.display_name}" if member is not None else "@someone"
        if kind == "@&":
            role = guild.get_role(ident) if guild is not None else None
            return f"@{role.name}" if role is not None else "@role"
        channel = guild.get_channel_or_thread(ident) if guild is not None else None
        return f"#{channel.name}" if channel is not None else "#channel"

    text = _SPOILER.sub("[spoiler]", _MENTION.sub(name, m.content))
    return discord.utils.escape_mentions(text)


def line_text(m: discord.Message, exclude: ExcludeFn | None = None) -> str:
    """A message's words as a context line: mentions resolved to names (``clean_text``), and
    placeholders for what has no words (files, stickers, a forward), so a message that spoke
    to her with an image still ends her context."""
    words = clean_text(m, exclude)
    parts = [words] if words else []
    if m.attachments:
        images = all((a.content_type or "").startswith("image/") for a in m.attachments)
        parts.append("[image]" if images else "[attachment]")
    if m.stickers:
        parts.append("[sticker]")
    if m.message_snapshots:
        parts.append("[forwarded message]")
    return " ".join(parts)


class Outbound(Reactions):
    """The sending half of ``PersonaClient`` (a mixin: it needs the client's ``_channel_of``,
    ``_clock``, ``_self_id``, counters and discord.py's HTTP client)."""

    _channel_of: ChannelOf
    _clock: Callable[[], float]
    _sent: int
    _send_rejected: int
    _deadline_passed: int
    _self_id: Callable[[], int | None]
    _access: Access
    _exclude: ExcludeFn | None
    _own: RecentIds
    _left: RecentIds
    get_guild: Callable[[int], discord.Guild | None]
    get_partial_messageable: Callable[..., discord.PartialMessageable]
    http: Any

    def _target(self, guild_id: int, channel_id: int) -> discord.PartialMessageable:
        """The autonomous channel or a thread under it, as a messageable; else SendRejected."""
        expected = self._channel_of(guild_id)
        if expected is None:
            raise SendRejected("the guild has no autonomous channel")
        if channel_id == expected:
            return self.get_partial_messageable(channel_id, guild_id=guild_id,
                                                type=discord.ChannelType.text)
        guild = self.get_guild(guild_id)
        thread = speakable_channel(guild, expected, channel_id)
        if thread is None or guild is None:
            raise SendRejected("not the guild's autonomous channel or a thread under it")
        return self.get_partial_messageable(channel_id, guild_id=guild_id, type=thread.type)

    def _speakable(self, guild_id: int, channel_id: int, target: int | None = None, *,
                   count: bool = True) -> discord.PartialMessageable:
        """``_target``, refused without a request when she may not speak there now: her
        access to the guild's channel was lost since the action was decided, a thread needs
        what she lacks (Send Messages in Threads; Manage Threads when locked), the member
        she would talk to (``target``) has left the server since, or Discord answered a
        send there 403 lately (``pauses.Pauses``; ``count``: a held send)."""
        channel = self._target(guild_id, channel_id)
        if target is not None and (guild_id, target) in self._left:
            raise SendRejected("the member she would talk to left the server")
        refused = self._access.refusal(self.get_guild(guild_id), guild_id, channel_id,
                                       self._channel_of(guild_id) or 0)
        if refused is None:
            refused = self._access.pauses.refusal(guild_id, channel_id, count=count)
        if refused is not None:
            raise SendRejected(refused)
        return channel

    async def send(self, request: ActionRequest, text: str) -> None:
        """Send ``text`` to the request's channel (the autonomous channel, or a thread under
        it; a ``react``'s text is its emoji, added to its message: ``Reactions.react``),
        mentions disabled, as a reply to ``request.reply_to_message_id`` when set (never
        as a plain message: a reply whose message is gone is not sent), before
        ``request.deadline`` (epoch seconds).

        discord.py waits out short rate limits (429) itself; a wait that would run past the
        deadline is cut off, so stale words are never posted. (Slowmode does not apply: bots
        are exempt from a channel's ``rate_limit_per_user``.)

        Raises:
            SendRejected: not the autonomous channel or a thread under it, she may not
                speak there now (access lost; a thread without Send Messages in Threads, or
                locked; the channel paused after a 403, see ``pauses``), the member she
                would talk to left the server, empty text, the message she answers is gone,
                the deadline passed (before or while waiting), Discord refused it (403
                missing permission, 404 channel gone, other HTTP errors, a rate limit
                longer than discord.py's ``max_ratelimit_timeout``) or the network failed.
                Logged here with ids and status, never the text.
        """
        if request.action == REACT:
            try:
                await self.react(request, text)  # ``text`` is the emoji (gateway.react)
            except SendRejected:
                self._send_rejected += 1
                raise
            return
        bound = log.bind(guild_id=request.guild_id, channel_id=request.channel_id,
                         request_id=request.request_id, action=request.action)
        reference = None
        try:
            channel = self._speakable(request.guild_id, request.channel_id,
                                      request.target_user_id)
            text = plain(text.strip())
            if not text:
                raise SendRejected("empty message")
            if len(text) > MAX_MESSAGE_CHARS:
                text = text[: MAX_MESSAGE_CHARS - 1] + "…"
            if request.reply_to_message_id:
                reference = discord.MessageReference(
                    message_id=request.reply_to_message_id, channel_id=request.channel_id,
                    guild_id=request.guild_id, fail_if_not_exists=True,
                )
            await self._send_before_deadline(channel, text, reference, request, bound)
        except SendRejected as exc:
            self._send_rejected += 1
            if exc.reason == "deadline passed":
                self._deadline_passed += 1
            raise
        self._sent += 1
        bound.debug("send.sent", reply=reference is not None, chars=len(text))

    async def _send_before_deadline(self, channel: discord.PartialMessageable, text: str,
                                    reference: discord.MessageReference | None,
                                    request: ActionRequest, bound: Any) -> None:
        remaining = request.deadline - self._clock()
        if remaining <= 0:
            bound.info("send.deadline_passed", late_s=round(-remaining, 3))
            raise SendRejected("deadline passed")
        timeout = asyncio.timeout(remaining)
        try:
            async with timeout:
                sent = await channel.send(text, allowed_mentions=discord.AllowedMentions.none(),
                                          reference=reference)  # type: ignore[arg-type]
            self._own.add(sent.id)
            self._access.pauses.sent(request.guild_id, request.channel_id)
        except discord.Forbidden as exc:
            bound.warning("send.forbidden", status=exc.status, code=exc.code)
            self._access.pauses.forbidden(request.guild_id, request.channel_id, exc.code)
            raise SendRejected(f"forbidden (403, code {exc.code})", status=exc.status
                               ) from None
        except discord.HTTPException as exc:
            if reference is not None and exc.code == 50035 and "message_reference" in exc.text:
                bound.info("send.reply_target_gone")
                raise SendRejected(GONE, status=exc.status) from None
            bound.warning("send.http_error", status=exc.status, code=exc.code)
            raise SendRejected(f"http {exc.status}", status=exc.status) from None
        except discord.RateLimited as exc:
            bound.warning("send.rate_limited", retry_after_s=round(exc.retry_after, 1))
            raise SendRejected(f"rate limited for {exc.retry_after:.0f} s", status=429
                               ) from None
        except _NETWORK_ERRORS as exc:
            if timeout.expired():
                bound.warning("send.deadline_passed", waited_s=round(remaining, 3))
                raise SendRejected("deadline passed") from None
            bound.warning("send.network_error", error=type(exc).__name__)
            raise SendRejected(f"network error ({type(exc).__name__})") from None

    @contextlib.asynccontextmanager
    async def typing_for(self, request: ActionRequest) -> AsyncIterator[None]:
        """Show "typing…" in the request's channel while the body runs (the pool's ``typing``),
        for a reply only: someone is waiting for her answer. For the rest nobody waits, and
        the indicator would cost a request (and one more per 8 s of writing) out of the
        bot's global 50 a second (docs/SCALING.md, "Where the limits are").

        The first indicator is posted in the background, so entering never waits for
        Discord; it is renewed every 8 s. Failures (403 without Send Messages, a channel
        gone, the network) end the indicator silently: the words matter, the dots do not.
        """
        if request.action not in TYPING_ACTIONS:
            yield
            return
        try:
            channel = self._speakable(request.guild_id, request.channel_id, count=False)
        except SendRejected:
            yield
            return
        task = asyncio.get_running_loop().create_task(self._keep_typing(channel.id),
                                                      name="gateway-typing")
        try:
            yield
        finally:
            task.cancel()

    async def _keep_typing(self, channel_id: int) -> None:
        while True:
            try:
                await self.http.send_typing(channel_id)
            except (discord.HTTPException, discord.RateLimited, *_NETWORK_ERRORS) as exc:
                log.debug("typing.failed", channel_id=channel_id,
                          status=getattr(exc, "status", None), error=type(exc).__name__)
                return
            await asyncio.sleep(_TYPING_RENEW_S)

    async def display_name(self, guild_id: int, user_id: int) -> str | None:
        """A member's display name from the member cache (None when not cached): the pool's
        ``names`` for engage_user. No HTTP call: a name is not worth a request."""
        guild = self.get_guild(guild_id)
        member = guild.get_member(user_id) if guild is not None else None
        return None if member is None else member.display_name

    async def fetch_context(self, guild_id: int, channel_id: int, limit: int, *,
                            upto_message_id: int | None = None) -> list[ContextLine]:
        """The last ``limit`` messages of the autonomous channel (or a thread under it),
        oldest first, as transient ``ContextLine`` records (author display name, text with
        mentions resolved to names, whether it is hers, the author's and the message's ids).

        Args:
            upto_message_id: for a reply, the message she answers: the lines end with it and
                nothing after it is included. One history request does it: Discord's
                ``before`` compares snowflakes, so ``before=upto+1`` returns that message
                first (when it still exists) and the ones before it.

        A thread's starter message is the message the thread was made from (Discord sends
        it along). A message without text is a placeholder line ("[image]", "[attachment]",
        "[sticker]", "[forwarded message]"); one with text and files gets the placeholder
        after its words. Nothing of a file, a sticker or a forward is read.

        Returns:
            The lines; empty when the channel is not hers to read or Discord refuses (logged).
            Never stored, never logged.

        Raises:
            SendRejected: ``upto_message_id`` is gone (deleted): the reply is dropped.
        """
        try:
            channel = self._target(guild_id, channel_id)
        except SendRejected:
            return []
        self_id = self._self_id()
        before = discord.Object(id=upto_message_id + 1) if upto_message_id else None
        lines: list[ContextLine] = []
        newest: int | None = None
        try:
            async for m in channel.history(limit=max(1, min(limit, _MAX_HISTORY)),
                                           before=before):
                if newest is None:
                    newest = m.id
                if (m.type is discord.MessageType.thread_starter_message
                        and m.reference is not None
                        and isinstance(m.reference.resolved, discord.Message)):
                    # A thread's first message is empty; Discord sends the message the
                    # thread was started from with it: that is the thread's first line.
                    m = m.reference.resolved
                text = line_text(m, self._exclude)
                if not text:
                    continue
                lines.append(ContextLine(author=m.author.display_name, text=text,
                                         is_self=m.author.id == self_id,
                                         author_id=m.author.id, message_id=m.id))
        except (discord.HTTPException, discord.RateLimited, *_NETWORK_ERRORS) as exc:
            log.warning("context.unavailable", guild_id=guild_id, channel_id=channel_id,
                        status=getattr(exc, "status", None), error=type(exc).__name__)
            return []
        if upto_message_id and newest != upto_message_id:
            # Deleted since it spoke to her: answering would answer someone else's line.
            log.info("context.reply_target_gone", guild_id=guild_id, channel_id=channel_id,
                     message_id=upto_message_id)
            raise SendRejected(GONE)
        lines.reverse()
        return lines
