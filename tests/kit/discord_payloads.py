"""Gateway payloads as Discord sends them (API v10), trimmed to what a guild of four needs.

Guild 1000 has the autonomous channel 2000 and another channel 2001; guild 1100 has no
autonomous channel in the tests' config. Users: 900 the persona (a bot), 11 alice (online),
12 bob (offline), 13 a helper bot (online), 14 carol (joins later). Role 3000 is the persona's
managed role in guild 1000 (``tags.bot_id`` = 900), role 3001 an ordinary one. Members from
100000 on are filler (offline) for guilds over the large threshold.
"""

from __future__ import annotations

from typing import Any

GUILD = 1000
CHANNEL = 2000
OTHER_CHANNEL = 2001
UNCONFIGURED_GUILD = 1100
SELF_ID = 900
ALICE, BOB, HELPER_BOT, CAROL = 11, 12, 13, 14
SELF_ROLE, FANS_ROLE = 3000, 3001
THREAD, OTHER_THREAD = 2500, 2501
FILLER = 100_000
#: Permission bits (Permissions, "Bitwise Permission Flags").
VIEW_CHANNEL, SEND_MESSAGES, READ_MESSAGE_HISTORY = 1 << 10, 1 << 11, 1 << 16
SEND_MESSAGES_IN_THREADS = 1 << 38
JOINED_AT = "2024-05-01T12:00:00.000000+00:00"


def user(uid: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"id": str(uid), "username": name, "discriminator": "0",
                         "global_name": name.title(), "avatar": None, "public_flags": 0}
    if bot:
        d["bot"] = True
    return d


SELF_USER = {**user(SELF_ID, "miku", bot=True), "verified": True, "mfa_enabled": False,
             "flags": 0}
USERS = {ALICE: user(ALICE, "alice"), BOB: user(BOB, "bob"),
         HELPER_BOT: user(HELPER_BOT, "helper", bot=True), CAROL: user(CAROL, "carol"),
         SELF_ID: user(SELF_ID, "miku", bot=True)}


def member(uid: int, roles: tuple[int, ...] = ()) -> dict[str, Any]:
    u = USERS.get(uid) or user(uid, f"member{uid}")
    return {"user": u, "nick": None, "avatar": None, "roles": [str(r) for r in roles],
            "joined_at": JOINED_AT, "premium_since": None, "deaf": False, "mute": False,
            "pending": False, "flags": 0}


def text_channel(cid: int, name: str, guild_id: int, *, type_: int = 0,
                 overwrites: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A guild channel (type 0 text, 2 voice, 5 announcement)."""
    d: dict[str, Any] = {"id": str(cid), "type": type_, "guild_id": str(guild_id), "name": name,
                         "position": 0, "permission_overwrites": overwrites or [],
                         "nsfw": False, "parent_id": None, "topic": None,
                         "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}
    if type_ == 2:  # a voice channel's own fields
        d.update(bitrate=64000, user_limit=0, rtc_region=None)
    return d


def deny(role_id: int, bits: int) -> dict[str, Any]:
    """A permission overwrite denying ``bits`` to a role (the @everyone role's id is the
    guild's)."""
    return {"id": str(role_id), "type": 0, "allow": "0", "deny": str(bits)}


def role(rid: int, name: str, permissions: int = 0, *,
         bot_id: int | None = None) -> dict[str, Any]:
    """A role; ``bot_id`` makes it a bot's managed role (the one Discord creates on invite)."""
    d: dict[str, Any] = {"id": str(rid), "name": name, "permissions": str(permissions),
                         "position": 1, "color": 0, "hoist": False, "managed": bot_id is not None,
                         "mentionable": True, "flags": 0}
    if bot_id is not None:
        d["tags"] = {"bot_id": str(bot_id)}
    return d


def thread_channel(tid: int, parent_id: int, guild_id: int = GUILD, *, archived: bool = False,
                   locked: bool = False) -> dict[str, Any]:
    """A public thread (type 11) under ``parent_id``, as GUILD_CREATE's ``threads`` lists it
    (or, ``archived``, as Get Channel returns it)."""
    return {"id": str(tid), "type": 11, "guild_id": str(guild_id), "parent_id": str(parent_id),
            "name": "miku thread", "owner_id": str(ALICE), "last_message_id": None,
            "rate_limit_per_user": 0, "message_count": 1, "member_count": 1, "flags": 0,
            "total_message_sent": 1,
            "thread_metadata": {"archived": archived, "auto_archive_duration": 1440,
                                "archive_timestamp": JOINED_AT, "locked": locked}}


def presence(uid: int, status: str, activities: list[dict[str, Any]] | None = None,
             guild_id: int = GUILD) -> dict[str, Any]:
    return {"user": {"id": str(uid)}, "guild_id": str(guild_id), "status": status,
            "activities": activities or [], "client_status": {"desktop": status}}


def guild_create(guild_id: int = GUILD, *, unavailable: bool | None = None,
                 filler: int = 0, channel_type: int = 0,
                 overwrites: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """GUILD_CREATE, complete: alice and the helper bot online, bob offline (not in presences),
    her managed role and a fans role, a thread under the autonomous channel and one under the
    other channel; ``filler`` offline members more (a guild over the large threshold).
    ``channel_type`` and ``overwrites`` shape the autonomous channel."""
    d: dict[str, Any] = {
        "id": str(guild_id), "name": "Vocaloid Fans", "icon": None, "splash": None,
        "discovery_splash": None, "banner": None, "description": None, "owner_id": str(ALICE),
        "afk_channel_id": None, "afk_timeout": 300, "verification_level": 1,
        "default_message_notifications": 1, "explicit_content_filter": 0,
        "roles": [{"id": str(guild_id), "name": "@everyone", "permissions": "1071698660929",
                   "position": 0, "color": 0, "hoist": False, "managed": False,
                   "mentionable": False, "flags": 0},
                  role(SELF_ROLE if guild_id == GUILD else 3100, "miku", bot_id=SELF_ID),
                  role(FANS_ROLE if guild_id == GUILD else 3101, "fans")],
        "emojis": [], "stickers": [], "features": [], "mfa_level": 0, "application_id": None,
        "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
        "public_updates_channel_id": None, "vanity_url_code": None, "premium_tier": 0,
        "premium_subscription_count": 0, "preferred_locale": "en-US", "nsfw_level": 0,
        "premium_progress_bar_enabled": False, "max_video_channel_users": 25,
        "joined_at": JOINED_AT, "large": False, "member_count": 4 + filler, "voice_states": [],
        "members": [member(ALICE), member(BOB), member(HELPER_BOT),
                    member(SELF_ID, (SELF_ROLE if guild_id == GUILD else 3100,))]
                   + [member(FILLER + i) for i in range(filler)],
        "channels": [text_channel(CHANNEL if guild_id == GUILD else 2100, "miku-chat",
                                  guild_id, type_=channel_type, overwrites=overwrites),
                     text_channel(OTHER_CHANNEL if guild_id == GUILD else 2101, "general",
                                  guild_id)],
        "threads": [thread_channel(THREAD, CHANNEL), thread_channel(OTHER_THREAD, OTHER_CHANNEL)]
        if guild_id == GUILD else [],
        "presences": [presence(ALICE, "online", guild_id=guild_id),
                      presence(HELPER_BOT, "online", guild_id=guild_id),
                      presence(SELF_ID, "online", guild_id=guild_id)],
        "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
    }
    if unavailable is not None:
        d["unavailable"] = unavailable
    return d


def message_create(mid: int, author: int, *, channel_id: int = CHANNEL,
                   guild_id: int | None = GUILD, content: str = "hello there",
                   mentions: tuple[int, ...] = (), reply_to: dict[str, Any] | None = None,
                   mention_roles: tuple[int, ...] = ()) -> dict[str, Any]:
    """MESSAGE_CREATE; ``guild_id=None`` makes it a DM."""
    d: dict[str, Any] = {
        "id": str(mid), "type": 19 if reply_to else 0, "channel_id": str(channel_id),
        "author": USERS[author], "content": content,
        "timestamp": "2026-11-27T16:00:00.000000+00:00", "edited_timestamp": None,
        "tts": False, "mention_everyone": False,
        "mentions": [{**USERS[u], "member": {k: v for k, v in member(u).items() if k != "user"}}
                     for u in mentions],
        "mention_roles": [str(r) for r in mention_roles], "attachments": [], "embeds": [],
        "pinned": False, "flags": 0, "components": [], "nonce": str(mid * 7),
    }
    if guild_id is not None:
        d["guild_id"] = str(guild_id)
        d["member"] = {k: v for k, v in member(author).items() if k != "user"}
    if reply_to is not None:
        d["message_reference"] = {"type": 0, "message_id": reply_to["id"],
                                  "channel_id": reply_to["channel_id"],
                                  "guild_id": reply_to.get("guild_id")}
        d["referenced_message"] = reply_to
    return d


def guild_member_add(uid: int, guild_id: int = GUILD) -> dict[str, Any]:
    return {**member(uid), "guild_id": str(guild_id)}


def game(name: str) -> dict[str, Any]:
    return {"id": "ec0b28a579ecb4bd", "name": name, "type": 0, "created_at": 1764259200000,
            "timestamps": {"start": 1764259200000}}


def stream(title: str, game_name: str) -> dict[str, Any]:
    return {"id": "stream", "name": title, "type": 1, "url": "https://twitch.tv/bob",
            "state": game_name, "details": title, "created_at": 1764259200000}


def custom_status(text: str) -> dict[str, Any]:
    return {"id": "custom", "name": "Custom Status", "type": 4, "state": text,
            "created_at": 1764259200000}


def reaction(event: str, mid: int, uid: int, name: str | None, *, emoji_id: int | None = None,
             channel_id: int = CHANNEL, guild_id: int = GUILD,
             author: int | None = None) -> dict[str, Any]:
    """MESSAGE_REACTION_ADD or _REMOVE (Gateway Events, "Message Reaction Add/Remove"):
    ``user_id``, ``channel_id``, ``message_id``, ``guild_id``, the partial ``emoji`` (``id``
    null and ``name`` the Unicode text for a standard one; ``id`` and ``name`` for a custom
    one), ``burst``, ``type`` (0 normal); ADD also has the reacting ``member`` and
    ``message_author_id``, REMOVE neither."""
    d: dict[str, Any] = {"user_id": str(uid), "channel_id": str(channel_id),
                         "message_id": str(mid), "guild_id": str(guild_id),
                         "emoji": {"id": None if emoji_id is None else str(emoji_id),
                                   "name": name},
                         "burst": False, "type": 0}
    if emoji_id is not None:
        d["emoji"]["animated"] = False
    if event == "MESSAGE_REACTION_ADD":
        d["member"] = member(uid)
        d["message_author_id"] = str(author if author is not None else ALICE)
        d["burst_colors"] = []
    return d


def message_delete(mid: int, *, channel_id: int = CHANNEL,
                   guild_id: int = GUILD) -> dict[str, Any]:
    """MESSAGE_DELETE: ``id``, ``channel_id``, ``guild_id`` (no content, no author)."""
    return {"id": str(mid), "channel_id": str(channel_id), "guild_id": str(guild_id)}


def message_delete_bulk(ids: list[int], *, channel_id: int = CHANNEL,
                        guild_id: int = GUILD) -> dict[str, Any]:
    """MESSAGE_DELETE_BULK: ``ids``, ``channel_id``, ``guild_id``."""
    return {"ids": [str(i) for i in ids], "channel_id": str(channel_id),
            "guild_id": str(guild_id)}
