"""Running the whole runtime (``runtime.core.Runtime``) against simulated traffic.

The simulated Discord side is ``channel.SimDiscord`` (what she sent, what the channel shows
her). A driver sleeps until each event's time and hands it to the router synchronously
(``runtime.deliver``), exactly as the gateway adapter does. A guild's opening ``GuildReady``
comes at the window's start, or a few seconds later, staggered, when the run resumes a store
(as the gateway delivers them after a restart).

Virtual time: trio with a clock that jumps whenever every task waits (``VirtualClock``).
Two things keep a run reproducible byte for byte:

- The store works in a thread, and a thread's work must not let virtual time jump by however
  much wall-clock time it happens to take: while a store call (or start-up) is running the
  clock does not jump (``HeldClockStore``), so store I/O takes no virtual time.
- trio runs the tasks due at one instant in a random order. Traffic never lands on a whole
  second (see ``traffic``), and the snapshot interval is 60 s and a fraction of a millisecond,
  so snapshots never fall on an hour boundary (mood rotations, passivations) or on an event.

While a run goes on, every log line carries ``sim_time``: the simulated clock's time, ISO 8601
in UTC (``sim_time_processor``).
"""

from __future__ import annotations

import functools
import heapq
import signal
import time
from collections.abc import Awaitable, Callable, MutableMapping
from operator import attrgetter
from typing import Any

import anyio
import anyio.abc
import structlog
import trio

from actors.clock import LoopClock
from actors.events import MoodSet
from runtime.core import Runtime
from runtime.pool import FeedItems
from runtime.simulate.channel import SimDiscord, iso_utc, sim_items
from runtime.simulate.people import People
from runtime.simulate.setup import SNAPSHOT_INTERVAL_S, RunResult, RunSetup, build_config
from runtime.simulate.traffic import GRID_S, Traffic
from runtime.simulate.virtual import HeldClockStore, VirtualClock
from runtime.store import MemoryStore, open_store
from runtime.supervisor import SupervisorConfig

__all__ = [
    "run_policy",
    "run_realtime",
    "run_virtual",
    "sim_time_processor",
]

log = structlog.get_logger("runtime.simulate")

#: The running simulation's clock, read by ``sim_time_processor`` (None: no run).
_sim_now: Callable[[], float] | None = None


def sim_time_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]
                       ) -> MutableMapping[str, Any]:
    """A structlog processor: ``sim_time`` (ISO 8601 UTC of the simulated clock) on every
    line logged while a run goes on, from any task or thread."""
    now = _sim_now
    if now is not None:
        event_dict["sim_time"] = iso_utc(now())
    return event_dict


def _set_sim_clock(clock: LoopClock, virtual: VirtualClock | None) -> None:
    """Point ``sim_time_processor`` at this run's clock, readable from threads too (the
    store's worker logs): the virtual clock's own time, or the asyncio loop's monotonic
    clock under the same offset."""
    global _sim_now
    offset = clock.offset
    if virtual is not None:
        _sim_now = lambda: offset + virtual.current_time()  # noqa: E731
    else:
        _sim_now = lambda: offset + time.monotonic()  # noqa: E731


async def _drive(rt: Runtime, traffic: Traffic, clock: LoopClock, setup: RunSetup,
                 virtual: VirtualClock | None,
                 on_started: Callable[[Runtime], Awaitable[None]] | None,
                 progress: list[int]) -> None:
    """Deliver every event at its time; then wait for the end of the window.
    ``progress[0]`` counts the events delivered (it survives a cancellation)."""
    assert rt.supervisor is not None
    deliver = rt.supervisor.deliver  # what rt.deliver calls, one call less per event
    offset = clock.offset
    start = traffic.start
    moods = setup.pinned_moods
    late = []
    for i, g in enumerate(traffic.guilds):
        if g.ready.at <= start:
            deliver(g.ready)
        else:
            late.append(g.ready)
        if moods:
            deliver(MoodSet(g.plan.guild_id, moods[i % len(moods)], start))
    if on_started is not None:
        await on_started(rt)
    events = traffic.merged()
    if late:
        late.sort(key=attrgetter("at"))
        events = heapq.merge(late, events, key=attrgetter("at"))
    # Half a grid step before the end: no timer of the runtime falls on that instant.
    end = traffic.end - GRID_S / 2 - offset
    if virtual is not None:
        # The clock's jumps hand the events over (one turn of the loop per event, not two).
        virtual.feed(events, deliver, offset=offset)
        try:
            await virtual.sleep_until(end)
        finally:
            virtual.cancel_feed()
            progress[0] = virtual.fed
        return
    for event in events:
        at = event.at - offset
        if at > anyio.current_time():
            await anyio.sleep_until(at)
        deliver(event)
        progress[0] += 1
    await anyio.sleep_until(end)


async def _stop_on_signals(driving: anyio.CancelScope, *,
                           task_status: anyio.abc.TaskStatus[anyio.CancelScope]
                           = anyio.TASK_STATUS_IGNORED) -> None:
    """Cancel ``driving`` on the first SIGINT or SIGTERM; started with the scope that
    ends this watcher."""
    with anyio.CancelScope() as own, anyio.open_signal_receiver(signal.SIGINT,
                                                                signal.SIGTERM) as signals:
        task_status.started(own)
        async for signum in signals:
            log.warning("simulate.interrupted", signal=signal.Signals(signum).name)
            driving.cancel()
            return


async def _drain(rt: Runtime, timeout_s: float) -> None:
    """On the wall clock, let the words decided in the window reach the channel (a real
    server may still be answering) before shutting down, for at most ``timeout_s``.
    Shutting down at once would fail them: that is the bot's shutdown, not the persona's
    behaviour. In virtual time the offline backend answers at once: nothing is left."""
    assert rt.pool is not None
    with anyio.move_on_after(timeout_s):
        while True:
            st = rt.pool.statistics()
            if st.queue_depth == 0 and st.in_flight == 0:
                return
            await anyio.sleep(0.05)  # the pool has no "idle" event to wait on


def _runtime_figures(rt: Runtime, traffic_events: int) -> dict[str, int]:
    assert rt.supervisor is not None and rt.pool is not None
    s = rt.supervisor.statistics()
    p = rt.pool.statistics()
    return {
        "traffic_events": traffic_events,
        "events_delivered": s.delivered,
        "events_refused": s.refused,
        "actors_spawned": s.spawned,
        "passivations": s.passivations,
        "wakes": s.wakes,
        "crashes": s.crashes,
        "restarts": s.restarts,
        "dead_letters": s.dead_letters,
        "snapshots_written": s.snapshots_written,
        "snapshot_batches": s.snapshot_batches,
        "snapshot_errors": s.snapshot_errors,
        "mailbox_overflow": s.mailbox_overflow,
        "mailbox_coalesced": s.mailbox_coalesced,
        "mailbox_dropped": s.mailbox_dropped,
        "pool_accepted": p.accepted,
        "pool_sent": p.sent,
        "pool_stale": p.stale,
        "pool_failed": p.failed,
        "pool_rejected": p.rejected,
        "pool_retries": p.retries,
    }


async def run_policy(traffic: Traffic, policy: str, setup: RunSetup, *,
                     virtual: VirtualClock | None = None,
                     on_started: Callable[[Runtime], Awaitable[None]] | None = None
                     ) -> RunResult:
    """Run the whole runtime over ``traffic`` with every guild on ``policy``.

    Args:
        traffic: the simulated guilds' events.
        policy: ``v2`` or ``v1``, or ``config`` for the owner's policies (``build_config``).
        setup: seed, grace, pinned moods, owner's settings, store, control socket, LLM
            server, whether to keep the words.
        virtual: the ``VirtualClock`` of the running trio loop, or None for the wall clock.
        on_started: awaited with the runtime once it serves and every guild has had its
            opening events, before the traffic (tests; in virtual time, hold the clock
            around thread work).

    Returns:
        The sends, the runtime's counters and the wall-clock seconds.
    """
    wall0 = time.perf_counter()
    clock = LoopClock(epoch_at_start=traffic.start)
    config = build_config(traffic, policy, setup)
    if setup.reactive and virtual is None:
        raise ValueError("reactive people need virtual time (run_virtual)")
    people = People(traffic.guilds, setup.seed) if setup.reactive else None
    discord = SimDiscord(clock, {g.plan.guild_id: g.plan.channel_id for g in traffic.guilds},
                         traffic, keep_words=setup.keep_words, people=people,
                         insert=virtual.insert if virtual is not None else None)
    _set_sim_clock(clock, virtual)
    if setup.store_path is None:
        store: Any = MemoryStore(clock=clock.now)
        sqlite = None
    else:
        sqlite = await open_store(setup.store_path, clock=clock.now).open()  # path or URL
        store = sqlite if virtual is None else HeldClockStore(sqlite, virtual)
    try:
        rt = Runtime(
            config, sender=discord.send, context=discord.context, names=discord.name,
            items=FeedItems(sim_items()), store=store, seed=setup.seed, clock=clock,
            supervisor_config=SupervisorConfig(
                startup_grace_s=setup.grace_s, snapshot_interval_s=SNAPSHOT_INTERVAL_S,
                cache_passivated=True, mailbox_capacity=1024),
            control_socket=setup.control_socket is not None)
        async with anyio.create_task_group() as tg:
            await tg.start(rt.run)
            if virtual is not None:
                virtual.held -= 1
            progress = [0]
            with anyio.CancelScope() as driving:
                watcher = (await tg.start(_stop_on_signals, driving)
                           if setup.stop_on_signals else None)
                await _drive(rt, traffic, clock, setup, virtual, on_started, progress)
            if watcher is not None:
                watcher.cancel()
            ended_at = min(clock.now(), traffic.end) if driving.cancelled_caught \
                else traffic.end
            if virtual is None:
                await _drain(rt, config.llm.timeout_s)
            rt.stop()
            await rt.stopped.wait()
            figures = _runtime_figures(rt, progress[0] - sum(
                1 for g in traffic.guilds if traffic.start < g.ready.at <= clock.now()))
    finally:
        global _sim_now
        _sim_now = None
        if sqlite is not None:
            with anyio.CancelScope(shield=True):
                await sqlite.close()
    sent = sorted(discord.sent, key=lambda r: (r.at, r.guild_id, r.priority, r.action))
    return RunResult(policy, "virtual" if virtual is not None else "realtime", sent,
                     figures, time.perf_counter() - wall0, ended_at,
                     examples=discord.examples, words=discord.words,
                     example_keys=discord.example_keys,
                     answers=people.answers() if people is not None else [])


def run_virtual(traffic: Traffic, policy: str, setup: RunSetup) -> RunResult:
    """``run_policy`` in virtual time, in a trio loop of its own (blocks until done)."""
    clock = VirtualClock()

    async def main() -> RunResult:
        return await run_policy(traffic, policy, setup, virtual=clock)

    return trio.run(main, clock=clock)


def run_realtime(traffic: Traffic, policy: str, setup: RunSetup) -> RunResult:
    """``run_policy`` on the wall clock, in an asyncio loop of its own (blocks until done)."""
    return anyio.run(functools.partial(run_policy, traffic, policy, setup), backend="asyncio")
