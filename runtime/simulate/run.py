"""Running the whole runtime (``runtime.process.Runtime``) against simulated traffic.

The simulated Discord side: a sender that records what was sent (guild, action, time, text
length, target) and checks the words carry no ping, a context fetcher that invents neutral
placeholder lines when asked (nothing is stored), display names made up from user ids, and
a few dozen feed items to share. A driver sleeps until each event's time and hands it to the
router synchronously (``runtime.deliver``), exactly as the gateway adapter does.

Virtual time: trio with a clock that jumps whenever every task waits (``VirtualClock``).
Two things keep a run reproducible byte for byte:

- The store works in a thread, and a thread's work must not let virtual time jump by however
  much wall-clock time it happens to take: while a store call (or start-up) is running the
  clock does not jump (``_HeldClockStore``), so store I/O takes no virtual time.
- trio runs the tasks due at one instant in a random order. Traffic never lands on a whole
  second (see ``traffic``), and the snapshot interval is 60 s and a fraction of a millisecond,
  so snapshots never fall on an hour boundary (mood rotations, passivations) or on an event.
"""

from __future__ import annotations

import functools
import math
import re
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import msgspec
import structlog
import trio

from actors.clock import LoopClock
from actors.events import ActionRequest, MoodSet
from runtime.config import (
    Config,
    GuildDefaults,
    GuildOverride,
    LLMConfig,
    RuntimeConfig,
    StoreConfig,
)
from runtime.errors import SendRejected
from runtime.pool import ContextLine, FeedItem, FeedItems
from runtime.process import Runtime
from runtime.simulate.traffic import GRID_S, Traffic
from runtime.store import MemoryStore, open_store
from runtime.supervisor import SupervisorConfig

__all__ = [
    "QUIET_HOURS",
    "SNAPSHOT_INTERVAL_S",
    "RunResult",
    "RunSetup",
    "SentRecord",
    "SimDiscord",
    "VirtualClock",
    "build_config",
    "run_policy",
    "run_realtime",
    "run_virtual",
    "sim_items",
]

log = structlog.get_logger("runtime.simulate")

#: Local quiet hours of every simulated guild (start inclusive, end exclusive).
QUIET_HOURS = (1, 7)
#: 60 s plus a little, never a whole second: see the module docstring.
SNAPSHOT_INTERVAL_S = 60.0 + math.pi * 1e-4
_PING = re.compile(r"<@[!&]?\d+>|@everyone|@here", re.IGNORECASE)
_NEWS = (
    "Magical Mirai 2026: the setlist is out",
    "New Project DIVA module pack announced",
    "Colorful Stage adds a new event",
    "A producer uploads a new Miku song",
    "Snow Miku 2026 design revealed",
    "Vocaloid concert tickets on sale",
    "Fan-made PV hits a million views",
    "Nendoroid preorders open",
    "Miku Expo world tour dates",
    "A new rhythm-game chart drops",
    "Interview with a Vocaloid producer",
    "Cosplay gallery from the weekend",
)


class SentRecord(msgspec.Struct, frozen=True, gc=False):
    """One message the persona sent (never its words: only their length)."""

    guild_id: int
    action: str
    at: float
    mood: str
    text_len: int
    priority: int
    target_user_id: int | None = None
    target_activity: str | None = None
    pinged: bool = False


class RunSetup(msgspec.Struct, frozen=True):
    """How to run one policy over the traffic.

    ``store_path`` None uses a ``MemoryStore``; ``control_socket`` None serves none.
    ``pinned_moods`` (non-empty) turns rotation off and gives guild ``i`` the mood
    ``pinned_moods[i % len]``.
    """

    seed: int = 0
    grace_s: float = 120.0
    pinned_moods: tuple[str, ...] = ()
    store_path: str | None = None
    control_socket: str | None = None
    llm_url: str | None = None
    llm_model: str = "default"
    llm_workers: int = 2
    #: SIGINT / SIGTERM end the traffic early (the run still shuts down in order and
    #: reports what happened until then). For wall-clock runs from the command line.
    stop_on_signals: bool = False


class RunResult(msgspec.Struct):
    """What one run did: every send, the runtime's counters, how long it took."""

    policy: str
    clock: str
    sent: list[SentRecord]
    runtime: dict[str, int]
    wall_s: float
    #: Epoch time the traffic stopped: the window's end, or earlier if interrupted.
    ended_at: float = math.inf


class SimDiscord:
    """The simulated Discord side of one run."""

    def __init__(self, clock: LoopClock, channels: dict[int, int]) -> None:
        self.clock = clock
        self.channels = channels
        self.sent: list[SentRecord] = []

    async def send(self, request: ActionRequest, text: str) -> None:
        """Record the send. A channel the guild does not speak in is refused, like a 404."""
        if self.channels.get(request.guild_id) != request.channel_id:
            raise SendRejected("unknown channel (404)", status=404)
        self.sent.append(SentRecord(
            request.guild_id, request.action, self.clock.now(), request.mood, len(text),
            request.priority, request.target_user_id, request.target_activity,
            _PING.search(text) is not None))

    async def context(self, guild_id: int, channel_id: int, limit: int) -> list[ContextLine]:
        """Neutral placeholder lines, invented on demand: no message content exists."""
        return [ContextLine(f"user{(guild_id + i) % 7 + 1}", "(a message)")
                for i in range(min(limit, 6))]

    async def name(self, guild_id: int, user_id: int) -> str:
        return f"user{user_id % 1_000_000}"


def sim_items() -> list[FeedItem]:
    """Three dozen made-up items for ``share_tweet``."""
    return [FeedItem(f"sim-news-{i}", f"{_NEWS[i % len(_NEWS)]} (#{i})",
                     f"https://example.invalid/news/{i}") for i in range(36)]


def build_config(traffic: Traffic, policy: str, setup: RunSetup) -> Config:
    """The config of a run, built in code: one ``[guilds.<id>]`` table per simulated guild
    with its autonomous channel, its time zone, quiet hours and the policy."""
    rotate = not setup.pinned_moods
    guilds = {
        g.plan.guild_id: GuildOverride(
            autonomous_channel_id=g.plan.channel_id, timezone=g.plan.timezone,
            quiet_hours=QUIET_HOURS, policy=policy, rotate_moods=rotate)  # type: ignore[arg-type]
        for g in traffic.guilds
    }
    llm = LLMConfig(workers=setup.llm_workers, queue_size=max(256, 2 * len(guilds)))
    if setup.llm_url is not None:
        llm = msgspec.structs.replace(llm, backend="openai", base_url=setup.llm_url,
                                      model=setup.llm_model)
    return Config(
        defaults=GuildDefaults(quiet_hours=QUIET_HOURS),
        guilds=guilds, llm=llm,
        store=StoreConfig(path=setup.store_path or ":memory:"),
        runtime=RuntimeConfig(snapshot_interval_s=SNAPSHOT_INTERVAL_S,
                              control_socket=setup.control_socket or "unused.sock"),
    )


class VirtualClock(trio.abc.Clock):
    """Virtual time for trio: whenever no task can run, time jumps to the next deadline.

    What ``trio.testing.MockClock(autojump_threshold=0)`` does, in one turn of the run loop
    instead of two and without gathering the run's statistics at each jump: trio asks a clock
    for the sleep time only when no task is runnable, so that is the moment to jump.

    One task (the traffic driver) may also sleep with ``sleep_until``: it is woken by the
    jump itself, with no cancel scope and no timer entry, in the same turn. At one event per
    distinct instant that is most of the driver's cost (18 µs down to 5 µs per event).

    While ``held`` is non-zero the clock does not jump: the loop waits in wall-clock time for
    I/O (a worker thread's result). It starts held, for the runtime's start-up.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self.held = 1
        self._sleeper: Any = None
        self._wake_at = math.inf

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        if deadline <= self._now:
            return 0.0
        if self.held:
            return 86400.0  # wait for I/O: a thread's result, a control-socket client
        if self._sleeper is not None and self._wake_at <= deadline:
            task, self._sleeper = self._sleeper, None
            self._now = max(self._now, self._wake_at)
            self._wake_at = math.inf
            trio.lowlevel.reschedule(task)
            return 0.0
        if deadline == math.inf:
            return 86400.0  # nothing will happen by itself: only I/O can wake the loop
        self._now = deadline
        return 0.0

    async def sleep_until(self, at: float) -> None:
        """Sleep until loop time ``at`` (one task at a time; cancellable)."""
        if at <= self._now:
            await trio.lowlevel.checkpoint()
            return
        if self._sleeper is not None:
            raise RuntimeError("VirtualClock.sleep_until: another task is already sleeping")
        self._sleeper = trio.lowlevel.current_task()
        self._wake_at = at

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._sleeper = None
            self._wake_at = math.inf
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)


class _HeldClockStore:
    """A store whose calls take no virtual time: the virtual clock does not jump while one
    of them is running in its thread (every other attribute passes through)."""

    def __init__(self, store: Any, clock: VirtualClock) -> None:
        self._store = store
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        async def held(*args: Any, **kwargs: Any) -> Any:
            self._clock.held += 1
            try:
                return await attr(*args, **kwargs)
            finally:
                self._clock.held -= 1
        return held


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
    for i, g in enumerate(traffic.guilds):
        deliver(g.ready)
        if moods:
            deliver(MoodSet(g.plan.guild_id, moods[i % len(moods)], start))
    if on_started is not None:
        await on_started(rt)
    current_time = anyio.current_time if virtual is None else virtual.current_time
    sleep_until = anyio.sleep_until if virtual is None else virtual.sleep_until
    for event in traffic.merged():
        at = event.at - offset
        if at > current_time():
            await sleep_until(at)
        deliver(event)
        progress[0] += 1
    # Half a grid step before the end: no timer of the runtime falls on that instant.
    await sleep_until(traffic.end - GRID_S / 2 - offset)


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
        policy: ``v2`` or ``v1``.
        setup: seed, grace, pinned moods, store, control socket, LLM server.
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
    discord = SimDiscord(clock, {g.plan.guild_id: g.plan.channel_id for g in traffic.guilds})
    if setup.store_path is None:
        store: Any = MemoryStore(clock=clock.now)
        sqlite = None
    else:
        sqlite = await open_store(setup.store_path, clock=clock.now).open()  # path or URL
        store = sqlite if virtual is None else _HeldClockStore(sqlite, virtual)
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
            figures = _runtime_figures(rt, progress[0])
    finally:
        if sqlite is not None:
            with anyio.CancelScope(shield=True):
                await sqlite.close()
    sent = sorted(discord.sent, key=lambda r: (r.at, r.guild_id, r.priority, r.action))
    return RunResult(policy, "virtual" if virtual is not None else "realtime", sent,
                     figures, time.perf_counter() - wall0, ended_at)


def run_virtual(traffic: Traffic, policy: str, setup: RunSetup) -> RunResult:
    """``run_policy`` in virtual time, in a trio loop of its own (blocks until done)."""
    clock = VirtualClock()

    async def main() -> RunResult:
        return await run_policy(traffic, policy, setup, virtual=clock)

    return trio.run(main, clock=clock)


def run_realtime(traffic: Traffic, policy: str, setup: RunSetup) -> RunResult:
    """``run_policy`` on the wall clock, in an asyncio loop of its own (blocks until done)."""
    return anyio.run(functools.partial(run_policy, traffic, policy, setup), backend="asyncio")
