"""The actor gives the engine the ids of human messages (never a bot's, hers, or an opted-out
member's, which the settings screen hands on with id 0) and a ``react`` decision reaches the
sink naming the message and its author."""

from __future__ import annotations

import anyio
import pytest

from actors.events import ChannelAccess, GuildReady, MessageSeen, Stop
from engine import REACT, roll
from tests.actors.test_actor import SEED, T0, make_actor
from tests.kit.actors import RecordingSink

#: The react roll's salt (engine.react.SALT_REACT) and a chance under excited's (0.11).
_SALT_REACT, _BELOW = 6, 0.1


def _guild_that_rolls_low() -> int:
    return next(g for g in range(1, 10_000)
                if roll(SEED, g, _SALT_REACT, int(T0) // 60) < _BELOW)


@pytest.mark.anyio
async def test_a_lively_chat_gets_a_reaction_on_the_newest_human_message() -> None:
    gid = _guild_that_rolls_low()
    sink = RecordingSink()
    actor = make_actor(sink, mood="excited", guild_id=gid)
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        for i in range(7):
            actor.mailbox.put_nowait(MessageSeen(gid, 7, 5 + i % 2, now(), message_id=101 + i))
        actor.mailbox.put_nowait(MessageSeen(gid, 7, 99, now(), author_is_bot=True,
                                             message_id=150))
        # An opted-out member's message (screened: id 0) is the 8th human one.
        actor.mailbox.put_nowait(MessageSeen(gid, 7, 8, now(), message_id=0))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(gid))
    [req] = sink.requests
    assert req.action == REACT
    assert (req.target_message_id, req.target_user_id) == (107, 5)
    assert actor.decisions[-1]["target_message_id"] == 107
    assert actor.state.messages_since_appearance == 8
    assert [r.message_id for r in actor.state.recent] == list(range(101, 108))


@pytest.mark.anyio
async def test_without_add_reactions_she_decides_no_reaction_until_it_is_granted() -> None:
    """GuildReady(can_react=False) (she lacks Add Reactions there): the same lively chat gets
    no ``react``, so no request that Discord or the gateway would only refuse, and no
    other action takes its place here; ChannelAccess(can_react=True) lets the next message
    bring the reaction. A new config (``ConfigChanged``) keeps what the gateway said."""
    gid = _guild_that_rolls_low()
    sink = RecordingSink()
    actor = make_actor(sink, mood="excited", guild_id=gid)
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(GuildReady(gid, now(), can_react=False))
        for i in range(7):
            actor.mailbox.put_nowait(MessageSeen(gid, 7, 5 + i % 2, now(), message_id=101 + i))
        await anyio.wait_all_tasks_blocked()
        assert sink.requests == [] and actor.cfg.may_react is False
        explained = actor.inspect()["now"]
        [react] = [c for c in explained["checks"] if c["action"] == REACT]
        assert {c["name"]: c["ok"] for c in react["conditions"]}["may_react"] is False
        actor.mailbox.put_nowait(ChannelAccess(gid, now(), can_speak=True, can_react=True))
        actor.mailbox.put_nowait(MessageSeen(gid, 7, 5, now(), message_id=108))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(gid))
    [req] = sink.requests
    assert (req.action, req.target_message_id) == (REACT, 108)
