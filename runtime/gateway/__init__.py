"""The Discord side: discord.py's gateway turned into actor events, and messages sent back.

Only this package (and ``runtime.bot``) imports discord.py; it runs on asyncio only.
"""

from runtime.gateway._discord import discord  # noqa: F401  (first: see _discord.py)
from runtime.gateway.access import channel_access, speakable_channel
from runtime.gateway.client import PersonaClient, persona_intents
from runtime.gateway.convert import (
    ENGAGING_ACTIVITIES,
    ChannelOf,
    guild_ready_event,
    guild_removed_event,
    guild_unavailable_event,
    member_join_event,
    message_event,
    new_activity,
    presence_event,
)
from runtime.gateway.members import ChunkerStatistics
from runtime.gateway.outbound import MAX_MESSAGE_CHARS
from runtime.gateway.stats import GatewayStatistics, ShardStatistics

__all__ = [
    "ENGAGING_ACTIVITIES",
    "MAX_MESSAGE_CHARS",
    "ChannelOf",
    "ChunkerStatistics",
    "GatewayStatistics",
    "PersonaClient",
    "ShardStatistics",
    "channel_access",
    "guild_ready_event",
    "guild_removed_event",
    "guild_unavailable_event",
    "member_join_event",
    "message_event",
    "new_activity",
    "persona_intents",
    "presence_event",
    "speakable_channel",
]
