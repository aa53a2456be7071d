"""The supervisor and router: spawn on first sight, isolation of crashes, quarantine,
passivation with on-time wake-ups, snapshots and restores."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from actors.actor import ActorSettings
from actors.clock import LoopClock
from actors.events import GuildReady, MessageSeen, MoodSet, PresenceChanged
from engine import decide, decode_state, new_state
from runtime.store import MemoryStore
from runtime.supervisor import Supervisor, SupervisorConfig, restart_allowed
from tests.kit.actors import RecordingSink
from tests.kit.supervisor_doubles import CFG, SEED, T0, make_supervisor, run_virtual


def test_restart_intensity_is_otp_style() -> None:
    """More than `intensity` restarts within `period` is refused; older ones are forgotten."""
    assert restart_allowed([], 100.0, 5, 60.0)
    assert restart_allowed([50.0, 60.0, 70.0, 80.0], 100.0, 5, 60.0)
    assert not restart_allowed([50.0, 60.0, 70.0, 80.0, 90.0], 100.0, 5, 60.0)
    assert restart_allowed([10.0, 20.0, 30.0, 40.0, 90.0], 100.0, 5, 60.0)


def _traffic(n_guilds: int, hours: float, rng: random.Random) -> list[tuple[float, Any]]:
    events: list[tuple[float, Any]] = []
    for g in range(1, n_guilds + 1):
        events.append((T0, GuildReady(g, T0, (g * 10,))))
        t = T0 + rng.uniform(0, 600)
        while t < T0 + hours * 3600:
            if rng.random() < 0.1:
                events.append((t, PresenceChanged(g, g * 10 + 1, t,
                                                  activity=rng.choice(["Project DIVA", "Tetris"]))))
            else:
                for _ in range(rng.randint(1, 8)):
                    t += rng.uniform(1, 20)
                    events.append((t, MessageSeen(g, 9, g * 10 + rng.randint(0, 3), t)))
            t += rng.expovariate(1 / 1800)
    events.sort(key=lambda x: x[0])
    return events


async def _drive(sup: Supervisor, clock: LoopClock, events: list[tuple[float, Any]]) -> None:
    for at, event in events:
        if at > clock.now():
            await trio.sleep_until(clock.loop_time(at))
        sup.deliver(event)


def _decisions(sink: RecordingSink, exclude: set[int]) -> list[tuple[Any, ...]]:
    return sorted((r.guild_id, r.action, r.decided_at, r.target_user_id)
                  for r in sink.requests if r.guild_id not in exclude)


def test_crashes_stay_in_their_guild_and_crashed_guilds_come_back() -> None:
    """1,000 guilds, bad events crash some of them repeatedly: every other guild decides
    exactly as in a run without faults; the crashed ones restart with their state and go on."""
    rng = random.Random(1234)
    traffic = _traffic(1000, 3.0, rng)
    faulty = set(rng.sample(range(1, 1001), 50))
    poison = [(T0 + 3600 + i * 7.0, MoodSet(g, "no-such-mood", T0 + 3600 + i * 7.0))
              for i, g in enumerate(sorted(faulty))]
    results: dict[str, Any] = {}

    def run(events: list[tuple[float, Any]], key: str) -> None:
        async def body(clock: LoopClock) -> None:
            store = MemoryStore(clock=clock.now)
            sink = RecordingSink()
            sup = make_supervisor(store, sink, clock, snapshot_interval_s=60.0)
            async with anyio.create_task_group() as tg:
                await tg.start(sup.run, sink)
                await _drive(sup, clock, events)
                await trio.sleep_until(clock.loop_time(T0 + 3 * 3600 + 60))
                results[key] = (sink, sup.statistics(), store.dead_letters(),
                                {a.guild_id: a.state.human_messages for a in sup.live_actors()})
                await sup.shutdown()

        run_virtual(body)

    run(traffic, "clean")
    run(sorted(traffic + poison, key=lambda x: x[0]), "faulty")
    clean_sink, clean_stats, _, _ = results["clean"]
    sink, stats, dead, counts = results["faulty"]
    assert clean_stats.crashes == 0
    assert _decisions(sink, faulty) == _decisions(clean_sink, faulty)
    assert len(_decisions(sink, faulty)) > 400  # a real sample: about 500 on this traffic
    assert stats.crashes == len(faulty) == stats.restarts
    assert sorted(d.guild_id for d in dead) == sorted(faulty)
    assert all(d.event_type == "MoodSet" and "no-such-mood" in d.traceback for d in dead)
    # Crashed guilds came back (live again) and kept counting after their restart.
    assert all(counts.get(g, 0) > 0 for g in faulty)


def test_a_guild_crashing_in_a_loop_is_quarantined_then_released() -> None:
    """Past 3 restarts in 60 s the guild is quarantined (visibly); what arrives meanwhile
    waits in its mailbox and is handled after the release; other guilds go on."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        store = MemoryStore(clock=clock.now)
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock, intensity=3, period_s=60.0,
                              quarantine_s=600.0)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            for _ in range(5):
                sup.deliver(MoodSet(1, "bogus", clock.now()))
                await trio.sleep(1)
            sup.deliver(MessageSeen(2, 9, 77, clock.now()))
            await trio.sleep(1)
            seen["during"] = sup.statistics()
            sup.deliver(MessageSeen(1, 9, 77, clock.now()))
            await trio.sleep(700)
            seen["after"] = sup.statistics()
            seen["rows"] = {r["guild_id"]: r for r in sup.list_guilds()}
            seen["g1"] = await sup.guild_detail(1)
            await sup.shutdown()

    run_virtual(body)
    during, after = seen["during"], seen["after"]
    assert during.quarantined == 1 and during.crashes == 4
    assert during.live == 1  # guild 2 runs on
    assert after.quarantined == 0 and after.crashes == 5
    assert seen["g1"]["state"]["human_messages"] == 1  # the message waited, then counted


def test_a_passivated_guild_still_breaks_the_silence_on_time() -> None:
    """An idle guild is snapshotted and stopped; the supervisor keeps only its wake-up time
    and wakes it exactly when the live engine would have broken the silence."""
    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        store = MemoryStore(clock=clock.now)
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock, passivate_after_s=300.0)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            sup.deliver(GuildReady(3, T0, (30,)))
            sup.deliver(MessageSeen(3, 9, 30, T0))
            await trio.sleep(1200)
            seen["mid"] = sup.statistics()
            await trio.sleep(3 * 3600)
            seen["sink"] = sink
            seen["end"] = sup.statistics()
            await sup.shutdown()

    run_virtual(body)
    assert seen["mid"].passivated == 1 and seen["mid"].live == 0
    state = new_state(3, T0, mood="neutral")
    state.online = {30}
    from engine import observe_message

    observe_message(state, T0)
    t = T0
    while decide(state, CFG, t, SEED).action is None:
        t += 1.0
    first = seen["sink"].requests[0]
    assert first.action == "break_silence"
    assert t <= first.decided_at < t + 1.0
    assert seen["end"].wakes >= 1


@pytest.mark.anyio
async def test_restored_guild_makes_the_same_next_decision() -> None:
    """A guild snapshotted at shutdown comes back in a new supervisor with the same state
    and the same next decision."""
    store = MemoryStore()
    sink = RecordingSink()
    clock = LoopClock(T0)
    sup = make_supervisor(store, sink, clock)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, sink)
        sup.deliver(GuildReady(4, clock.now(), (1, 2)))
        for i in range(12):
            sup.deliver(MessageSeen(4, 9, 1 + i % 3, clock.now()))
        await anyio.wait_all_tasks_blocked()
        [actor] = sup.live_actors()
        before = decode_state(await _final(sup, store, 4))
    assert before.human_messages == 12
    sink2 = RecordingSink()
    sup2 = make_supervisor(store, sink2, LoopClock(T0))
    async with anyio.create_task_group() as tg:
        await tg.start(sup2.run, sink2)
        detail = await sup2.guild_detail(4)
        assert detail is not None and detail["state"]["human_messages"] == 12
        sup2.spawn(4)
        await anyio.wait_all_tasks_blocked()
        [actor2] = sup2.live_actors()
        later = T0 + 7200
        assert decide(actor2.state, CFG, later, SEED) == decide(before, CFG, later, SEED)
        await sup2.shutdown()
    assert actor.guild_id == actor2.guild_id


async def _final(sup: Supervisor, store: MemoryStore, gid: int) -> bytes:
    await sup.shutdown()
    data = await store.load(gid)
    assert data is not None
    return data


@pytest.mark.anyio
async def test_stress_200k_events_with_cancellations_loses_no_event() -> None:
    """200,000 messages in bursts to 200 guilds, with deliverers cancelled and timed out
    midway and tiny mailboxes overflowing: every human message is counted exactly once."""
    store = MemoryStore()
    sink = RecordingSink()
    clock = LoopClock(T0)
    sup = make_supervisor(store, sink, clock, mailbox_capacity=16)
    delivered = 0
    rng = random.Random(99)

    async def burst(n: int) -> None:
        nonlocal delivered
        for _ in range(n):
            g = rng.randint(1, 200)
            sup.deliver(MessageSeen(g, 9, rng.randint(1, 5), clock.now()))
            delivered += 1
            if delivered % 4999 == 0:
                await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, sink)
        while delivered < 200_000:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(burst, min(5000, 200_000 - delivered))
                    if rng.random() < 0.3:
                        await anyio.lowlevel.checkpoint()
                        scope.cancel()
            with anyio.move_on_after(0):
                await anyio.sleep(1)
        await anyio.wait_all_tasks_blocked()
        counted = sum(a.state.human_messages for a in sup.live_actors())
        stats = sup.statistics()
        await sup.shutdown()
    assert delivered == 200_000
    assert counted == delivered
    assert stats.mailbox_coalesced > 0  # the small mailboxes did overflow
    assert stats.delivered == delivered + len(sink.requests)  # + the results sent back


@pytest.mark.anyio
async def test_a_guild_that_cannot_even_start_does_not_touch_the_others() -> None:
    """Settings that raise for one guild fail that guild alone, visibly; the router and
    every other guild go on."""
    good = ActorSettings(config=CFG, channel_id=9)

    def settings_for(gid: int) -> ActorSettings:
        if gid == 13:
            raise KeyError("no settings for 13")
        return good

    sink = RecordingSink()
    sup = Supervisor(store=MemoryStore(), settings_for=settings_for, seed=SEED,
                     config=SupervisorConfig(startup_grace_s=0, gc_freeze=False),
                     clock=LoopClock(T0))
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, sink)
        sup.deliver(MessageSeen(13, 9, 1, T0))
        sup.deliver(MessageSeen(14, 9, 1, T0))
        await anyio.wait_all_tasks_blocked()
        stats = sup.statistics()
        assert stats.live == 1 and stats.crashes == 1
        assert sup.deliver(MessageSeen(14, 9, 1, T0))
        await anyio.wait_all_tasks_blocked()
        [actor] = sup.live_actors()
        assert actor.guild_id == 14 and actor.state.human_messages == 2
        await sup.shutdown()


def test_a_backlog_of_due_wake_ups_never_keeps_every_guild_live() -> None:
    """After a downtime, 5,000 passivated guilds are all past their wake-up: none is woken
    before it is ready; their GuildReady wakes each, it looks and goes back to sleep at once,
    so the live count stays near zero instead of 5,000; the one with someone around a long
    silence waits a whole silence from its GuildReady (not from the snapshot's old times)."""
    from engine import encode_state

    seen: dict[str, Any] = {}

    async def body(clock: LoopClock) -> None:
        store = MemoryStore(clock=clock.now)
        rows = []
        for g in range(1, 5001):
            state = new_state(g, T0 - 86400, mood="bubbly")
            rows.append((g, encode_state(state), T0 - 3600.0))
        await store.passivate_many(rows)
        sink = RecordingSink()
        sup = make_supervisor(store, sink, clock, passivate_after_s=600.0)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            await trio.sleep(3)
            seen["before_ready"] = sup.statistics()
            for g in range(1, 5001):
                sup.deliver(GuildReady(g, clock.now(), (1,) if g == 77 else ()))
            await trio.sleep(5)
            seen["stats"] = sup.statistics()
            seen["early"] = list(sink.requests)
            await trio.sleep(3 * 3600)
            seen["sink"] = sink
            await sup.shutdown()

    run_virtual(body)
    assert seen["before_ready"].wakes == 0 and seen["before_ready"].spawned == 0
    stats = seen["stats"]
    assert stats.wakes == 5000
    assert stats.passivations >= 4999
    assert stats.live <= 1
    assert seen["early"] == []
    first = seen["sink"].requests[0]
    assert {r.guild_id for r in seen["sink"].requests} == {77}
    assert first.action == "break_silence"
    assert first.decided_at - (T0 + 3) >= 4680  # bubbly's silence threshold, from ready


@pytest.mark.anyio
async def test_a_corrupt_or_foreign_snapshot_gives_a_fresh_guild_and_is_kept_aside() -> None:
    """Garbage bytes and a snapshot of another schema version: each guild starts fresh with a
    logged error, its bad row is put aside for inspection, and nothing else is affected."""
    import msgspec
    import structlog.testing

    from engine import encode_state

    store = MemoryStore()
    good = new_state(3, T0)
    good.human_messages = 5
    future = msgspec.msgpack.encode({"version": 99, "guild_id": 2})
    await store.save_many([(1, b"\x93garbage"), (2, future), (3, encode_state(good))])
    sink = RecordingSink()
    sup = make_supervisor(store, sink, LoopClock(T0))
    with structlog.testing.capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run, sink)
            for g in (1, 2, 3):
                sup.deliver(MessageSeen(g, 9, 7, T0))
            await anyio.wait_all_tasks_blocked()
            counts = {a.guild_id: a.state.human_messages for a in sup.live_actors()}
            stats = sup.statistics()
            await sup.shutdown()
    assert counts == {1: 1, 2: 1, 3: 6}
    assert stats.bad_snapshots == 2 and stats.crashes == 0
    aside = {row.guild_id: row for row in store.put_aside_rows()}
    assert set(aside) == {1, 2}
    assert aside[1].data == b"\x93garbage"
    assert "version 99" in aside[2].error
    errors = [x for x in logs if x["event"] == "bad_snapshot"]
    assert sorted(x["guild_id"] for x in errors) == [1, 2]
