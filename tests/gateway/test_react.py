"""Her emoji reaction on Discord: one Create Reaction call (the emoji percent-encoded in the
path), nothing fetched, no typing; refused before any request without Add Reactions or Read
Message History, or on an excluded member's or her own message; a deleted message is a 404
the pool drops. And the stand-in answers Create Reaction as Discord documents it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import discord
import pytest

from actors.events import ActionRequest
from runtime.errors import SendRejected
from runtime.gateway import PersonaClient
from runtime.pool import LLMPool, OfflineBackend
from runtime.pool.react import emoji_set
from tests.kit.discord_payloads import (
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    SELF_ID,
    SELF_USER,
    deny,
    guild_create,
    message_create,
)
from tests.kit.discord_permissions import ADD_REACTIONS, READ_MESSAGE_HISTORY
from tests.kit.fake_discord import FakeDiscord
from tests.pool.test_pool_react import Results, Scripted

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

NOW = 1_764_259_300.5
MID = 5_000_001


def react_request(**kw: Any) -> ActionRequest:
    fields: dict[str, Any] = dict(request_id=7, guild_id=GUILD, channel_id=CHANNEL,
                                  action="react", mood="bubbly", decided_at=NOW - 1,
                                  deadline=NOW + 60, target_user_id=ALICE,
                                  target_message_id=MID)
    fields.update(kw)
    return ActionRequest(**fields)


async def _client(fake: FakeDiscord, *, exclude: Any = None,
                  overwrites: list[dict[str, Any]] | None = None) -> PersonaClient:
    client = PersonaClient(deliver=lambda e: None, channel_of={GUILD: CHANNEL}.get,
                           clock=lambda: NOW, exclude=exclude)
    await client.login("fake-token")
    state = client._connection
    state.user = discord.ClientUser(state=state, data=SELF_USER)
    state._users[SELF_ID] = state.user  # type: ignore[assignment]
    payload = guild_create(GUILD, overwrites=overwrites)
    fake.guilds = [payload]
    state.parsers["GUILD_CREATE"](payload)
    return client


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[PersonaClient]:
    client = await _client(fake)
    try:
        yield client
    finally:
        await client.close()


async def test_a_reaction_is_one_put_with_the_emoji_encoded(fake: FakeDiscord,
                                                            client: PersonaClient) -> None:
    await fake.dispatch("MESSAGE_CREATE", message_create(MID, ALICE))
    fake.requests.clear()
    await client.send(react_request(), "🎉")
    assert fake.reactions == [(CHANNEL, MID, "🎉")]
    assert fake.reaction_paths == [
        f"/api/v10/channels/{CHANNEL}/messages/{MID}/reactions/{quote('🎉')}/@me"]
    # One REST call: nothing fetched first, no typing, no message posted.
    assert dict(fake.requests) == {
        "PUT /channels/{cid}/messages/{mid}/reactions/{emoji}/@me": 1}
    assert fake.typing == [] and fake.sent == []
    stats = client.statistics()
    assert (stats.reacted, stats.sent, stats.send_rejected) == (1, 0, 0)


@pytest.mark.parametrize(("bits", "missing"), [(ADD_REACTIONS, "Add Reactions"),
                                               (READ_MESSAGE_HISTORY, "Read Message History")])
async def test_a_missing_permission_refuses_before_any_request(fake: FakeDiscord, bits: int,
                                                               missing: str) -> None:
    client = await _client(fake, overwrites=[deny(GUILD, bits)])
    try:
        await fake.dispatch("MESSAGE_CREATE", message_create(MID, ALICE))
        with pytest.raises(SendRejected, match=missing):
            await client.send(react_request(), "🎉")
        assert fake.reaction_requests == []
    finally:
        await client.close()


async def test_never_on_an_excluded_members_message_nor_her_own(fake: FakeDiscord) -> None:
    client = await _client(fake, exclude=lambda gid, uid: uid == BOB)
    try:
        await fake.dispatch("MESSAGE_CREATE", message_create(MID, BOB))
        with pytest.raises(SendRejected, match="opted out"):
            await client.send(react_request(target_user_id=BOB), "🎉")
        with pytest.raises(SendRejected, match="her own"):
            await client.send(react_request(target_user_id=SELF_ID), "🎉")
        assert fake.reaction_requests == []
    finally:
        await client.close()


async def test_a_deleted_message_is_a_404(fake: FakeDiscord, client: PersonaClient) -> None:
    with pytest.raises(SendRejected) as caught:
        await client.send(react_request(), "🎉")
    assert caught.value.status == 404
    assert len(fake.reaction_requests) == 1 and fake.reactions == []


async def test_an_unknown_emoji_is_refused_by_discord(fake: FakeDiscord,
                                                      client: PersonaClient) -> None:
    await fake.dispatch("MESSAGE_CREATE", message_create(MID, ALICE))
    with pytest.raises(SendRejected, match="10014"):
        await client.send(react_request(), "smile")


async def test_a_rate_limited_reaction_is_waited_out(fake: FakeDiscord,
                                                     client: PersonaClient) -> None:
    """Two reactions within Discord's quarter second: the second is answered 429 and
    discord.py retries it after ``retry_after``."""
    await fake.dispatch("MESSAGE_CREATE", message_create(MID, ALICE))
    await fake.dispatch("MESSAGE_CREATE", message_create(MID + 1, BOB))
    await client.send(react_request(), "🎉")
    await client.send(react_request(request_id=8, target_message_id=MID + 1,
                                    target_user_id=BOB), "✨")
    assert [r[1] for r in fake.reactions] == [MID, MID + 1]
    assert len(fake.reaction_requests) == 3


# --- the stand-in itself, as Discord documents Create Reaction ------------------------------


async def _put(fake: FakeDiscord, mid: int, emoji: str) -> tuple[int, Any]:
    url = f"{fake.api_base}/channels/{CHANNEL}/messages/{mid}/reactions/{quote(emoji)}/@me"
    async with aiohttp.ClientSession() as s, s.put(url) as r:
        return r.status, (await r.json() if r.status != 204 else None)


async def test_the_stand_in_answers_create_reaction_as_documented(fake: FakeDiscord) -> None:
    await fake.dispatch("MESSAGE_CREATE", message_create(MID, ALICE))
    assert await _put(fake, MID, "👍") == (204, None)
    assert (await _put(fake, MID + 9, "👍"))[1]["code"] == 10008
    fake.clock = lambda: 1e9  # past the quarter second
    assert (await _put(fake, MID, "ok"))[1]["code"] == 10014
    assert (await _put(fake, MID, "miku:123"))[1]["code"] == 10014
    assert (await _put(fake, MID, "✨"))[0] == 204
    fake.clock = lambda: 1e9 + 0.1
    status, body = await _put(fake, MID, "💖")
    assert status == 429 and body["retry_after"] > 0


async def test_the_stand_in_refuses_without_permissions(fake: FakeDiscord) -> None:
    fake.guilds = [guild_create(GUILD, overwrites=[deny(GUILD, ADD_REACTIONS)])]
    await fake.dispatch("MESSAGE_CREATE", message_create(MID, ALICE))
    status, body = await _put(fake, MID, "👍")
    assert (status, body["code"]) == (403, 50013)
    # Add Reactions is needed only for an emoji nobody reacted with yet.
    fake.history[CHANNEL][0]["reactions"] = [{"count": 1, "me": False,
                                              "emoji": {"id": None, "name": "👍"}}]
    assert (await _put(fake, MID, "👍"))[0] == 204
    fake.guilds = [guild_create(GUILD, overwrites=[deny(GUILD, READ_MESSAGE_HISTORY)])]
    fake.clock = lambda: 1e9
    status, body = await _put(fake, MID, "👍")
    assert (status, body["code"]) == (403, 50013)


# --- actor's request -> pool -> gateway ------------------------------------------------------


async def test_the_pool_reacts_through_the_gateway_with_the_moods_emoji(
        fake: FakeDiscord, client: PersonaClient) -> None:
    await fake.dispatch("MESSAGE_CREATE", message_create(MID, ALICE))
    done = Results()
    async with LLMPool(OfflineBackend(), deliver=done, sender=client.send,
                       context=client.fetch_context, typing=client.typing_for) as pool:
        pool.submit(react_request(decided_at=pool._clock.now() if pool._clock else NOW,
                                  deadline=NOW + 10**9))
        await done.wait()
    assert [(d.action, d.outcome) for d in done] == [("react", "sent")]
    (cid, mid, emoji), = fake.reactions
    assert (cid, mid) == (CHANNEL, MID) and emoji in emoji_set("bubbly")
    assert fake.history_requests == [] and fake.typing == []


async def test_a_message_deleted_meanwhile_is_dropped_not_failed(
        fake: FakeDiscord, client: PersonaClient) -> None:
    done = Results()
    async with LLMPool(OfflineBackend(), deliver=done, sender=client.send) as pool:
        pool.submit(react_request(decided_at=pool._clock.now() if pool._clock else NOW,
                                  deadline=NOW + 10**9))
        await done.wait()
    assert [(d.outcome, "gone" in d.reason) for d in done] == [("stale", True)]


async def test_with_a_model_the_one_message_is_read_then_reacted_to(
        fake: FakeDiscord, client: PersonaClient) -> None:
    """A model picks the emoji from the message alone: one history request of one message
    up to it, then the reaction; nothing else."""
    await fake.dispatch("MESSAGE_CREATE", message_create(MID - 5, BOB))
    await fake.dispatch("MESSAGE_CREATE", message_create(MID, ALICE, content="we won!!"))
    fake.requests.clear()
    done = Results()
    model = Scripted("🎉")
    async with LLMPool(model, deliver=done, sender=client.send,
                       context=client.fetch_context, typing=client.typing_for) as pool:
        pool.submit(react_request(decided_at=pool._clock.now() if pool._clock else NOW,
                                  deadline=NOW + 10**9))
        await done.wait()
    assert [(d.action, d.outcome) for d in done] == [("react", "sent")]
    assert fake.reactions == [(CHANNEL, MID, "🎉")]
    assert fake.history_requests == [(CHANNEL, {"limit": "1", "before": str(MID + 1)})]
    assert sorted(fake.requests.values()) == [1, 1] and fake.typing == []
    assert "we won!!" in model.prompts[0].messages[-1].content
