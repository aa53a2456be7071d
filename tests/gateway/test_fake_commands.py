"""The stand-in's slash-command routes refuse what Discord documents it refuses: command trees
that break the naming, length, count, order or size rules (400 50035 with Discord's error
tree), an acknowledgement after 3 s (404 10062), a second acknowledgement (400 40060), and a
follow-up before any acknowledgement (404 10015)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.kit.command_rules import MAX_COMMAND_CHARS, command_size
from tests.kit.discord_payloads import CHANNEL, SELF_ID
from tests.kit.fake_discord import FakeDiscord
from tests.kit.fake_interactions import ACK_WINDOW_S, FakeCommands

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

AUTH = {"Authorization": "Bot test-token-not-real"}


def opt(name: str, *, required: bool = False, type_: int = 3, **kw: Any) -> dict[str, Any]:
    return {"name": name, "description": f"the {name}", "type": type_, "required": required,
            **kw}


def sub(name: str, *options: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "description": f"do {name}", "type": 1, "options": list(options)}


def tree(*subs: dict[str, Any], **top: Any) -> list[dict[str, Any]]:
    return [{"name": "miku", "description": "Miku in this server", "type": 1,
             "options": list(subs) or [sub("status")], **top}]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def routes() -> AsyncIterator[tuple[FakeCommands, FakeDiscord, aiohttp.ClientSession,
                                          Clock]]:
    clock = Clock()
    routes = FakeCommands(clock=clock)
    async with FakeDiscord(mounts=(routes.mount,)) as fake, aiohttp.ClientSession() as http:
        yield routes, fake, http, clock


async def put(http: aiohttp.ClientSession, fake: FakeDiscord,
              body: list[dict[str, Any]]) -> tuple[int, Any]:
    async with http.put(f"{fake.api_base}/applications/{SELF_ID}/commands", json=body,
                        headers=AUTH) as r:
        return r.status, await r.json()


def long_tree() -> list[dict[str, Any]]:
    """Valid in every field, 25 subcommands of 4 options of 100-character descriptions:
    over 8,000 characters in all."""
    d = "x" * 100
    subs = [{"name": f"s{i}", "description": d, "type": 1,
             "options": [{"name": f"o{j}", "description": d, "type": 3} for j in range(4)]}
            for i in range(25)]
    return [{"name": "miku", "description": d, "type": 1, "options": subs}]


# (case, body, the refused field's path in Discord's error tree, its error code)
REFUSED: list[tuple[str, list[dict[str, Any]], tuple[str, ...], str]] = [
    ("uppercase name", tree(sub("Status")), ("0", "options", "0", "name"),
     "APPLICATION_COMMAND_INVALID_NAME"),
    ("space in a name", tree(name="mi ku"), ("0", "name"), "APPLICATION_COMMAND_INVALID_NAME"),
    ("33-character name", tree(sub("s" * 33)), ("0", "options", "0", "name"),
     "BASE_TYPE_BAD_LENGTH"),
    ("empty description", tree(description=""), ("0", "description"),
     "BASE_TYPE_BAD_LENGTH"),
    ("101-character option description",
     tree(sub("pause", {**opt("hours"), "description": "d" * 101})),
     ("0", "options", "0", "options", "0", "description"), "BASE_TYPE_BAD_LENGTH"),
    ("26 subcommands", tree(*(sub(f"s{i}") for i in range(26))), ("0", "options"),
     "BASE_TYPE_MAX_LENGTH"),
    ("26 options", tree(sub("many", *(opt(f"o{i}") for i in range(26)))),
     ("0", "options", "0", "options"), "BASE_TYPE_MAX_LENGTH"),
    ("26 choices", tree(sub("mood", opt("name", choices=[
        {"name": f"c{i}", "value": f"c{i}"} for i in range(26)]))),
     ("0", "options", "0", "options", "0", "choices"), "BASE_TYPE_MAX_LENGTH"),
    ("101-character choice name", tree(sub("mood", opt("name", choices=[
        {"name": "c" * 101, "value": "c"}]))),
     ("0", "options", "0", "options", "0", "choices", "0", "name"), "BASE_TYPE_BAD_LENGTH"),
    ("required after optional", tree(sub("mood", opt("hours"), opt("name", required=True))),
     ("0", "options", "0", "options"), "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"),
    ("two options of one name", tree(sub("mood", opt("name"), opt("name"))),
     ("0", "options", "0", "options", "1", "name"),
     "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS"),
    ("two commands of one name", tree() + tree(), ("1",),
     "APPLICATION_COMMANDS_DUPLICATE_NAME"),
    ("over 8,000 characters", long_tree(), ("0",), "APPLICATION_COMMAND_TOO_LARGE"),
    ("an unknown context", tree(contexts=[0, 3]), ("0", "contexts"), "ENUM_TYPE_COERCE"),
    ("permissions not a bitfield", tree(default_member_permissions="manage"),
     ("0", "default_member_permissions"), "NUMBER_TYPE_COERCE"),
]


@pytest.mark.parametrize(("body", "path", "code"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
async def test_a_tree_discord_refuses_is_refused_whole(routes: Any, body: list[dict[str, Any]],
                                                       path: tuple[str, ...],
                                                       code: str) -> None:
    """The bulk overwrite is answered 400 50035 "Invalid Form Body" with the refused field at
    its JSON path; nothing is registered."""
    fake_routes, fake, http, _ = routes
    status, answer = await put(http, fake, body)
    assert status == 400
    assert answer["code"] == 50035 and answer["message"] == "Invalid Form Body"
    node = answer["errors"]
    for key in path:
        node = node[key]
    assert [e["code"] for e in node["_errors"]] == [code]
    assert fake_routes.syncs == [] and fake_routes.commands == []


async def test_a_tree_within_every_limit_is_registered(routes: Any) -> None:
    """Names with digits, hyphens, apostrophes and non-Latin letters, 100-character
    descriptions, 25 options and 25 choices, required first, 8,000 characters: accepted."""
    _, fake, http, _ = routes
    body = tree(sub("quiet-hours", opt("start", required=True), opt("end")),
                sub("don't", opt("きぶん", choices=[{"name": f"c{i}", "value": f"v{i}"}
                                                 for i in range(25)])),
                sub("many", *(opt(f"o{i}") for i in range(25))),
                description="d" * 100)
    status, answer = await put(http, fake, body)
    assert status == 200, answer
    assert [c["name"] for c in answer] == ["miku"]
    exact = copy.deepcopy(long_tree())
    exact[0]["options"] = exact[0]["options"][:16]
    last = exact[0]["options"][-1]
    last["options"] = last["options"][:2]
    last["description"] = ""
    last["description"] = "x" * (MAX_COMMAND_CHARS - command_size(exact[0]))
    assert 1 <= len(last["description"]) <= 100
    assert command_size(exact[0]) == MAX_COMMAND_CHARS
    status, answer = await put(http, fake, exact)
    assert status == 200, answer


async def ack(http: aiohttp.ClientSession, fake: FakeDiscord, d: dict[str, Any],
              body: dict[str, Any]) -> tuple[int, Any]:
    url = f"{fake.api_base}/interactions/{d['id']}/{d['token']}/callback"
    async with http.post(url, json=body) as r:
        return r.status, await r.json()


async def followup(http: aiohttp.ClientSession, fake: FakeDiscord,
                   d: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(f"{fake.api_base}/webhooks/{SELF_ID}/{d['token']}",
                         json={"content": "done"}) as r:
        return r.status, await r.json()


async def test_an_acknowledgement_after_3_s_is_unknown(routes: Any) -> None:
    """3 s after the interaction, its acknowledgement is a 404 10062 and the member sees
    nothing; at 3 s exactly it is still in time."""
    fake_routes, fake, http, clock = routes
    late = fake_routes.interaction("status", user_id=11, channel_id=CHANNEL)
    clock.now += ACK_WINDOW_S + 0.001
    status, answer = await ack(http, fake, late, {"type": 5, "data": {"flags": 64}})
    assert (status, answer["code"]) == (404, 10062)
    in_time = fake_routes.interaction("status", user_id=11, channel_id=CHANNEL)
    clock.now += ACK_WINDOW_S
    status, _ = await ack(http, fake, in_time, {"type": 5, "data": {"flags": 64}})
    assert status == 200
    assert fake_routes.rejected == [(int(late["id"]), 404, 10062)]


async def test_a_second_acknowledgement_is_refused(routes: Any) -> None:
    """An interaction answered once cannot be answered again: 400 40060."""
    fake_routes, fake, http, _ = routes
    d = fake_routes.interaction("status", user_id=11, channel_id=CHANNEL)
    status, _ = await ack(http, fake, d, {"type": 4, "data": {"content": "hi", "flags": 64}})
    assert status == 200
    status, answer = await ack(http, fake, d, {"type": 4, "data": {"content": "again"}})
    assert (status, answer["code"]) == (400, 40060)
    assert [a.content for a in fake_routes.answers] == ["hi"]


async def test_a_followup_needs_an_acknowledgement_and_a_live_token(routes: Any) -> None:
    """A follow-up before the deferral is 404 10015; after it the first follow-up is shown,
    ephemeral like the deferral; 15 minutes on, the token is dead (401 50027)."""
    fake_routes, fake, http, clock = routes
    d = fake_routes.interaction("status", user_id=11, channel_id=CHANNEL)
    status, answer = await followup(http, fake, d)
    assert (status, answer["code"]) == (404, 10015)
    await ack(http, fake, d, {"type": 5, "data": {"flags": 64}})
    status, _ = await followup(http, fake, d)
    assert status == 200
    [shown] = fake_routes.answers
    assert shown.deferred and shown.ephemeral and shown.content == "done"
    clock.now += 15 * 60 + 1
    status, answer = await followup(http, fake, d)
    assert (status, answer["code"]) == (401, 50027)
