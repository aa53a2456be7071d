"""A member's permissions in a channel, computed from guild payloads the way Discord documents
it (docs/topics/permissions: "Permission Hierarchy", "Permission Overwrites", and the
timeout and thread rules), for the stand-in's REST refusals.

Order: the guild owner has everything; otherwise @everyone's permissions or-ed with the
member's roles'; ADMINISTRATOR then grants everything. In a channel: the @everyone overwrite
(deny, then allow), the member's roles' overwrites together (deny all, then allow all), the
member's own overwrite; without VIEW_CHANNEL nothing else in the channel is granted. A thread
takes its parent channel's overwrites. A timed-out member keeps only VIEW_CHANNEL and
READ_MESSAGE_HISTORY.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["ADMINISTRATOR", "READ_MESSAGE_HISTORY", "SEND_MESSAGES",
           "SEND_MESSAGES_IN_THREADS", "VIEW_CHANNEL", "channel_permissions"]

ADMINISTRATOR = 1 << 3
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
READ_MESSAGE_HISTORY = 1 << 16
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL = (1 << 53) - 1
_THREAD_TYPES = {10, 11, 12}


def _member(guild: dict[str, Any], user_id: int) -> dict[str, Any] | None:
    return next((m for m in guild.get("members", []) if m["user"]["id"] == str(user_id)), None)


def _timed_out(member: dict[str, Any]) -> bool:
    until = member.get("communication_disabled_until")
    return bool(until) and datetime.fromisoformat(until) > datetime.now(UTC)


def channel_permissions(guild: dict[str, Any], channel: dict[str, Any], user_id: int,
                        channels: list[dict[str, Any]]) -> int:
    """The permission bits ``user_id`` has in ``channel`` of ``guild`` (0 for a non-member).

    Args:
        channels: the guild's channels, where a thread's parent is found.
    """
    member = _member(guild, user_id)
    if member is None:
        return 0
    if guild.get("owner_id") == str(user_id):
        return ALL
    roles = {r["id"]: r for r in guild.get("roles", [])}
    everyone = roles.get(guild["id"], {"permissions": "0"})
    perms = int(everyone["permissions"])
    for rid in member.get("roles", []):
        perms |= int(roles.get(rid, {"permissions": "0"})["permissions"])
    if perms & ADMINISTRATOR:
        return ALL
    if channel.get("type") in _THREAD_TYPES:
        parent = next((c for c in channels if c["id"] == channel.get("parent_id")), None)
        if parent is None:
            return 0
        channel = parent
    overwrites = {o["id"]: o for o in channel.get("permission_overwrites", [])}
    if (o := overwrites.get(guild["id"])) is not None:
        perms = (perms & ~int(o["deny"])) | int(o["allow"])
    deny = allow = 0
    for rid in member.get("roles", []):
        if (o := overwrites.get(rid)) is not None:
            deny |= int(o["deny"])
            allow |= int(o["allow"])
    perms = (perms & ~deny) | allow
    if (o := overwrites.get(str(user_id))) is not None:
        perms = (perms & ~int(o["deny"])) | int(o["allow"])
    if not perms & VIEW_CHANNEL:
        return 0
    if _timed_out(member):
        perms &= VIEW_CHANNEL | READ_MESSAGE_HISTORY
    return perms
