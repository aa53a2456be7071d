"""discord.py objects -> actor events: ids, flags and times, never content.

Each function returns an event or None ("not ours": a DM, another channel, a guild without an
autonomous channel, a bot's presence, a system message). ``channel_of(guild_id)`` gives the
guild's autonomous channel id or None; it is the only source of which guilds count.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Hashable

import discord

from actors.events import (
    GuildReady,
    GuildRemoved,
    GuildUnavailable,
    MemberJoined,
    MessageSeen,
    PresenceChanged,
)
from engine import MAX_ONLINE

__all__ = [
    "ENGAGING_ACTIVITIES",
    "ChannelOf",
    "RecentIds",
    "activity_name",
    "guild_ready_event",
    "guild_removed_event",
    "guild_unavailable_event",
    "member_join_event",
    "message_event",
    "new_activity",
    "presence_event",
    "status_name",
]

ChannelOf = Callable[[int], int | None]


class RecentIds:
    """The last ``limit`` keys added (her own message ids; members who left), for ``in``."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._ids: dict[Hashable, None] = {}

    def add(self, ident: Hashable) -> None:
        self._ids.pop(ident, None)
        self._ids[ident] = None
        if len(self._ids) > self._limit:
            del self._ids[next(iter(self._ids))]

    def discard(self, ident: Hashable) -> None:
        self._ids.pop(ident, None)

    def __contains__(self, ident: object) -> bool:
        return ident in self._ids

    def __len__(self) -> int:
        return len(self._ids)

#: Activities that count as "started something": games, streams, competitions. Custom statuses
#: are left out on purpose: their name is free text the user typed (closer to content than to
#: an activity) and it changes whenever they edit it. Listening/watching fire on every song or
#: video a rich-presence app reports.
ENGAGING_ACTIVITIES = frozenset(
    {discord.ActivityType.playing, discord.ActivityType.streaming,
     discord.ActivityType.competing}
)
#: Counted message types: people talking (not joins, pins, boosts and other system messages).
_COUNTED_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})
_MAX_ACTIVITY_NAME = 128
_STATUSES = {"online": "online", "idle": "idle", "dnd": "dnd", "offline": "offline"}


def message_event(message: discord.Message, *, channel_of: ChannelOf, self_id: int | None,
                  now: float, own: Container[int] = ()) -> MessageSeen | None:
    """A message in a guild's autonomous channel, or one addressing her in a thread under it;
    else None.

    ``addresses_self`` is set when a human mentions the persona (her user, or her managed
    role: the role Discord gives a bot's integration, which members pick from the mention
    list as often as the user) or replies to one of her messages (``own``: her recent message
    ids, for a reply whose referenced message Discord left out); never for a bot or for
    herself (she does not answer bots). In a thread (``parent_id`` the autonomous channel)
    only the messages addressing her count, with the thread's id as ``channel_id`` so that
    she answers there; the thread's other talk is not the channel's conversation.
    """
    guild = message.guild
    if guild is None:
        return None
    channel_id = channel_of(guild.id)
    if channel_id is None:
        return None
    channel = message.channel
    in_thread = False
    if channel.id != channel_id:
        if not (isinstance(channel, discord.Thread) and channel.parent_id == channel_id):
            return None
        in_thread = True
    if message.type not in _COUNTED_TYPES:
        return None
    author = message.author
    is_self = self_id is not None and author.id == self_id
    is_bot = bool(author.bot or message.webhook_id is not None) and not is_self
    addresses = False
    if not (is_bot or is_self) and self_id is not None:
        addresses = _addresses(message, self_id, own)
    if in_thread and not addresses:
        return None
    return MessageSeen(
        guild_id=guild.id, channel_id=channel.id, author_id=author.id, at=now,
        author_is_bot=is_bot, is_self=is_self, addresses_self=addresses, message_id=message.id,
    )


def _addresses(message: discord.Message, self_id: int, own: Container[int]) -> bool:
    if any(u.id == self_id for u in message.mentions):
        return True
    # Her managed role: the one whose tags name her as its bot. role_mentions comes from the
    # payload's mention_roles (raw_role_mentions would parse the content instead).
    for role in message.role_mentions:
        if role.tags is not None and role.tags.bot_id == self_id:
            return True
    if message.reference is not None:
        resolved = message.reference.resolved
        if isinstance(resolved, discord.Message):
            return resolved.author.id == self_id
        return message.reference.message_id in own
    return False


def activity_name(activity: discord.activity.ActivityTypes) -> str | None:
    """The name an engaging activity goes by (a stream's game if known), else None."""
    if activity.type not in ENGAGING_ACTIVITIES:
        return None
    name = getattr(activity, "game", None) if activity.type is discord.ActivityType.streaming \
        else None
    name = name or activity.name
    return name[:_MAX_ACTIVITY_NAME] if name else None


def new_activity(before: discord.Member, after: discord.Member) -> str | None:
    """The name of an engaging activity present in ``after`` but not in ``before``."""
    old = {(a.type, activity_name(a)) for a in before.activities}
    for a in after.activities:
        name = activity_name(a)
        if name and (a.type, name) not in old:
            return name
    return None


def status_name(status: str) -> str:
    """Discord's status as the events spell it; "invisible" (and anything unknown) is how
    Discord shows someone hiding: offline to everyone else."""
    return _STATUSES.get(status, "offline")


def _status(member: discord.Member) -> str:
    return status_name(str(member.status))


def presence_event(before: discord.Member, after: discord.Member, *, channel_of: ChannelOf,
                   now: float) -> PresenceChanged | None:
    """A human's status change or newly started activity, or None (bots, no change,
    a guild without an autonomous channel)."""
    if after.bot or channel_of(after.guild.id) is None:
        return None
    status = _status(after)
    activity = new_activity(before, after)
    if activity is None and status == _status(before):
        return None
    return PresenceChanged(guild_id=after.guild.id, user_id=after.id, at=now,
                           status=status, activity=activity)  # type: ignore[arg-type]


def member_join_event(member: discord.Member, *, channel_of: ChannelOf,
                      now: float) -> MemberJoined | None:
    """A member joined a guild with an autonomous channel (bots flagged, not dropped)."""
    if channel_of(member.guild.id) is None:
        return None
    return MemberJoined(guild_id=member.guild.id, user_id=member.id, at=now,
                        is_bot=bool(member.bot))


def guild_ready_event(guild: discord.Guild, *, channel_of: ChannelOf, now: float,
                      can_speak: bool = True, missing: str = "",
                      can_react: bool = True) -> GuildReady | None:
    """The guild became available: who is online, humans only, from the member cache (without
    the Presence intent nobody shows as online), and whether she can speak in its channel."""
    if channel_of(guild.id) is None:
        return None
    online: list[int] = []
    for m in guild.members:
        if not m.bot and _status(m) != "offline":
            online.append(m.id)
            if len(online) >= MAX_ONLINE:
                break
    return GuildReady(guild_id=guild.id, at=now, online_user_ids=tuple(online),
                      can_speak=can_speak, missing=missing, can_react=can_react)


def guild_unavailable_event(guild_id: int, *, channel_of: ChannelOf,
                            now: float) -> GuildUnavailable | None:
    """The guild is not there right now (an outage, or a new session before its GUILD_CREATE)."""
    if channel_of(guild_id) is None:
        return None
    return GuildUnavailable(guild_id=guild_id, at=now)


def guild_removed_event(guild: discord.Guild, *, channel_of: ChannelOf,
                        now: float) -> GuildRemoved | None:
    """The bot left (or was removed from) a guild with an autonomous channel."""
    if channel_of(guild.id) is None:
        return None
    return GuildRemoved(guild_id=guild.id, at=now)
