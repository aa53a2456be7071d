"""Slash commands on the loopback Discord: the routes Discord documents, and interaction
payloads shaped as Discord sends them (API v10).

Mounted on ``tests/kit/fake_discord.py``'s server::

    routes = FakeCommands()
    async with FakeDiscord(mounts=(routes.mount,)) as fake: ...

Routes (docs/interactions/application-commands.mdx, receiving-and-responding.mdx):

* ``PUT /applications/{application_id}/commands``: bulk overwrite of the global commands.
  A body that breaks Discord's rules for commands (``tests/kit/command_rules.py``: names,
  lengths, counts, option order, total size) is refused whole with 400 50035 and Discord's
  error tree, and recorded in ``refused``; an accepted one is recorded in ``syncs`` and its
  commands (with ids) become what ``GET`` lists.
* ``GET /applications/{application_id}/commands``: the global commands.
* ``POST /interactions/{interaction_id}/{token}/callback``: the acknowledgement, recorded in
  ``callbacks`` (and queued for ``next_callback``). One per interaction, within 3 s of it:
  later, or with a token never issued, it is a 404 "Unknown interaction" (code 10062); a
  second one is a 400 (code 40060, "Interaction has already been acknowledged").
* ``POST /webhooks/{application_id}/{token}``: a follow-up message, only once the interaction
  was acknowledged (else 404 10015 "Unknown Webhook") and within 15 minutes of it (else 401
  50027). The first follow-up after an ephemeral deferral is ephemeral.

What a member is shown (a type-4 message, type-8 choices, a follow-up) is recorded in
``answers`` and queued for ``next_answer``; refused callbacks and follow-ups in ``rejected``.

``FakeCommands.interaction(...)`` refuses (AssertionError) an interaction for a command,
subcommand or option the registered tree does not have: Discord sends none.
``interaction(...)`` builds an INTERACTION_CREATE ``d`` for ``fake.dispatch``: the member's
permissions are a string bitfield, channel options are resolved in ``data.resolved.channels``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.kit.command_rules import refusal
from tests.kit.discord_payloads import GUILD, SELF_ID, SELF_USER, member

__all__ = ["ACK_WINDOW_S", "MANAGE_GUILD", "Answer", "Callback", "FakeCommands", "autocomplete",
           "interaction"]

API = "/api/v10"
#: Permission bits (docs/topics/Permissions.md).
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11
VIEW_CHANNEL = 1 << 10
READ_HISTORY = 1 << 16
MEMBER_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | READ_HISTORY

#: Interaction callback types (Receiving and Responding, "Interaction Callback Type").
MESSAGE, DEFERRED, AUTOCOMPLETE_RESULT = 4, 5, 8
#: Message flags: EPHEMERAL, LOADING (a deferral's "thinking…").
EPHEMERAL, LOADING = 1 << 6, 1 << 7
#: An interaction must be acknowledged within 3 s; its token works for 15 minutes.
ACK_WINDOW_S = 3.0
TOKEN_LIFETIME_S = 15 * 60.0

# Option types (Application_Commands.md, "Application Command Option Type").
SUB_COMMAND, STRING, INTEGER, BOOLEAN, CHANNEL, NUMBER = 1, 3, 4, 5, 7, 10

_ids = itertools.count(880_000_000)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json"})


class Callback:
    """One interaction callback (the acknowledgement) as received: ``type`` 4 is a message
    (``data.content``, ``data.flags`` 64 when ephemeral), 5 a deferral (the answer follows as
    a follow-up), 8 autocomplete choices (``data.choices``)."""

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
        return bool(int((self.body.get("data") or {}).get("flags", 0)) & EPHEMERAL)

    def __repr__(self) -> str:
        return f"Callback({self.interaction_id}, {self.body!r})"


class Answer:
    """What the member sees: the message of a type-4 callback, the choices of a type-8 one, or
    a follow-up after a deferral (``deferred``). ``data`` is the message's JSON as sent."""

    def __init__(self, interaction_id: int, data: dict[str, Any], *, ephemeral: bool,
                 deferred: bool) -> None:
        self.interaction_id = interaction_id
        self.data = data
        self.ephemeral = ephemeral
        self.deferred = deferred

    @property
    def content(self) -> str:
        return str(self.data.get("content", ""))

    @property
    def choices(self) -> list[Any]:
        return [c["value"] for c in self.data.get("choices", [])]

    def __repr__(self) -> str:
        return (f"Answer({self.interaction_id}, deferred={self.deferred}, "
                f"ephemeral={self.ephemeral}, {self.data!r})")


class FakeCommands:
    """The command routes' state: what was synced, acknowledged and answered.

    Args:
        clock: seconds, monotonic; an interaction is issued at ``clock()`` and must be
            acknowledged before ``ACK_WINDOW_S`` later, its follow-ups sent before
            ``TOKEN_LIFETIME_S``. Tests move a clock of their own to cross either.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.syncs: list[list[dict[str, Any]]] = []
        #: Bodies of refused syncs and Discord's answer to each.
        self.refused: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.callbacks: list[Callback] = []
        self.answers: list[Answer] = []
        #: Refused callbacks and follow-ups: ``(interaction id, status, code)``.
        self.rejected: list[tuple[int, int, int]] = []
        self.issued: dict[int, tuple[str, float]] = {}
        self._acked: dict[int, Callback] = {}
        self._followups: dict[int, int] = {}
        self._callback_queue: asyncio.Queue[Callback] = asyncio.Queue()
        self._answer_queue: asyncio.Queue[Answer] = asyncio.Queue()
        self._rejected_queue: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue()

    def mount(self, app: web.Application, fake: Any) -> None:
        """Add the routes to the stand-in's application (``FakeDiscord(mounts=...)``)."""
        base = f"{API}/applications/{{app_id}}/commands"
        app.router.add_put(base, self._put_commands)
        app.router.add_get(base, self._get_commands)
        app.router.add_post(f"{API}/interactions/{{iid}}/{{token}}/callback", self._callback)
        app.router.add_post(f"{API}/webhooks/{{app_id}}/{{token}}", self._followup)

    async def next_callback(self) -> Callback:
        """The next acknowledgement (any type), waiting for it."""
        return await self._callback_queue.get()

    async def next_answer(self) -> Answer:
        """The next thing a member is shown (a message, choices or a follow-up)."""
        return await self._answer_queue.get()

    async def next_rejection(self) -> tuple[int, int, int]:
        """The next refused callback or follow-up: ``(interaction id, status, code)``."""
        return await self._rejected_queue.get()

    async def _put_commands(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bot "):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        body = await request.json()
        refused = refusal(body)
        if refused is not None:
            self.refused.append({"body": body, "answer": refused})
            return _json(refused, status=400)
        self.syncs.append(body)
        app_id = request.match_info["app_id"]
        self.commands = [{**cmd, "id": str(next(_ids)), "application_id": app_id,
                          "version": str(next(_ids)), "type": cmd.get("type", 1)}
                         for cmd in body]
        return _json(self.commands)

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self.commands)

    def _reject(self, iid: int, status: int, code: int, message: str) -> web.Response:
        self.rejected.append((iid, status, code))
        self._rejected_queue.put_nowait((iid, status, code))
        return _json({"message": message, "code": code}, status=status)

    async def _callback(self, request: web.Request) -> web.Response:
        """Create Interaction Response: once per interaction, within 3 s of it."""
        iid = int(request.match_info["iid"])
        token = request.match_info["token"]
        issued = self.issued.get(iid)
        if issued is None or issued[0] != token or self.clock() - issued[1] > ACK_WINDOW_S:
            return self._reject(iid, 404, 10062, "Unknown interaction")
        if iid in self._acked:
            return self._reject(iid, 400, 40060,
                                "Interaction has already been acknowledged.")
        body = await request.json()
        cb = Callback(iid, token, body)
        self._acked[iid] = cb
        self.callbacks.append(cb)
        self._callback_queue.put_nowait(cb)
        kind = cb.type
        if kind in (MESSAGE, AUTOCOMPLETE_RESULT):
            self._show(Answer(iid, body.get("data") or {}, ephemeral=cb.ephemeral,
                              deferred=False))
        out: dict[str, Any] = {"interaction": {
            "id": str(iid), "type": 2 if kind != AUTOCOMPLETE_RESULT else 4,
            "response_message_id": None, "response_message_loading": kind == DEFERRED,
            "response_message_ephemeral": cb.ephemeral}}
        if kind in (MESSAGE, DEFERRED):
            mid = str(next(_ids))
            out["interaction"]["response_message_id"] = mid
            out["resource"] = {"type": kind, "message": _message(
                mid, cb.content, int((body.get("data") or {}).get("flags", 0))
                | (LOADING if kind == DEFERRED else 0))}
        return _json(out)

    async def _followup(self, request: web.Request) -> web.Response:
        """Create Followup Message: only for an acknowledged interaction, within 15 minutes
        of it; the first after an ephemeral deferral is ephemeral too (it fills the
        "thinking…" message)."""
        token = request.match_info["token"]
        iid = next((i for i, (t, _) in self.issued.items() if t == token), 0)
        issued = self.issued.get(iid)
        if issued is None or iid not in self._acked:
            return self._reject(iid, 404, 10015, "Unknown Webhook")
        if self.clock() - issued[1] > TOKEN_LIFETIME_S:
            return self._reject(iid, 401, 50027, "Invalid Webhook Token")
        body = await request.json()
        if len(str(body.get("content", ""))) > 2000:
            return _json({"message": "Invalid Form Body", "code": 50035, "errors": {
                "content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                         "message": "Must be 2000 or fewer in length."}]}}},
                         status=400)
        ack = self._acked[iid]
        first = self._followups.get(iid, 0) == 0
        self._followups[iid] = self._followups.get(iid, 0) + 1
        ephemeral = bool(int(body.get("flags", 0)) & EPHEMERAL) or (
            first and ack.type == DEFERRED and ack.ephemeral)
        self._show(Answer(iid, body, ephemeral=ephemeral, deferred=ack.type == DEFERRED))
        return _json(_message(str(next(_ids)), str(body.get("content", "")),
                              EPHEMERAL if ephemeral else 0))

    def _show(self, answer: Answer) -> None:
        self.answers.append(answer)
        self._answer_queue.put_nowait(answer)

    def interaction(self, *args: Any, **kw: Any) -> dict[str, Any]:
        """``interaction(...)`` whose token this stand-in will accept, issued now.

        Once a tree is registered, Discord sends interactions only for its commands and their
        options: anything else is a test's mistake (AssertionError)."""
        d = interaction(*args, **kw)
        self._check_registered(d)
        self.issued[int(d["id"])] = (d["token"], self.clock())
        return d

    def _check_registered(self, d: dict[str, Any]) -> None:
        if not self.commands:
            return  # nothing synced: the routes are being tested on their own
        group = next((c for c in self.commands if c["name"] == d["data"]["name"]), None)
        assert group is not None, f"/{d['data']['name']} is not registered"
        [sub] = d["data"]["options"]
        known = {o["name"]: o for o in group.get("options", [])}
        assert sub["name"] in known, f"/{group['name']} {sub['name']} is not registered"
        params = {o["name"] for o in known[sub["name"]].get("options", [])}
        for option in sub.get("options", []):
            assert option["name"] in params, (
                f"/{group['name']} {sub['name']} has no option {option['name']!r}")

    def autocomplete(self, *args: Any, **kw: Any) -> dict[str, Any]:
        """``autocomplete(...)`` whose token this stand-in will accept, issued now."""
        d = autocomplete(*args, **kw)
        self.issued[int(d["id"])] = (d["token"], self.clock())
        return d


def _message(mid: str, content: str, flags: int) -> dict[str, Any]:
    return {"id": mid, "type": 20, "channel_id": "0", "author": SELF_USER, "content": content,
            "timestamp": "2026-12-01T12:00:00.000000+00:00", "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": False, "flags": flags,
            "components": []}


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

