"""Slash commands on the loopback Discord: the routes Discord documents, and interaction
payloads shaped as Discord sends them (API v10).

Mounted on ``tests/kit/fake_discord.py``'s server::

    routes = FakeCommands()
    async with FakeDiscord(mounts=(routes.mount,)) as fake: ...

Routes (docs/interactions/Application_Commands.md, Receiving_and_Responding.md):

* ``PUT /applications/{application_id}/commands``: bulk overwrite of the global commands;
  each body is recorded in ``syncs``, and the commands (with ids) become what ``GET`` lists.
* ``GET /applications/{application_id}/commands``: the global commands.
* ``POST /interactions/{interaction_id}/{token}/callback``: the answer to an interaction;
  recorded in ``callbacks`` (and queued for ``next_callback``). A token that was never issued
  is a 404 "Unknown interaction" (code 10062), as Discord answers; a second answer to the same
  interaction is a 400 (code 40060, "Interaction has already been acknowledged").

``interaction(...)`` builds an INTERACTION_CREATE ``d`` for ``fake.dispatch``: the member's
permissions are a string bitfield, channel options are resolved in ``data.resolved.channels``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import web

from tests.kit.discord_payloads import GUILD, SELF_ID, SELF_USER, member

__all__ = ["MANAGE_GUILD", "Callback", "FakeCommands", "autocomplete", "interaction"]

API = "/api/v10"
#: Permission bits (docs/topics/Permissions.md).
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11
VIEW_CHANNEL = 1 << 10
READ_HISTORY = 1 << 16
MEMBER_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | READ_HISTORY

# Option types (Application_Commands.md, "Application Command Option Type").
SUB_COMMAND, STRING, INTEGER, BOOLEAN, CHANNEL, NUMBER = 1, 3, 4, 5, 7, 10

_ids = itertools.count(880_000_000)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json"})


class Callback:
    """One interaction answer as received: ``type`` 4 is a message (``data.content``,
    ``data.flags`` 64 when ephemeral), 8 autocomplete choices (``data.choices``)."""

    def __init__(self, interaction_id: int, token: str, body: dict[str, Any]) -> None:
        self.interaction_id = interaction_id
        self.token = token
        self.body = body

    @property
    def type(self) -> int:
        return int(self.body["type"])

    @property
    def content(self) -> str:
        return str(self.body.get("data", {}).get("content", ""))

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.body.get("data", {}).get("flags", 0)) & 64)

    def __repr__(self) -> str:
        return f"Callback({self.interaction_id}, {self.body!r})"


class FakeCommands:
    """The command routes' state: what was synced, what was answered."""

    def __init__(self) -> None:
        self.syncs: list[list[dict[str, Any]]] = []
        self.commands: list[dict[str, Any]] = []
        self.callbacks: list[Callback] = []
        self.issued: dict[int, str] = {}
        self._answered: set[int] = set()
        self._queue: asyncio.Queue[Callback] = asyncio.Queue()

    def mount(self, app: web.Application, fake: Any) -> None:
        """Add the routes to the stand-in's application (``FakeDiscord(mounts=...)``)."""
        base = f"{API}/applications/{{app_id}}/commands"
        app.router.add_put(base, self._put_commands)
        app.router.add_get(base, self._get_commands)
        app.router.add_post(f"{API}/interactions/{{iid}}/{{token}}/callback", self._callback)

    async def next_callback(self) -> Callback:
        """The next answer, waiting for it."""
        return await self._queue.get()

    async def _put_commands(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bot "):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        body = await request.json()
        self.syncs.append(body)
        app_id = request.match_info["app_id"]
        self.commands = [{**cmd, "id": str(next(_ids)), "application_id": app_id,
                          "version": str(next(_ids)), "type": cmd.get("type", 1)}
                         for cmd in body]
        return _json(self.commands)

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self.commands)

    async def _callback(self, request: web.Request) -> web.Response:
        iid = int(request.match_info["iid"])
        token = request.match_info["token"]
        if self.issued.get(iid) != token:
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        if iid in self._answered:
            return _json({"message": "Interaction has already been acknowledged.",
                          "code": 40060}, status=400)
        self._answered.add(iid)
        body = await request.json()
        cb = Callback(iid, token, body)
        self.callbacks.append(cb)
        self._queue.put_nowait(cb)
        out: dict[str, Any] = {"interaction": {
            "id": str(iid), "type": 2 if body["type"] != 8 else 4,
            "response_message_id": None, "response_message_loading": False,
            "response_message_ephemeral": cb.ephemeral}}
        if body["type"] == 4:
            mid = str(next(_ids))
            out["interaction"]["response_message_id"] = mid
            out["resource"] = {"type": 4, "message": {
                "id": mid, "type": 20, "channel_id": "0",
                "author": SELF_USER, "content": cb.content,
                "timestamp": "2026-12-01T12:00:00.000000+00:00", "edited_timestamp": None,
                "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
                "attachments": [], "embeds": [], "pinned": False,
                "flags": int(body.get("data", {}).get("flags", 0)), "components": []}}
        return _json(out)

    def interaction(self, *args: Any, **kw: Any) -> dict[str, Any]:
        """``interaction(...)`` whose token this stand-in will accept."""
        d = interaction(*args, **kw)
        self.issued[int(d["id"])] = d["token"]
        return d

    def autocomplete(self, *args: Any, **kw: Any) -> dict[str, Any]:
        """``autocomplete(...)`` whose token this stand-in will accept."""
        d = autocomplete(*args, **kw)
        self.issued[int(d["id"])] = d["token"]
        return d


def _option(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        kind = BOOLEAN
    elif isinstance(value, int):
        kind = INTEGER
    elif isinstance(value, float):
        kind = NUMBER
    else:
        kind = STRING
    return {"name": name, "type": kind, "value": value}


def interaction(subcommand: str, options: dict[str, Any] | None = None, *,
                user_id: int, permissions: int = MEMBER_PERMISSIONS, guild_id: int = GUILD,
                channel_id: int, group: str = "miku",
                channels: dict[str, dict[str, Any]] | None = None,
                kind: int = 2) -> dict[str, Any]:
    """An APPLICATION_COMMAND interaction: ``/<group> <subcommand> options...``.

    ``channels`` are channel options: ``{option name: partial channel}`` (id, name, type,
    permissions), sent as the option's id and in ``data.resolved.channels``.
    """
    opts = [_option(k, v) for k, v in (options or {}).items()]
    resolved: dict[str, Any] = {}
    for name, ch in (channels or {}).items():
        opts.append({"name": name, "type": CHANNEL, "value": ch["id"]})
        resolved.setdefault("channels", {})[ch["id"]] = ch
    data: dict[str, Any] = {"id": str(next(_ids)), "name": group, "type": 1,
                            "options": [{"name": subcommand, "type": SUB_COMMAND,
                                         "options": opts}]}
    if resolved:
        data["resolved"] = resolved
    iid = next(_ids)
    return {
        "id": str(iid), "application_id": str(SELF_ID), "type": kind, "data": data,
        "guild_id": str(guild_id),
        "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
        "channel_id": str(channel_id),
        "channel": {"id": str(channel_id), "type": 0, "guild_id": str(guild_id),
                    "name": "general", "position": 0, "permission_overwrites": [],
                    "nsfw": False, "parent_id": None, "flags": 0},
        "member": {**member(user_id), "permissions": str(permissions)},
        "token": f"interaction-token-{iid}", "version": 1,
        "app_permissions": str(MEMBER_PERMISSIONS), "locale": "en-US",
        "guild_locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id)}, "context": 0,
        "attachment_size_limit": 10_485_760,
    }


def autocomplete(subcommand: str, option: str, typed: str, **kw: Any) -> dict[str, Any]:
    """An APPLICATION_COMMAND_AUTOCOMPLETE interaction: ``option`` focused, ``typed`` so far."""
    d = interaction(subcommand, {option: typed}, kind=4, **kw)
    d["data"]["options"][0]["options"][0]["focused"] = True
    return d


def text_channel_option(cid: int, name: str = "miku-chat") -> dict[str, Any]:
    """A channel option's resolved partial channel (id, name, type, permissions)."""
    return {"id": str(cid), "name": name, "type": 0, "permissions": str(MEMBER_PERMISSIONS)}

