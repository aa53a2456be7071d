"""After Discord answers a reply 403, the channel is paused: the next mention there costs no
request until her access is known to be restored (an update the access tracker checks again
and finds she may speak) or the pause runs out (10 minutes, doubling, an hour at most).

The stand-in computes her permissions from its own guild payloads; a test that changes those
without dispatching the update plays a permission change the client's cache did not hear of,
which is when the tracker says "she may" and Discord says 403."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from actors.events import ActionRequest, GuildReady, MessageSeen
from runtime.errors import SendRejected
from runtime.gateway import PersonaClient
from runtime.gateway.pauses import FIRST_PAUSE_S, LONGEST_PAUSE_S, Pauses
from tests.kit.discord_payloads import (
    ALICE,
    CHANNEL,
    GUILD,
    SEND_MESSAGES,
    deny,
    message_create,
    text_channel,
)
from tests.kit.fake_discord import FakeDiscord
from tests.kit.gateway_harness import Recorder, connected

NOW = 1_764_259_300.0
EVERYONE = GUILD


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def reply(n: int) -> ActionRequest:
    return ActionRequest(request_id=n, guild_id=GUILD, channel_id=CHANNEL, action="reply",
                         mood="bubbly", decided_at=NOW, deadline=NOW + 10_000_000,
                         priority=0, target_user_id=ALICE, reply_to_message_id=5000 + n)


async def mention(fake: FakeDiscord, rec: Recorder, n: int) -> ActionRequest:
    """Alice mentions her (the message joins the channel's history): the reply to it, once
    the client has seen the message (and so every event dispatched before it)."""
    await fake.dispatch("MESSAGE_CREATE", message_create(5000 + n, ALICE, content="miku?"))
    await rec.wait_for(MessageSeen, n)
    return reply(n)


async def answer(client: PersonaClient, req: ActionRequest) -> str:
    """The reply as the pool makes it (typing while writing, then the send): "" when sent,
    else why it was refused."""
    try:
        async with client.typing_for(req):
            await client.send(req, "hi!")
    except SendRejected as exc:
        return exc.reason
    return ""


def deny_silently(fake: FakeDiscord) -> None:
    """@everyone loses Send Messages in her channel on Discord's side only."""
    channel = next(c for c in fake.guilds[0]["channels"] if c["id"] == str(CHANNEL))
    channel["permission_overwrites"] = [deny(EVERYONE, SEND_MESSAGES)]


def posts(fake: FakeDiscord) -> int:
    return fake.requests["POST /channels/{cid}/messages"] + fake.requests[
        "POST /channels/{cid}/typing"]


on_asyncio = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # discord.py


async def started(fake: FakeDiscord, rec: Recorder) -> None:
    await rec.wait_for(GuildReady)
    [ready] = rec.of(GuildReady)
    assert ready.can_speak


@pytest.mark.anyio
@on_asyncio
async def test_a_second_mention_after_a_403_costs_no_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first reply is refused 403 50013 by Discord; the second is refused before any
    request (no typing, no send), counted, and the pause is logged once; when an admin fixes
    the overwrite (CHANNEL_UPDATE) she answers again."""
    clock = Clock()
    async with FakeDiscord() as fake, connected(fake, monkeypatch, clock=clock) as (client,
                                                                                      rec):
        await started(fake, rec)
        deny_silently(fake)
        with capture_logs() as logs:
            first = await answer(client, await mention(fake, rec, 1))
            assert first == "forbidden (403, code 50013)"
            before = posts(fake)
            assert before >= 1
            second = await answer(client, await mention(fake, rec, 2))
            third = await answer(client, await mention(fake, rec, 3))
        assert second.startswith("paused after a 403 (code 50013)")
        assert third.startswith("paused")
        assert posts(fake) == before
        assert [e["event"] for e in logs if e["event"].startswith("send.channel_")] == [
            "send.channel_paused"]
        stats = client.statistics()
        assert (stats.pauses, stats.sends_paused, stats.channels_paused) == (1, 2, 1)

        # The admin fixes it: the update reaches Discord's side and her cache alike (the
        # next mention comes after it on the same connection).
        await fake.dispatch("CHANNEL_UPDATE", text_channel(CHANNEL, "miku-chat", GUILD))
        assert await answer(client, await mention(fake, rec, 4)) == ""
        assert fake.sent[-1].body["content"] == "hi!"
        assert client.statistics().channels_paused == 0


@pytest.mark.anyio
@on_asyncio
async def test_the_pause_runs_out_and_doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing tells her the permission is back: after 10 minutes one reply probes; a 403
    again pauses for 20 minutes (not logged again: the same episode)."""
    clock = Clock()
    async with FakeDiscord() as fake, connected(fake, monkeypatch, clock=clock) as (client,
                                                                                      rec):
        await started(fake, rec)
        deny_silently(fake)
        with capture_logs() as logs:
            assert (await answer(client, await mention(fake, rec, 1))).startswith("forbidden")
            clock.now += FIRST_PAUSE_S - 1
            assert (await answer(client, await mention(fake, rec, 2))).startswith("paused")
            clock.now += 1
            sent = len(fake.sent)
            assert (await answer(client, await mention(fake, rec, 3))).startswith("forbidden")
            assert len(fake.sent) == sent + 1
            clock.now += 2 * FIRST_PAUSE_S - 1
            assert (await answer(client, await mention(fake, rec, 4))).startswith("paused")
        assert [e["event"] for e in logs if e["event"] == "send.channel_paused"] == [
            "send.channel_paused"]
        assert client.statistics().pauses == 1


def test_pauses_double_up_to_an_hour_and_end_on_a_send() -> None:
    clock = Clock()
    pauses = Pauses(clock)
    lengths = []
    for _ in range(5):
        pauses.forbidden(GUILD, CHANNEL, 50001)
        refused = pauses.refusal(GUILD, CHANNEL)
        assert refused is not None
        lengths.append(int(refused.split("for ")[1].split(" s")[0]))
        clock.now += lengths[-1]
        assert pauses.refusal(GUILD, CHANNEL) is None  # the probe goes out
    assert lengths == [600, 1200, 2400, 3600, 3600] and LONGEST_PAUSE_S == 3600
    pauses.sent(GUILD, CHANNEL)
    pauses.forbidden(GUILD, CHANNEL, 50013)
    assert pauses.refusal(GUILD, CHANNEL) == "paused after a 403 (code 50013) for 600 s more"
    assert pauses.begun == 2


def test_only_a_permission_403_pauses() -> None:
    """A 403 with another code (or none) is not about her access there: no pause."""
    pauses = Pauses(Clock())
    for code in (None, 0, 40002, 50007):
        pauses.forbidden(GUILD, CHANNEL, code)
    assert pauses.channels == 0 and pauses.refusal(GUILD, CHANNEL) is None
