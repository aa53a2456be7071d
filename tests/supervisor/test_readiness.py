"""A guild acts only while it is really there: readiness in this process, restored guilds
after a downtime, outages, lost permissions, removal, and a process's own shards."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import structlog.testing
import trio

from actors.clock import LoopClock
from actors.events import (
    ChannelAccess,
    GuildReady,
    GuildRemoved,
    GuildUnavailable,
    MessageSeen,
    PresenceChanged,
)
from engine import encode_state, new_state
from runtime.supervisor import Supervisor, UnknownGuildError
from tests.kit.actors import RecordingSink
from tests.kit.supervisor_doubles import T0, RemovingStore, make_supervisor, run_virtual

GAME = "Project DIVA Mega Mix"


def _silent_guild(gid: int, *, last_human: float, mood: str = "bubbly") -> bytes:
    """A snapshot of a guild with someone online and a long silence behind it."""
    state = new_state(gid, last_human - 86400, mood=mood)
    state.online = {gid * 10}
    state.last_human_at = last_human
    state.human_messages = 5
    return encode_state(state)


def test_nothing_is_decided_before_guild_ready_from_a_stale_snapshot() -> None:
    """A guild saved live with someone online and a long silence decides nothing for an
    hour without its GuildReady (today: break_silence 3.6 s before login); its GuildReady
    re-seeds presence (nobody online now), so it still says nothing."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        store = RemovingStore(clock=clock.now)
        await store.save_many([(5, _silent_guild(5, last_human=T0 - 4 * 3600))])
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock, passivate_after_s=600.0)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            await trio.sleep(3600)
            seen["before"] = (list(sink.requests), sup.statistics())
            sup.deliver(GuildReady(5, clock.now(), ()))
            await trio.sleep(2 * 3600)
            seen["after"] = list(sink.requests)
            await sup.shutdown()

    run_virtual(body)
    requests, stats = seen["before"]
    assert requests == [] and stats.spawned == 0
    assert seen["after"] == []


def test_after_a_three_hour_downtime_restored_guilds_do_not_all_speak_at_once() -> None:
    """200 guilds, each with someone around a silence, come back after 3 hours; their
    GuildReady arrives 3 s after the start: none acts in the first 2 minutes (today 40-50 %
    broke silence within 2 s), and they do speak again later in the day."""
    seen: dict[str, Any] = {}
    guilds = range(1, 201)

    async def body(clock: LoopClock) -> None:
        store = RemovingStore(clock=clock.now)
        stopped = T0 - 3 * 3600
        await store.save_many([(g, _silent_guild(g, last_human=stopped - 1800)) for g in guilds])
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock, passivate_after_s=3600.0)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            await trio.sleep(3)
            for g in guilds:
                sup.deliver(GuildReady(g, clock.now(), (g * 10,)))
            await trio.sleep_until(clock.loop_time(T0 + 120))
            seen["early"] = {r.guild_id for r in sink.requests}
            await trio.sleep_until(clock.loop_time(T0 + 4 * 3600))
            seen["later"] = {r.guild_id for r in sink.requests}
            await sup.shutdown()

    run_virtual(body)
    assert len(seen["early"]) <= 2  # at most 1 %
    assert len(seen["later"]) >= 100


def test_a_restored_guild_waits_one_minimum_gap_after_its_guild_ready() -> None:
    """A restored guild greets a new game one minimum gap (30 s) after its GuildReady, not
    at once; a fresh guild greets it at once."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        store = RemovingStore(clock=clock.now)
        state = new_state(1, T0 - 600, mood="bubbly")
        await store.save_many([(1, encode_state(state))])
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            await trio.sleep(10)
            ready_at = clock.now()
            for g in (1, 2):  # 1 restored, 2 fresh
                sup.deliver(GuildReady(g, ready_at, (g * 10,)))
            await trio.sleep(1)
            for g in (1, 2):
                sup.deliver(PresenceChanged(g, g * 10, clock.now(), activity=GAME))
            await trio.sleep(120)
            seen["ready_at"] = ready_at
            seen["by_guild"] = {r.guild_id: r for r in sink.requests}
            await sup.shutdown()

    run_virtual(body)
    ready_at, by_guild = seen["ready_at"], seen["by_guild"]
    assert by_guild[2].action == "engage_user"
    assert by_guild[2].decided_at == pytest.approx(ready_at + 1, abs=0.01)
    assert by_guild[1].action == "engage_user"
    assert ready_at + 30 <= by_guild[1].decided_at < ready_at + 31


def test_an_outage_pauses_decisions_until_the_next_guild_ready() -> None:
    """GuildUnavailable: a game started during the outage is not greeted; the guild acts
    again at its next GuildReady."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        sink = RecordingSink()
        sup = make_supervisor(RemovingStore(clock=clock.now), sink, clock)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            sup.deliver(GuildReady(3, clock.now(), (30,)))
            await trio.sleep(1)
            sup.deliver(GuildUnavailable(3, clock.now()))
            sup.deliver(PresenceChanged(3, 30, clock.now(), activity=GAME))
            await trio.sleep(60)
            seen["during"] = list(sink.requests)
            seen["back_at"] = clock.now()
            sup.deliver(GuildReady(3, clock.now(), (30,)))
            await trio.sleep(1)
            seen["after"] = list(sink.requests)
            await sup.shutdown()

    run_virtual(body)
    assert seen["during"] == []
    [req] = seen["after"]
    assert req.action == "engage_user" and req.decided_at == pytest.approx(seen["back_at"])


def test_a_passivated_guild_stays_ready_and_an_outage_while_asleep_holds_its_wake_up() -> None:
    """A passivated guild whose GuildReady came earlier is woken by its timer and acts (it
    is still ready); one that had an outage while asleep is not woken (nor spawned by the
    outage) until its next GuildReady."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        sink = RecordingSink()
        sup = make_supervisor(RemovingStore(clock=clock.now), sink, clock,
                              passivate_after_s=300.0)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            for g in (1, 2):
                sup.deliver(GuildReady(g, T0, (g * 10,)))
                sup.deliver(MessageSeen(g, 9, g * 10, T0))
            await trio.sleep(1200)
            spawned = sup.statistics().spawned
            sup.deliver(GuildUnavailable(2, clock.now()))
            seen["spawned"] = (spawned, sup.statistics().spawned)
            await trio.sleep(4 * 3600)
            seen["asleep"] = {r.guild_id for r in sink.requests}
            seen["back_at"] = clock.now()
            sup.deliver(GuildReady(2, clock.now(), (20,)))
            await trio.sleep(120)
            seen["all"] = [(r.guild_id, r.decided_at) for r in sink.requests]
            await sup.shutdown()

    run_virtual(body)
    before, after = seen["spawned"]
    assert before == after == 2
    assert seen["asleep"] == {1}
    assert [at for g, at in seen["all"] if g == 2] == [pytest.approx(seen["back_at"])]


@pytest.mark.anyio
async def test_without_the_right_to_speak_she_stays_silent_until_channel_access() -> None:
    """GuildReady(can_speak=False): no decision, no reply (dropped at info with the
    reason), nothing handed to the pool; ChannelAccess(can_speak=True) lets her act."""
    sink = RecordingSink()
    clock = LoopClock(T0)
    sup = make_supervisor(RemovingStore(), sink, clock)
    with structlog.testing.capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            sup.deliver(GuildReady(4, clock.now(), (40,), can_speak=False,
                                   missing="Send Messages"))
            sup.deliver(PresenceChanged(4, 40, clock.now(), activity=GAME))
            sup.deliver(MessageSeen(4, 9, 41, clock.now(), addresses_self=True,
                                    message_id=5))
            await anyio.wait_all_tasks_blocked()
            assert sink.requests == []
            assert sup.statistics().silent == 1
            sup.deliver(ChannelAccess(4, clock.now(), can_speak=True))
            await anyio.wait_all_tasks_blocked()
            assert [r.action for r in sink.requests] == ["engage_user"]
            await sup.shutdown()
    [dropped] = [x for x in logs if x["event"] == "reply_dropped"]
    assert dropped["log_level"] == "info" and dropped["reason"] == "cannot speak here"


def test_a_removed_guild_is_flagged_never_woken_and_comes_back_fresh() -> None:
    """GuildRemoved: the live actor stops, the store flags the guild removed, its later
    events are refused, a passivated removed guild is never woken; invited again (its
    GuildReady) it starts fresh. Removed rows are purged 30 days on, at start and daily."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        store = RemovingStore(clock=clock.now)
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock, passivate_after_s=300.0)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            for g in (1, 2):
                sup.deliver(GuildReady(g, T0, (g * 10,)))
                sup.deliver(MessageSeen(g, 9, g * 10, T0))
            await trio.sleep(600)  # both passivated
            sup.deliver(MessageSeen(1, 9, 10, clock.now()))  # 1 live again
            await trio.sleep(1)
            sup.deliver(GuildRemoved(1, clock.now()))
            sup.deliver(GuildRemoved(2, clock.now()))
            await trio.sleep(1)
            seen["refused"] = sup.deliver(MessageSeen(1, 9, 10, clock.now()))
            seen["stats"] = sup.statistics()
            seen["removed"] = dict(store.removed)
            await trio.sleep(86400)
            seen["requests"] = list(sink.requests)
            seen["purges"] = list(store.purges)
            sup.deliver(GuildReady(1, clock.now(), ()))
            await trio.sleep(1)
            seen["fresh"] = await sup.guild_detail(1)
            await sup.shutdown()
            seen["flag_after_save"] = dict(store.removed)

    run_virtual(body)
    stats = seen["stats"]
    assert seen["refused"] is False and stats.refused_removed == 1
    assert stats.removed == 2 and stats.live == 0
    assert set(seen["removed"]) == {1, 2}
    assert all(r.decided_at < T0 + 602 for r in seen["requests"])  # nothing after removal
    assert seen["purges"][0] == pytest.approx(T0 - 30 * 86400)
    assert seen["purges"][1] == pytest.approx(T0 + 86400 - 30 * 86400)
    assert seen["fresh"]["state"]["human_messages"] == 0
    assert 1 not in seen["flag_after_save"] and 2 in seen["flag_after_save"]


@pytest.mark.anyio
async def test_a_process_runs_only_its_own_shards() -> None:
    """With shard 1 of 2, events of a shard-0 guild are refused (counted, logged once at
    debug), its stored row is never woken, and it is unknown to set_mood."""
    mine, theirs = 1 << 22, 2 << 22  # (id >> 22) % 2: shard 1, shard 0
    store = RemovingStore()
    await store.save_many([(theirs, _silent_guild(theirs, last_human=T0 - 9000))])
    sink = RecordingSink()
    clock = LoopClock(T0)
    sup = make_supervisor(store, sink, clock, shard_ids=(1,), shard_count=2)
    with structlog.testing.capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            assert sup.deliver(GuildReady(mine, T0, ()))
            assert not sup.deliver(GuildReady(theirs, T0, (1,)))
            assert not sup.deliver(MessageSeen(theirs, 9, 1, T0))
            await anyio.wait_all_tasks_blocked()
            stats = sup.statistics()
            with pytest.raises(UnknownGuildError):
                sup.set_mood(theirs, "shy")
            assert sup.set_mood(mine, "shy")["mood"] == "shy"
            await sup.shutdown()
    assert stats.refused_other_shard == 2 and stats.live == 1 and stats.passivated == 0
    assert sink.requests == []
    refused = [x for x in logs if x["event"] == "event_refused"]
    assert [(x["guild_id"], x["log_level"]) for x in refused] == [(theirs, "debug")]


def test_shard_config_is_checked() -> None:
    """shard_ids without a count, or a shard id past it, is refused with a clear error."""
    from runtime.supervisor.admission import shard_filter

    with pytest.raises(ValueError, match="needs shard_count"):
        shard_filter((0,), None)
    with pytest.raises(ValueError, match=r"expected ids in 0\.\.1"):
        shard_filter((2,), 2)
    assert shard_filter((0, 1), 2) is None
    owns = shard_filter((0,), 2)
    assert owns is not None and owns(2 << 22) and not owns(1 << 22)


def test_supervisor_refuses_an_impossible_shard_config() -> None:
    """A SupervisorConfig naming a shard past shard_count fails at construction."""
    from runtime.supervisor import SupervisorConfig

    with pytest.raises(ValueError, match="shard_ids"):
        Supervisor(store=RemovingStore(), settings_for=lambda g: None,  # type: ignore[arg-type, return-value]
                   seed=1, config=SupervisorConfig(shard_ids=(3,), shard_count=2))
