"""Her emoji reaction (the ``react`` action): one REST call, no typing, no history.

Discord's Create Reaction (``PUT /channels/{c}/messages/{m}/reactions/{emoji}/@me``) needs
Read Message History, and Add Reactions when nobody has reacted with that emoji yet; both are
checked from discord.py's cache (with View Channel) before any request, like a send checks
Send Messages. It is made on a ``PartialMessage``, so nothing is fetched first; discord.py
percent-encodes the emoji into the path. The message's author is checked again here: never
an opted-out or ignored member's message (``exclude``), never a bot's or her own (the engine
names only humans' messages; the author id the request carries is checked against her own).

Refusals (``SendRejected``): 404 Unknown Message (10008, deleted meanwhile) with status 404,
which the pool reports as a dropped action (stale), not a failure; 400 Unknown Emoji
(10014), 403 Missing Permissions (50013) and 429 past discord.py's own waiting as failures.
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import structlog

from actors.events import ActionRequest
from runtime.errors import SendRejected
from runtime.gateway.access import REACT_NEEDS

__all__ = ["REACT_NEEDS", "UNKNOWN_MESSAGE", "Reactions"]

log = structlog.get_logger("runtime.gateway")

#: Discord's JSON error code for a message that does not exist (any more).
UNKNOWN_MESSAGE = 10008
_NETWORK_ERRORS = (TimeoutError, OSError)


class Reactions:
    """The reacting half of ``PersonaClient`` (a mixin, next to ``Outbound``: it needs the
    client's ``_speakable``, ``_exclude``, ``_self_id``, ``_clock`` and discord.py's
    ``get_guild``)."""

    _speakable: Any
    _exclude: Any
    _self_id: Any
    _clock: Any
    get_guild: Any
    _reacted: int = 0

    def _react_refusal(self, request: ActionRequest) -> str | None:
        """Why she may not react to the request's message (checked before any request)."""
        uid = request.target_user_id
        if not request.target_message_id:
            return "no message to react to"
        if uid is not None and uid == self._self_id():
            return "her own message"
        if uid is not None and self._exclude is not None \
                and self._exclude(request.guild_id, uid):
            return "the message's author opted out or is ignored"
        guild = self.get_guild(request.guild_id)
        channel = guild.get_channel_or_thread(request.channel_id) if guild else None
        me = guild.me if guild is not None else None
        if channel is None or me is None:
            return None  # not cached: Discord says
        perms = channel.permissions_for(me)
        missing = [name for attr, name in REACT_NEEDS if not getattr(perms, attr)]
        return f"missing {', '.join(missing)}" if missing else None

    async def react(self, request: ActionRequest, emoji: str) -> None:
        """Add ``emoji`` to the request's message (``target_message_id``) in its channel
        (the autonomous channel or a thread under it), before ``request.deadline``.

        Raises:
            SendRejected: as ``Outbound.send`` (not her channel, access lost, the deadline),
                a missing permission or an excluded author (before any request), or
                Discord's refusal (status 404 for a deleted message).
        """
        bound = log.bind(guild_id=request.guild_id, channel_id=request.channel_id,
                         request_id=request.request_id, message_id=request.target_message_id)
        channel = self._speakable(request.guild_id, request.channel_id)
        refused = self._react_refusal(request)
        if refused is not None:
            bound.info("react.refused", reason=refused)
            raise SendRejected(refused)
        remaining = request.deadline - self._clock()
        if remaining <= 0:
            raise SendRejected("deadline passed")
        message = channel.get_partial_message(request.target_message_id)
        try:
            async with asyncio.timeout(remaining):
                await message.add_reaction(emoji)
        except discord.NotFound as exc:
            bound.info("react.message_gone", code=exc.code)
            raise SendRejected(f"the message is gone (404, code {exc.code})",
                               status=404) from None
        except discord.Forbidden as exc:
            bound.warning("react.forbidden", code=exc.code)
            raise SendRejected(f"forbidden (403, code {exc.code})", status=403) from None
        except discord.HTTPException as exc:
            bound.warning("react.http_error", status=exc.status, code=exc.code)
            raise SendRejected(f"http {exc.status} (code {exc.code})",
                               status=exc.status) from None
        except discord.RateLimited as exc:
            bound.warning("react.rate_limited", retry_after_s=round(exc.retry_after, 1))
            raise SendRejected(f"rate limited for {exc.retry_after:.0f} s", status=429
                               ) from None
        except TimeoutError:
            raise SendRejected("deadline passed") from None
        except _NETWORK_ERRORS as exc:
            raise SendRejected(f"network error ({type(exc).__name__})") from None
        self._reacted += 1
        bound.debug("react.sent")
