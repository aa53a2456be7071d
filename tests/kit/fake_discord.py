"""A loopback stand-in for Discord: the REST API and the gateway, enough for discord.py.

One aiohttp server on 127.0.0.1 (a free port) serves

* REST under ``/api/v10`` (any request may be answered with a global 429 first,
  ``global_limits``): ``GET /users/@me``, ``GET /oauth2/applications/@me``,
  ``GET /gateway`` and ``/gateway/bot``, ``POST /channels/{id}/messages`` (recorded; the status
  per channel can be set, e.g. 403, or 429 with a ``retry_after`` as a rate limit answers;
  never slowmode's 20016: bots are exempt from ``rate_limit_per_user``),
  ``GET /channels/{id}/messages`` (history, newest first, with ``before`` / ``after`` /
  ``limit`` as Discord reads them), ``POST /channels/{id}/typing`` (recorded),
  ``GET /channels/{id}`` (any channel or thread, archived ones too; 404 10003 otherwise),
  ``PUT /channels/{id}/messages/{id}/reactions/{emoji}/@me`` (Create Reaction, recorded in
  ``reactions``: 204, or Discord's refusals, see ``_put_reaction``);
  a reply to a message the channel does not have is refused (400 50035,
  ``message_reference``) unless ``fail_if_not_exists`` is false (then it is posted plain);
  a MESSAGE_CREATE dispatched by a test joins the channel's history, a MESSAGE_DELETE (or
  MESSAGE_DELETE_BULK) leaves it; a message to an archived thread unarchives it (a
  THREAD_UPDATE to its shard), unless the thread is locked (400 50083); her permissions are
  computed from the guild payloads as Discord does (``tests/kit/discord_permissions.py``:
  roles, overwrites, a thread's parent, a timeout, see ``time_out_self``): a message or
  typing without them is refused 403 (50001 without View Channel, 50013 without Send
  Messages, in Threads for a thread, or Read Message History for a reply), history without
  View Channel is 403 50001 and without Read Message History empty, an unknown channel 404
  10003; the CHANNEL_/THREAD_/GUILD_ROLE_/GUILD_MEMBER_ updates a test dispatches change
  those payloads;
* the gateway at ``/gateway``: HELLO, IDENTIFY -> READY (guilds unavailable, as Discord does;
  one within 5 s of another of its ``max_concurrency`` bucket -> INVALID_SESSION)
  then one GUILD_CREATE per guild of the shard, heartbeats ACKed, RESUME -> RESUMED, and
  whatever the test ``dispatch``-es (MESSAGE_CREATE, PRESENCE_UPDATE, ...; the reaction
  events only to a connection that asked for GUILD_MESSAGE_REACTIONS). Frames are plain
  JSON text: discord.py only decompresses binary frames.

Discord's member-list rules (Gateway Events, "Request Guild Members" and "Guild Create"), which
the GUILD_CREATE sent here follows: the guild payloads given to the stand-in are *complete* (every
member, the presence of everyone online), and the stand-in cuts them the way Discord does for
the connection's IDENTIFY:

* ``threads`` lists only active threads (archived ones are left out, as Discord does);
* without the GUILD_PRESENCES intent, ``members`` is only the bot itself and ``presences`` empty;
* a guild with more members than ``large_threshold`` (from IDENTIFY, default 50) is ``large``
  and ``members`` has only those online, with a role or with a nickname (and the bot);
* REQUEST_GUILD_MEMBERS (opcode 8, ``query: ""``, ``limit: 0``; needs GUILD_MEMBERS) is
  answered with GUILD_MEMBERS_CHUNK events of up to 1,000 members carrying ``chunk_index``,
  ``chunk_count``, the request's ``nonce`` and, when asked with ``presences: true`` (and the
  GUILD_PRESENCES intent), the presences of the members in that chunk who are online; a
  second such request for one guild within 30 s is answered with a RATE_LIMITED event
  (``opcode`` 8, ``retry_after``, ``meta.guild_id``, ``meta.nonce``) and no chunks.

Pointing discord.py at it, in process::

    discord.http.Route.BASE = fake.api_base                  # REST
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

(the gateway URL also comes from ``GET /gateway/bot`` when no shard_count is given), or in the
bot's config, for a subprocess::

    [discord]
    api_base_url = "<fake.api_base>"
    gateway_url = "<fake.gateway_url>"

Run standalone (for a subprocess test or by hand)::

    python -m tests.kit.fake_discord   # prints {"api_base": ..., "gateway_url": ...}
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from tests.kit.discord_payloads import GUILD, SELF_ID, SELF_USER, guild_create
from tests.kit.discord_permissions import (
    ADD_REACTIONS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    channel_permissions,
)

__all__ = ["FakeDiscord", "SentMessage"]

API = "/api/v10"
#: Gateway intents bits (Gateway, "List of Intents"): the privileged three, and every bit
#: defined (0-25 less the unused 17-19 and 22-23).
GUILD_MEMBERS_INTENT = 1 << 1
GUILD_PRESENCES_INTENT = 1 << 8
GUILD_MESSAGE_REACTIONS_INTENT = 1 << 10
#: Events a connection gets only with an intent (Gateway, "List of Intents").
_NEEDS_INTENT = {e: GUILD_MESSAGE_REACTIONS_INTENT for e in (
    "MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE", "MESSAGE_REACTION_REMOVE_ALL",
    "MESSAGE_REACTION_REMOVE_EMOJI")}
MESSAGE_CONTENT_INTENT = 1 << 15
PRESENCES, MEMBERS, MESSAGE_CONTENT = (GUILD_PRESENCES_INTENT, GUILD_MEMBERS_INTENT,
                                       MESSAGE_CONTENT_INTENT)
PRIVILEGED = PRESENCES | MEMBERS | MESSAGE_CONTENT
ALL_INTENTS = sum(1 << b for b in (*range(0, 17), 20, 21, 24, 25))
#: IDENTIFY's ``large_threshold`` when a client leaves it out.
DEFAULT_LARGE_THRESHOLD = 50
#: Members per GUILD_MEMBERS_CHUNK.
CHUNK_SIZE = 1000
#: One request for all of a guild's members per bot per 30 s (change log 2025-08-14).
MEMBERS_REQUEST_INTERVAL_S = 30.0


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py decodes only that. Discord's
    # answers come through a proxy that sets Via; discord.py reads a 429 without it as a
    # Cloudflare ban.
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json", "Via": "1.1 google"})


class SentMessage:
    """One POST /channels/{id}/messages as received: the JSON body and the auth header, and
    the id Discord gave the message (None when it was refused)."""

    def __init__(self, channel_id: int, body: dict[str, Any], authorization: str) -> None:
        self.channel_id = channel_id
        self.body = body
        self.authorization = authorization
        self.message_id: int | None = None

    def __repr__(self) -> str:
        return f"SentMessage(channel_id={self.channel_id}, body={self.body!r})"


class _Shard:
    """One open gateway connection and what its IDENTIFY asked for."""

    def __init__(self, ws: web.WebSocketResponse, identify: dict[str, Any]) -> None:
        self.ws = ws
        self.identify = identify
        self.shard_id, self.shard_count = identify.get("shard", [0, 1])
        self.intents = int(identify.get("intents", 0))
        self.large_threshold = int(identify.get("large_threshold", DEFAULT_LARGE_THRESHOLD))

    def owns(self, guild_id: int) -> bool:
        return (guild_id >> 22) % self.shard_count == self.shard_id


class FakeDiscord:
    """The stand-in; use as ``async with FakeDiscord() as fake:``.

    Args:
        guilds: complete GUILD_CREATE payloads (every member, everyone online in
            ``presences``), cut per connection as Discord does and sent after READY to the
            shard that owns each.
        self_user: the bot's user (``/users/@me`` and READY).
        heartbeat_interval_ms: what HELLO asks for.
        token: the bot's token; when set, REST answers 401 and IDENTIFY is closed with 4004
            for any other (as Discord does). None accepts any ``Bot ...`` token.
        gateway_token: the token IDENTIFY must carry, when it differs from ``token``: the
            owner reset the token between the bot's login and its IDENTIFY (4004).
        privileged_intents: the privileged intents enabled for the app in the Developer
            Portal; IDENTIFY asking for another is closed with 4014.
        max_guilds_per_shard: a shard that would hold more guilds is closed with 4011
            (Discord's limit is 2,500).
        mounts: more routes, each ``mount(app, fake)`` called before the server starts
            (e.g. ``tests/kit/fake_interactions.py``: command sync and interactions).
        clock: seconds, monotonic: what the 30 s between two all-members requests of one
            guild is measured on (tests move their own).
        max_concurrency: ``session_start_limit.max_concurrency`` of ``GET /gateway/bot``:
            IDENTIFYs allowed per ``identify_interval_s`` (5 s on Discord) in each bucket
            ``shard_id % max_concurrency``, counted over every connection (every process of
            the bot). One more is answered INVALID_SESSION (opcode 9, not resumable), as
            Discord does (Gateway, "Rate Limiting").
        identify_clock: seconds, monotonic: what the IDENTIFY interval is measured on.
    """

    def __init__(self, *, guilds: list[dict[str, Any]] | None = None,
                 self_user: dict[str, Any] | None = None,
                 heartbeat_interval_ms: int = 45_000, token: str | None = None,
                 gateway_token: str | None = None,
                 privileged_intents: int = PRESENCES | MEMBERS | MESSAGE_CONTENT,
                 max_guilds_per_shard: int = 2500,
                 mounts: tuple[Any, ...] = (),
                 clock: Callable[[], float] = time.monotonic, max_concurrency: int = 1,
                 identify_interval_s: float = 5.0,
                 identify_clock: Callable[[], float] = time.monotonic) -> None:
        self.guilds = [guild_create(GUILD)] if guilds is None else guilds
        self.self_user = SELF_USER if self_user is None else self_user
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.token = token
        self.gateway_token = token if gateway_token is None else gateway_token
        self.privileged_intents = privileged_intents
        self.max_guilds_per_shard = max_guilds_per_shard
        #: Close codes sent to shards, in order.
        self.closed_with: list[int] = []
        self.mounts = mounts
        self.sent: list[SentMessage] = []
        self.send_status: dict[int, tuple[int, dict[str, Any]]] = {}
        self.history: dict[int, list[dict[str, Any]]] = {}
        #: ``(channel_id, query)`` of every history GET, for tests of what was asked.
        self.history_requests: list[tuple[int, dict[str, str]]] = []
        #: REST requests received, ``"METHOD /route/{template}"`` -> count.
        self.requests: collections.Counter[str] = collections.Counter()
        self.typing: list[int] = []
        #: ``(channel_id, message_id, emoji)`` of every reaction she added (204), in order.
        self.reactions: list[tuple[int, int, str]] = []
        #: Every reaction request as received, refused ones too, and its raw (encoded) path.
        self.reaction_requests: list[tuple[int, int, str]] = []
        self.reaction_paths: list[str] = []
        #: Reactions in one channel closer than this are answered 429 (Discord's reaction
        #: route allows about one per quarter second).
        self.reaction_interval_s = 0.25
        self._reacted_at: dict[int, float] = {}
        self.typing_status: dict[int, tuple[int, dict[str, Any]]] = {}
        self.typing_posted = asyncio.Event()
        #: The next REST requests answered with a global rate limit instead of being served,
        #: one per entry: ``(retry_after_s, via)``. As Discord answers it (Rate Limits,
        #: "Global Rate Limit"): 429, ``{"global": true, "retry_after": ...}``,
        #: ``X-RateLimit-Global: true``, ``X-RateLimit-Scope: global``, ``Retry-After``;
        #: ``via=False`` plays a proxy that drops the ``Via`` header Discord's answers carry.
        self.global_limits: list[tuple[float, bool]] = []
        self.identifies: list[dict[str, Any]] = []
        self.max_concurrency = max_concurrency
        self.identify_interval_s = identify_interval_s
        self.identify_clock = identify_clock
        #: ``(shard_id, identify_clock())`` of every IDENTIFY accepted, in order; shard ids of
        #: those answered INVALID_SESSION for coming too soon after another of their bucket.
        self.identified_at: list[tuple[int, float]] = []
        self.identify_refused: list[int] = []
        #: Set once an IDENTIFY has been refused for coming too soon.
        self.identify_refused_event = asyncio.Event()
        self.resumes: list[dict[str, Any]] = []
        self.member_requests: list[dict[str, Any]] = []
        #: Guild ids whose all-members request was answered RATE_LIMITED, in order.
        self.rate_limited: list[int] = []
        self.clock = clock
        self._members_asked_at: dict[str, float] = {}
        self.message_posted = asyncio.Event()
        #: Set once a RESUME has been answered with RESUMED.
        self.resumed = asyncio.Event()
        #: Set once a shard has been sent its READY and guilds.
        self.ready = asyncio.Event()
        self._shards: list[_Shard] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(7_000_000)
        self._sessions = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every REST request, by method and route template (``POST
        /channels/{cid}/messages``), for tests and the REST-budget bench."""
        resource = request.match_info.route.resource
        if request.path.startswith(API) and resource is not None:
            self.requests[f"{request.method} {resource.canonical[len(API):]}"] += 1
            if self.global_limits:
                return self._global_limit(*self.global_limits.pop(0))
        return await handler(request)

    @staticmethod
    def _global_limit(retry_after: float, via: bool) -> web.Response:
        headers = {"Content-Type": "application/json", "X-RateLimit-Global": "true",
                   "X-RateLimit-Scope": "global", "Retry-After": str(max(1, round(retry_after)))}
        if via:
            headers["Via"] = "1.1 google"
        body = {"message": "You are being rate limited.", "retry_after": retry_after,
                "global": True}
        return web.Response(body=json.dumps(body).encode(), status=429, headers=headers)

    async def start(self) -> None:
        app = web.Application(middlewares=[self._count])
        app.router.add_get(f"{API}/users/@me", self._me)
        app.router.add_get(f"{API}/oauth2/applications/@me", self._application)
        app.router.add_get(f"{API}/gateway", self._gateway_info)
        app.router.add_get(f"{API}/gateway/bot", self._gateway_info)
        app.router.add_post(f"{API}/channels/{{cid}}/messages", self._post_message)
        app.router.add_get(f"{API}/channels/{{cid}}/messages", self._get_messages)
        app.router.add_post(f"{API}/channels/{{cid}}/typing", self._post_typing)
        app.router.add_put(f"{API}/channels/{{cid}}/messages/{{mid}}/reactions/{{emoji}}/@me",
                           self._put_reaction)
        app.router.add_get(f"{API}/channels/{{cid}}", self._get_channel)
        app.router.add_get("/gateway", self._gateway)
        for mount in self.mounts:
            mount(app, self)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for shard in list(self._shards):
            await shard.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- REST ---------------------------------------------------------------------------

    async def _me(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bot ") or (self.token is not None and auth != f"Bot {self.token}"):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(self.self_user)

    async def _application(self, request: web.Request) -> web.Response:
        return _json({
            "id": str(SELF_ID), "name": "miku", "icon": None, "description": "",
            "bot_public": False, "bot_require_code_grant": False, "verify_key": "00",
            "owner": {k: v for k, v in self.self_user.items() if k != "bot"}, "flags": 0,
            "summary": "", "team": None,
        })

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return _json({
            "url": self.gateway_url, "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0,
                                    "max_concurrency": self.max_concurrency},
        })

    def _channel(self, cid: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """``(guild, channel)`` payloads of a channel or thread (archived ones included)."""
        for g in self.guilds:
            for ch in [*g.get("channels", []), *g.get("threads", [])]:
                if ch["id"] == str(cid):
                    return g, ch
        return None

    async def _get_channel(self, request: web.Request) -> web.Response:
        """Get Channel: any channel or thread of the guilds, archived threads included (the
        gateway leaves those out); 404 10003 for an unknown one."""
        found = self._channel(int(request.match_info["cid"]))
        if found is None:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        guild, channel = found
        return _json({**channel, "guild_id": guild["id"]})

    async def _unarchive(self, guild: dict[str, Any], thread: dict[str, Any]) -> None:
        """A message to an archived, unlocked thread unarchives it: THREAD_UPDATE to the
        shard that owns the guild (Threads, "Archiving")."""
        thread["thread_metadata"] = {**thread["thread_metadata"], "archived": False}
        await self.dispatch_to_owner("THREAD_UPDATE", {**thread, "guild_id": guild["id"]})

    async def _post_message(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["cid"])
        body = await request.json()
        self.sent.append(SentMessage(cid, body, request.headers.get("Authorization", "")))
        self.message_posted.set()
        status, payload = self.send_status.get(cid, (200, {}))
        if status != 200:
            return _json(payload, status=status)
        reference = body.get("message_reference")
        refused = self._refusal(cid, READ_MESSAGE_HISTORY if reference else 0)
        if refused is not None:
            return refused
        found = self._channel(cid)
        meta = found[1].get("thread_metadata") if found is not None else None
        if found is not None and meta and meta.get("archived"):
            if meta.get("locked"):
                return _json({"message": "Thread is locked", "code": 50083}, status=400)
            await self._unarchive(*found)
        if reference and not self._exists(cid, reference.get("message_id")):
            if reference.get("fail_if_not_exists", True):
                return _json({"message": "Invalid Form Body", "code": 50035, "errors": {
                    "message_reference": {"_errors": [{
                        "code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                        "message": "Unknown message"}]}}}, status=400)
            reference = None  # posted as a plain message, pointing at nothing
        message = {
            "id": str(next(self._ids)), "type": 19 if reference else 0,
            "channel_id": str(cid), "author": self.self_user, "content": body.get("content", ""),
            "timestamp": "2026-11-27T16:00:00.000000+00:00", "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": False, "flags": 0, "components": [],
        }
        self.sent[-1].message_id = int(message["id"])
        return _json(message)

    def _guild(self, guild_id: Any) -> dict[str, Any] | None:
        return next((g for g in self.guilds if g["id"] == str(guild_id)), None)

    def _exists(self, channel_id: int, message_id: Any) -> bool:
        return any(m["id"] == str(message_id) for m in self.history.get(channel_id, []))

    def _record(self, event: str, data: dict[str, Any]) -> None:
        """What a dispatched event does to the channel's history: a created message exists
        from then on, a deleted one no more."""
        if event == "MESSAGE_CREATE":
            channel = self.history.setdefault(int(data["channel_id"]), [])
            if not any(m["id"] == data["id"] for m in channel):
                channel.append(data)
        elif event in ("CHANNEL_UPDATE", "THREAD_UPDATE", "CHANNEL_CREATE", "THREAD_CREATE"):
            guild = self._guild(data.get("guild_id"))
            if guild is not None:
                key = "threads" if "thread_metadata" in data else "channels"
                rest = [c for c in guild.get(key, []) if c["id"] != data["id"]]
                guild[key] = [*rest, {k: v for k, v in data.items() if k != "guild_id"}]
        elif event in ("CHANNEL_DELETE", "THREAD_DELETE"):
            guild = self._guild(data.get("guild_id"))
            if guild is not None:
                for key in ("channels", "threads"):
                    guild[key] = [c for c in guild.get(key, []) if c["id"] != data["id"]]
        elif event in ("GUILD_ROLE_UPDATE", "GUILD_ROLE_CREATE"):
            guild = self._guild(data.get("guild_id"))
            if guild is not None:
                role = data["role"]
                guild["roles"] = [*(r for r in guild["roles"] if r["id"] != role["id"]), role]
        elif event == "GUILD_MEMBER_UPDATE":
            guild = self._guild(data.get("guild_id"))
            member = None if guild is None else next(
                (m for m in guild.get("members", []) if m["user"]["id"] == data["user"]["id"]),
                None)
            if member is not None:
                member.update({k: v for k, v in data.items() if k != "guild_id"})
        elif event in ("MESSAGE_DELETE", "MESSAGE_DELETE_BULK"):
            gone = set(data.get("ids") or [data.get("id")])
            cid = int(data["channel_id"])
            self.history[cid] = [m for m in self.history.get(cid, []) if m["id"] not in gone]

    async def _get_messages(self, request: web.Request) -> web.Response:
        """Get Channel Messages: newest first; ``before``/``after`` compare snowflakes (any id,
        not only an existing message's); ``limit`` 1-100, default 50."""
        cid = int(request.match_info["cid"])
        self.history_requests.append((cid, dict(request.query)))
        status, payload = self.send_status.get(cid, (200, {}))
        if status != 200:
            return _json(payload, status=status)
        limit = int(request.query.get("limit", "50"))
        if not 1 <= limit <= 100:
            return _json({"message": "Invalid Form Body", "code": 50035}, status=400)
        found = self._channel(cid)
        if found is None:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        perms = channel_permissions(found[0], found[1], SELF_ID, found[0].get("channels", []))
        if not perms & VIEW_CHANNEL:
            return _json({"message": "Missing Access", "code": 50001}, status=403)
        if not perms & READ_MESSAGE_HISTORY:
            return _json([])  # documented: no messages without Read Message History
        messages = sorted(self.history.get(cid, []), key=lambda m: int(m["id"]), reverse=True)
        if "before" in request.query:
            before = int(request.query["before"])
            messages = [m for m in messages if int(m["id"]) < before]
        if "after" in request.query:
            after = int(request.query["after"])
            messages = [m for m in messages if int(m["id"]) > after][-limit:]
        return _json(messages[:limit])

    async def _put_reaction(self, request: web.Request) -> web.Response:
        """Create Reaction (``resources/message.mdx``): 204 on success. 404 10003 for an
        unknown channel, 403 50001 without View Channel, 404 10008 for a message the channel
        does not have, 400 10014 for an emoji Discord does not know (a custom ``name:id``
        not in the guild, or text that is no emoji), 403 50013 without Read Message History,
        or without Add Reactions when nobody reacted with that emoji yet, and 429 (with
        ``retry_after``) for a second reaction in the channel within
        ``reaction_interval_s``."""
        cid = int(request.match_info["cid"])
        mid = int(request.match_info["mid"])
        emoji = request.match_info["emoji"]  # aiohttp gives the path decoded
        self.reaction_requests.append((cid, mid, emoji))
        self.reaction_paths.append(request.raw_path)
        found = self._channel(cid)
        if found is None:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        guild, channel = found
        perms = channel_permissions(guild, channel, SELF_ID, guild.get("channels", []))
        if not perms & VIEW_CHANNEL:
            return _json({"message": "Missing Access", "code": 50001}, status=403)
        message = next((m for m in self.history.get(cid, []) if m["id"] == str(mid)), None)
        if message is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        if not _known_emoji(emoji, guild):
            return _json({"message": "Unknown Emoji", "code": 10014}, status=400)
        existing = {r["emoji"]["name"] for r in message.get("reactions", [])}
        if not perms & READ_MESSAGE_HISTORY or (emoji not in existing
                                                and not perms & ADD_REACTIONS):
            return _json({"message": "Missing Permissions", "code": 50013}, status=403)
        now = self.clock()
        last = self._reacted_at.get(cid)
        if last is not None and now - last < self.reaction_interval_s:
            wait = round(self.reaction_interval_s - (now - last), 3)
            return _json({"message": "You are being rate limited.", "retry_after": wait,
                          "global": False}, status=429)
        self._reacted_at[cid] = now
        self.reactions.append((cid, mid, emoji))
        message.setdefault("reactions", []).append(
            {"count": 1, "me": True, "emoji": {"id": None, "name": emoji}})
        return web.Response(status=204)

    async def _post_typing(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["cid"])
        self.typing.append(cid)
        self.typing_posted.set()
        status, payload = self.typing_status.get(cid, (204, {}))
        if status != 204:
            return _json(payload, status=status)
        refused = self._refusal(cid)
        if refused is not None:
            return refused
        return web.Response(status=204, headers={"Via": "1.1 google"})

    # --- gateway ------------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH to every connected shard (all of them own the test's guilds)."""
        self._record(event, data)
        need = _NEEDS_INTENT.get(event, 0)
        for shard in list(self._shards):
            if not shard.ws.closed and shard.intents & need == need:
                await self._send(shard.ws, event, data)

    async def dispatch_to_owner(self, event: str, data: dict[str, Any]) -> int:
        """Send a DISPATCH of a guild's event only to the connection of the shard that owns
        the guild, ``(guild_id >> 22) % shard_count``, as Discord does (Gateway, "Sharding").

        Returns:
            How many connections it was sent to (0 when no connected shard owns the guild).
        """
        self._record(event, data)
        guild_id = int(data["guild_id"])
        sent = 0
        need = _NEEDS_INTENT.get(event, 0)
        for shard in list(self._shards):
            if not shard.ws.closed and shard.owns(guild_id) and shard.intents & need == need:
                await self._send(shard.ws, event, data)
                sent += 1
        return sent

    async def time_out_self(self, guild_id: int, until: str | None) -> None:
        """A moderator times her out in ``guild_id`` until ``until`` (ISO 8601; None ends it):
        GUILD_MEMBER_UPDATE of her member to the owning shard, and her messages to the guild's
        channels refused 403 50013 until then, as Discord masks a timed-out member's
        permissions (everything but View Channel and Read Message History)."""
        guild = next(g for g in self.guilds if g["id"] == str(guild_id))
        me = next(m for m in guild["members"] if m["user"]["id"] == str(SELF_ID))
        me["communication_disabled_until"] = until
        await self.dispatch_to_owner("GUILD_MEMBER_UPDATE", {**me, "guild_id": str(guild_id)})

    def _refusal(self, channel_id: int, more: int = 0) -> web.Response | None:
        """Discord's answer to her sending in ``channel_id`` without the permissions for it
        (computed from the guild payloads: roles, overwrites, a timeout), else None: 404
        10003 for a channel she does not know, 403 50001 without View Channel, 403 50013
        without Send Messages (in Threads, for a thread) or ``more``."""
        found = self._channel(channel_id)
        if found is None:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        guild, channel = found
        perms = channel_permissions(guild, channel, SELF_ID, guild.get("channels", []))
        if not perms & VIEW_CHANNEL:
            return _json({"message": "Missing Access", "code": 50001}, status=403)
        send = SEND_MESSAGES_IN_THREADS if "thread_metadata" in channel else SEND_MESSAGES
        if perms & (send | more) != send | more:
            return _json({"message": "Missing Permissions", "code": 50013}, status=403)
        return None

    async def reconnect(self) -> None:
        """Opcode 7 RECONNECT to every shard: the client should reconnect and RESUME."""
        for shard in list(self._shards):
            await shard.ws.send_str(json.dumps({"op": 7, "d": None}))

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Opcode 9 INVALID_SESSION to every shard; ``resumable=False`` makes the client
        IDENTIFY again: a new session, with a new READY and GUILD_CREATEs."""
        for shard in list(self._shards):
            await shard.ws.send_str(json.dumps({"op": 9, "d": resumable}))

    async def _send(self, ws: web.WebSocketResponse, event: str, data: Any) -> None:
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {
            "heartbeat_interval": self.heartbeat_interval_ms}}))
        shard: _Shard | None = None
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    identify = frame["d"]
                    self.identifies.append(identify)
                    refused = self._identify_refused(identify)
                    if refused is not None:
                        self.closed_with.append(refused[0])
                        await ws.close(code=refused[0], message=refused[1].encode())
                        break
                    if self._identify_too_soon(identify):
                        await ws.send_str(json.dumps({"op": 9, "d": False}))
                        continue
                    shard = _Shard(ws, identify)
                    self._shards.append(shard)
                    await self._send_ready(shard)
                    self.ready.set()
                elif op == 6:
                    # Nothing was missed while away: RESUMED replays no events.
                    self.resumes.append(frame["d"])
                    shard = self._resumed_shard(ws, frame["d"])
                    self._shards.append(shard)
                    await self._send(ws, "RESUMED", {})
                    self.resumed.set()
                elif op == 8 and shard is not None:
                    self.member_requests.append(frame["d"])
                    await self._send_chunks(shard, frame["d"])
                # op 3 (presence): nothing to answer.
        finally:
            if shard is not None and shard in self._shards:
                self._shards.remove(shard)
        return ws

    def _identify_refused(self, identify: dict[str, Any]) -> tuple[int, str] | None:
        """The close code Discord answers a bad IDENTIFY with (Opcodes and Status Codes:
        gateway close event codes), or None when it is accepted."""
        if self.gateway_token is not None and identify.get("token") != self.gateway_token:
            return 4004, "Authentication failed."
        intents = int(identify.get("intents", 0))
        if intents & ~ALL_INTENTS:
            return 4013, "Invalid intent(s)."
        if intents & PRIVILEGED & ~self.privileged_intents:
            return 4014, "Disallowed intent(s)."
        shard_id, shard_count = identify.get("shard", [0, 1])
        if shard_count < 1 or not 0 <= shard_id < shard_count:
            return 4010, "Invalid shard."
        mine = sum(1 for g in self.guilds if (int(g["id"]) >> 22) % shard_count == shard_id)
        if mine > self.max_guilds_per_shard:
            return 4011, "Sharding required."
        return None

    def _identify_too_soon(self, identify: dict[str, Any]) -> bool:
        """An IDENTIFY within ``identify_interval_s`` of ``max_concurrency`` others of its
        bucket (any connection): refused (recorded); else recorded as accepted."""
        shard_id = int(identify.get("shard", [0, 1])[0])
        bucket = shard_id % self.max_concurrency
        now = self.identify_clock()
        recent = [at for sid, at in self.identified_at if sid % self.max_concurrency == bucket
                  and now - at < self.identify_interval_s]
        if recent:  # one per bucket per interval
            self.identify_refused.append(shard_id)
            self.identify_refused_event.set()
            return True
        self.identified_at.append((shard_id, now))
        return False

    def _resumed_shard(self, ws: web.WebSocketResponse, resume: dict[str, Any]) -> _Shard:
        # The session id says which shard it was ("fake-session-<n>-<shard>").
        shard_id = int(str(resume.get("session_id", "0")).rsplit("-", 1)[-1])
        identify = next((i for i in reversed(self.identifies)
                         if i.get("shard", [0, 1])[0] == shard_id), {})
        return _Shard(ws, identify)

    def _visible_guild(self, shard: _Shard, complete: dict[str, Any]) -> dict[str, Any]:
        """GUILD_CREATE of ``complete`` as this connection would get it from Discord."""
        g = dict(complete)
        count = int(g.get("member_count", len(g.get("members", []))))
        large = count > shard.large_threshold
        g["large"] = large
        g["member_count"] = count
        online = {p["user"]["id"] for p in g.get("presences", [])
                  if p.get("status", "offline") != "offline"}
        members = g.get("members", [])
        if not shard.intents & GUILD_PRESENCES_INTENT:
            members = [m for m in members if m["user"]["id"] == str(SELF_ID)]
            g["presences"] = []
        elif large:
            members = [m for m in members
                       if m["user"]["id"] in online or m["user"]["id"] == str(SELF_ID)
                       or m.get("roles") or m.get("nick")]
        g["members"] = members
        # Only active threads: archived ones are fetched when needed (Guild Create).
        g["threads"] = [t for t in g.get("threads", [])
                        if not t.get("thread_metadata", {}).get("archived")]
        return g

    async def _send_ready(self, shard: _Shard) -> None:
        mine = [g for g in self.guilds if shard.owns(int(g["id"]))]
        session = f"fake-session-{next(self._sessions)}-{shard.shard_id}"
        await self._send(shard.ws, "READY", {
            "v": 10, "user": self.self_user, "session_id": session,
            "resume_gateway_url": self.gateway_url, "shard": [shard.shard_id, shard.shard_count],
            "guilds": [{"id": g["id"], "unavailable": True} for g in mine],
            "application": {"id": str(SELF_ID), "flags": 0}, "private_channels": [],
            "relationships": [], "user_settings": {}, "presences": [],
        })
        for g in mine:
            await self._send(shard.ws, "GUILD_CREATE", self._visible_guild(shard, g))

    async def _send_chunks(self, shard: _Shard, request: dict[str, Any]) -> None:
        """GUILD_MEMBERS_CHUNK answers to REQUEST_GUILD_MEMBERS for the whole member list."""
        guild = next((g for g in self.guilds if g["id"] == str(request["guild_id"])), None)
        if guild is None or request.get("query") != "" or request.get("limit") != 0:
            return  # only the whole list is served here
        if not shard.intents & GUILD_MEMBERS_INTENT:
            return  # Discord refuses the whole list without GUILD_MEMBERS
        now = self.clock()
        last = self._members_asked_at.get(guild["id"])
        if last is not None and now - last < MEMBERS_REQUEST_INTERVAL_S:
            self.rate_limited.append(int(guild["id"]))
            await self._send(shard.ws, "RATE_LIMITED", {
                "opcode": 8, "retry_after": MEMBERS_REQUEST_INTERVAL_S - (now - last),
                "meta": {"guild_id": guild["id"], "nonce": request.get("nonce")}})
            return
        self._members_asked_at[guild["id"]] = now
        members = guild.get("members", [])
        presences = bool(request.get("presences")) and bool(
            shard.intents & GUILD_PRESENCES_INTENT)
        by_user = {p["user"]["id"]: p for p in guild.get("presences", [])}
        count = max(1, -(-len(members) // CHUNK_SIZE))
        for index in range(count):
            part = members[index * CHUNK_SIZE:(index + 1) * CHUNK_SIZE]
            chunk: dict[str, Any] = {"guild_id": guild["id"], "members": part,
                                     "chunk_index": index, "chunk_count": count}
            if presences:
                chunk["presences"] = [by_user[m["user"]["id"]] for m in part
                                      if m["user"]["id"] in by_user]
            if "nonce" in request:
                chunk["nonce"] = request["nonce"]
            await self._send(shard.ws, "GUILD_MEMBERS_CHUNK", chunk)


def _known_emoji(emoji: str, guild: dict[str, Any]) -> bool:
    """A custom emoji (``name:id``) of the guild, or Unicode that is an emoji (no letters,
    digits or punctuation of ASCII: Discord answers 10014 to ``:smile:`` or ``ok``)."""
    _, sep, ident = emoji.partition(":")
    if sep:
        return any(e.get("id") == ident for e in guild.get("emojis", []))
    return bool(emoji) and all(ord(ch) > 0x7F for ch in emoji)


async def _serve_forever() -> None:
    async with FakeDiscord() as fake:
        print(json.dumps({"api_base": fake.api_base, "gateway_url": fake.gateway_url}),
              flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(_serve_forever())
    except KeyboardInterrupt:
        pass
