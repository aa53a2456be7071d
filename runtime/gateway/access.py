"""Where she may speak: the autonomous channel (or a thread under it) and her permissions there.

Discord answers a send she may not make with 403, and the pool would back off and try again
for ever. Checking her permissions when a guild becomes ready (and again when a role, the
channel or her member changes) keeps a guild that cannot hear her silent instead, with one
warning that says what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping

import discord

__all__ = ["REACT_NEEDS", "SPEAKABLE_TYPES", "THREAD_TYPES", "can_react", "channel_access",
           "speakable_channel"]

THREAD_TYPES = frozenset({discord.ChannelType.public_thread, discord.ChannelType.private_thread,
                          discord.ChannelType.news_thread})
#: Channels she can hold a conversation in: text, announcement (news), and threads.
SPEAKABLE_TYPES = frozenset({discord.ChannelType.text, discord.ChannelType.news}) | THREAD_TYPES

#: (permission attribute, the name Discord's client shows) a reaction needs in the channel.
REACT_NEEDS = (("view_channel", "View Channel"), ("read_message_history",
               "Read Message History"), ("add_reactions", "Add Reactions"))
#: (permission attribute, the name Discord's client shows) she needs in a channel / a thread.
_CHANNEL_NEEDS = (("view_channel", "View Channel"), ("read_message_history",
                  "Read Message History"), ("send_messages", "Send Messages"))
_THREAD_NEEDS = (("view_channel", "View Channel"), ("read_message_history",
                 "Read Message History"), ("send_messages_in_threads", "Send Messages in Threads"))


def speakable_channel(guild: discord.Guild | None, autonomous_id: int | None,
                      channel_id: int) -> discord.abc.GuildChannel | discord.Thread | None:
    """The channel ``channel_id`` when it is the guild's autonomous channel or a thread whose
    parent is that channel (from discord.py's cache), else None.

    Args:
        guild: the cached guild (None: unknown).
        autonomous_id: the guild's autonomous channel id (None: the guild has none).
        channel_id: the channel a request names.
    """
    if guild is None or autonomous_id is None:
        return None
    channel = guild.get_channel_or_thread(channel_id)
    if channel is None:
        return None
    if channel_id == autonomous_id:
        return channel
    if isinstance(channel, discord.Thread) and channel.parent_id == autonomous_id:
        return channel
    return None


def channel_access(guild: discord.Guild, channel_id: int,
                   archived: Mapping[int, discord.Thread] | None = None) -> tuple[bool, str]:
    """Whether she can view, read the history of and send in ``channel_id`` of ``guild``.

    An archived thread is not in discord.py's cache (nor in GUILD_CREATE); ``archived`` are
    the archived threads the caller knows of. One that is not locked is speakable: her
    message unarchives it. A locked thread needs Manage Threads.

    Returns:
        ``(True, "")``, or ``(False, missing)`` where ``missing`` names what is missing
        ("Send Messages, Read Message History", "the channel (deleted, or hidden from her)",
        "a text, news or thread channel (it is voice)", "Send Messages (she is timed out
        until 2026-12-07 16:00 UTC)").
    """
    channel = guild.get_channel_or_thread(channel_id)
    if channel is None and archived is not None:
        channel = archived.get(channel_id)
    if channel is None:
        # discord.py caches only the channels Discord shows her: a channel hidden from her
        # (no View Channel) is absent from GUILD_CREATE, like a deleted one.
        return False, "the channel (deleted, or hidden from her: View Channel)"
    if channel.type not in SPEAKABLE_TYPES:
        return False, f"a text, news or thread channel (it is {channel.type.name})"
    me = guild.me
    if me is None:  # Discord always sends her own member; be safe if it did not
        return True, ""
    perms = channel.permissions_for(me)
    needs = _THREAD_NEEDS if channel.type in THREAD_TYPES else _CHANNEL_NEEDS
    missing = [name for attr, name in needs if not getattr(perms, attr)]
    if isinstance(channel, discord.Thread) and channel.locked and not perms.manage_threads:
        missing.append("Manage Threads (the thread is locked)")
    text = ", ".join(missing)
    if missing and me.is_timed_out() and me.timed_out_until is not None:
        # discord.py masks a timed-out member's permissions: say why, and until when.
        text += f" (she is timed out until {me.timed_out_until:%Y-%m-%d %H:%M} UTC)"
    return (not missing), text


def can_react(guild: discord.Guild, channel_id: int) -> bool:
    """Whether she may add a reaction in ``channel_id`` of ``guild`` (``REACT_NEEDS``, from
    discord.py's cache; a channel not cached or her member unknown: True, Discord says)."""
    channel = guild.get_channel_or_thread(channel_id)
    me = guild.me
    if channel is None or me is None:
        return True
    perms = channel.permissions_for(me)
    return all(getattr(perms, attr) for attr, _ in REACT_NEEDS)
