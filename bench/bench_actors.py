"""Benchmarks of the actor runtime (run by hand; results in docs/BENCHMARKS.md).

    .venv/bin/python bench/bench_actors.py all            # every scenario, both backends
    .venv/bin/python bench/bench_actors.py throughput --backend trio --guilds 10000

Scenarios:
  throughput   full path (supervisor.deliver -> mailbox -> actor -> engine, decisions
               included) at N live guilds: events in bursts, and one event per wake-up;
               the naive design (one task per actor, an anyio memory stream, ``await send``,
               a ``move_on_after`` around every receive) and the plain anyio idiom (the same
               without the timeout) measured in the same run
  latency      p50/p99 delivery-to-update latency at 1,000 events/s
  memory       bytes per idle live actor; bytes per passivated guild; 1,000,000 known
               guilds with 1% live (RSS)
  idle         CPU used by 10,000 idle live actors with 10-minute ticks
  spawn        time to spawn 100,000 live actors
  gc           the longest garbage-collector pause while events flow at 100,000 actors
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog

from actors.actor import ActorSettings, GuildActor
from actors.events import GuildReady, MessageSeen
from engine import GuildConfig
from runtime.store import MemoryStore, SQLiteStore
from runtime.supervisor import Supervisor, SupervisorConfig

T0 = 1_700_000_000.0
CFG = GuildConfig(quiet_hours=None, rotate_moods=False)


class NullSink:
    def __init__(self) -> None:
        self.n = 0

    def submit(self, request: Any) -> None:
        self.n += 1


def quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40),
                        cache_logger_on_first_use=True)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_sup(store: Any = None, *, passivate_after_s: float = 0.0, tick_s: float = 600.0,
             gc_freeze: bool = True) -> Supervisor:
    settings = ActorSettings(config=CFG, channel_id=1, tick_s=tick_s,
                             passivate_after_s=passivate_after_s)
    return Supervisor(store=store or MemoryStore(),
                      settings_for=lambda gid: settings, seed=1,
                      config=SupervisorConfig(startup_grace_s=0.0, gc_freeze=gc_freeze,
                                              snapshot_interval_s=3600.0))


async def spawn_all(sup: Supervisor, n: int) -> float:
    """Deliver GuildReady to n guilds and wait until every actor is live; seconds taken."""
    clock = sup.clock
    assert clock is not None
    t = time.perf_counter()
    for g in range(1, n + 1):
        sup.deliver(GuildReady(g, clock.now(), (g,)))
        if g % 5000 == 0:
            await anyio.lowlevel.checkpoint()
    await anyio.wait_all_tasks_blocked()  # every actor started and waits
    assert sup.statistics().live >= n
    return time.perf_counter() - t


# --- throughput ------------------------------------------------------------------------

async def throughput(n_guilds: int, n_events: int, burst: int = 2000) -> dict[str, float]:
    sup = make_sup()
    out: dict[str, float] = {}
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, NullSink())
        await spawn_all(sup, n_guilds)
        clock = sup.clock
        assert clock is not None
        rng = random.Random(1)
        guilds = [rng.randint(1, n_guilds) for _ in range(n_events)]
        authors = [rng.randint(1, 50) for _ in range(n_events)]
        now = clock.now()
        events = [MessageSeen(g, 1, a, now) for g, a in zip(guilds, authors, strict=True)]
        # Bursts: the gateway reader hands over queued frames, then yields.
        before = sum(a.events_handled for a in sup.live_actors())
        t = time.perf_counter()
        for i in range(0, n_events, burst):
            for e in events[i:i + burst]:
                sup.deliver(e)
            await anyio.lowlevel.checkpoint()
        await anyio.wait_all_tasks_blocked()
        dt = time.perf_counter() - t
        handled = sum(a.events_handled for a in sup.live_actors()) - before
        assert handled == n_events, (handled, n_events)
        out["burst_events_per_s"] = n_events / dt
        # One event per wake-up: deliver, then let the actor run before the next.
        k = min(n_events, 50_000)
        t = time.perf_counter()
        for e in events[:k]:
            sup.deliver(e)
            await anyio.lowlevel.checkpoint()
        await anyio.wait_all_tasks_blocked()
        out["single_events_per_s"] = k / (time.perf_counter() - t)
        await sup.shutdown()
    return out


async def naive(n_guilds: int, n_events: int, deadline_per_receive: bool = True) -> float:
    """The naive design, for comparison: a task per actor with an anyio memory stream,
    ``await send`` per event, and a timeout around every receive; with
    ``deadline_per_receive=False`` the plain anyio idiom (the same without the timeout: no
    tick timer at all)."""
    from engine import decide, new_state, observe_message

    streams = {}
    done = anyio.Event()
    handled = 0

    async def actor(gid: int, receive: Any) -> None:
        nonlocal handled
        state = new_state(gid, T0)
        while True:
            with anyio.move_on_after(600) if deadline_per_receive else contextlib.nullcontext():
                event = await receive.receive()
                observe_message(state, event.at, event.author_is_bot, event.is_self)
                decide(state, CFG, event.at, 1)
                handled += 1
                if handled == n_events:
                    done.set()

    async with anyio.create_task_group() as tg:
        for g in range(1, n_guilds + 1):
            send, receive = anyio.create_memory_object_stream[Any](1024)
            streams[g] = send
            tg.start_soon(actor, g, receive)
        await anyio.wait_all_tasks_blocked()
        rng = random.Random(1)
        events = [MessageSeen(g, 1, 1, T0) for g in
                  (rng.randint(1, n_guilds) for _ in range(n_events))]
        t = time.perf_counter()
        for e in events:
            await streams[e.guild_id].send(e)
        await done.wait()
        dt = time.perf_counter() - t
        tg.cancel_scope.cancel()
    return n_events / dt


# --- latency -----------------------------------------------------------------------------

async def latency(n_guilds: int, rate: float, seconds: float) -> dict[str, float]:
    lat: list[float] = []
    original = GuildActor._handle_batch

    def timed(self: GuildActor, batch: list[Any], now: float) -> None:
        now = self.clock.now()
        for e in batch:
            if type(e) is MessageSeen:
                lat.append(now - e.at)
        original(self, batch, now)

    GuildActor._handle_batch = timed  # type: ignore[method-assign]
    sup = make_sup()
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, NullSink())
        await spawn_all(sup, n_guilds)
        clock = sup.clock
        assert clock is not None
        rng = random.Random(2)
        interval = 1.0 / rate
        start = anyio.current_time()
        n = int(rate * seconds)
        for i in range(n):
            await anyio.sleep_until(start + i * interval)
            sup.deliver(MessageSeen(rng.randint(1, n_guilds), 1, 1, clock.now()))
        await anyio.wait_all_tasks_blocked()
        await sup.shutdown()
    GuildActor._handle_batch = original  # type: ignore[method-assign]
    lat.sort()
    return {"events": len(lat), "p50_ms": lat[len(lat) // 2] * 1e3,
            "p99_ms": lat[int(len(lat) * 0.99)] * 1e3, "max_ms": lat[-1] * 1e3}


# --- memory ------------------------------------------------------------------------------

async def memory_live(n: int) -> float:
    sup = make_sup(gc_freeze=False)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, NullSink())
        await spawn_all(sup, 100)  # warm up caches and code paths
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        clock = sup.clock
        assert clock is not None
        for g in range(1000, 1000 + n):
            sup.deliver(GuildReady(g, clock.now(), (g,)))
            if g % 5000 == 0:
                await anyio.lowlevel.checkpoint()
        await anyio.wait_all_tasks_blocked()  # every actor started and waits
        assert sup.statistics().live >= n + 100
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        await sup.shutdown()
    return used / n


async def memory_passivated(n: int) -> float:
    """Bytes the supervisor keeps per passivated guild (its wake-up time)."""
    store = MemoryStore()
    data = b"x" * 10
    await store.passivate_many([(g, data, T0 + 3600 + g) for g in range(1, n + 1)])
    sup = make_sup(store)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, NullSink())
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        assert sup.statistics().passivated == n
        tg.cancel_scope.cancel()
    return used / n


async def million_known(path: str, live: int) -> dict[str, float]:
    store = SQLiteStore(path)
    await store.open()
    n = 1_000_000
    rows = await store.load_wakeups()
    if len(rows) < n:
        from engine import encode_state, new_state

        blob = encode_state(new_state(1, T0))
        for start in range(0, n, 100_000):
            # wake-ups a day ahead and later (the bench's fixed file outlives a run)
            await store.passivate_many([(g, blob, time.time() + 86400 + 10 * g)
                                        for g in range(start + 1, start + 100_001)])
    del rows
    gc.collect()
    rss0 = rss_bytes()
    sup = make_sup(store)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, NullSink())
        # 1% live: guilds that are not among the stored ones start fresh.
        clock = sup.clock
        assert clock is not None
        for g in range(2_000_001, 2_000_001 + live):
            sup.deliver(GuildReady(g, clock.now(), (g,)))
            if g % 5000 == 0:
                await anyio.lowlevel.checkpoint()
        await anyio.wait_all_tasks_blocked()  # every actor started and waits
        assert sup.statistics().live >= live
        gc.collect()
        st = sup.statistics()
        out = {"known": st.passivated + st.live, "live": st.live,
               "rss_mb": rss_bytes() / 2**20, "rss_delta_mb": (rss_bytes() - rss0) / 2**20}
        tg.cancel_scope.cancel()
    await store.close()
    return out


# --- idle CPU, spawn, GC -----------------------------------------------------------------

async def idle_cpu(n: int, seconds: float, tick_s: float) -> tuple[float, int]:
    """CPU share of n idle actors ticking every tick_s, over ``seconds`` (after the first
    ticks are under way), and how many ticks fired."""
    from engine import decide as real_decide

    sup = make_sup(tick_s=tick_s)
    ticks = 0
    import actors.actor as actor_module

    def counting(*args: Any, **kw: Any) -> Any:
        nonlocal ticks
        ticks += 1
        return real_decide(*args, **kw)

    actor_module.decide = counting  # type: ignore[assignment]
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, NullSink())
        await spawn_all(sup, n)
        await anyio.sleep(tick_s)  # let the jittered ticks spread out
        ticks = 0
        c0, t0 = time.process_time(), time.perf_counter()
        await anyio.sleep(seconds)
        share = (time.process_time() - c0) / (time.perf_counter() - t0)
        fired = ticks
        await sup.shutdown()
    actor_module.decide = real_decide  # type: ignore[assignment]
    return share * 100, fired


async def spawn(n: int) -> float:
    sup = make_sup()
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, NullSink())
        dt = await spawn_all(sup, n)
        tg.cancel_scope.cancel()
    return dt


async def gc_pauses(n: int, n_events: int) -> dict[str, float]:
    pauses: list[float] = []
    started: list[float] = []

    def cb(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses.append(time.perf_counter() - started.pop())

    sup = make_sup()
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run, NullSink())
        await spawn_all(sup, n)
        # the supervisor froze the spawn burst and holds its GC guard
        gc.callbacks.append(cb)
        clock = sup.clock
        assert clock is not None
        rng = random.Random(3)
        for i in range(n_events):
            sup.deliver(MessageSeen(rng.randint(1, n), 1, rng.randint(1, 40), clock.now()))
            if i % 2000 == 0:
                await anyio.lowlevel.checkpoint()
        await anyio.wait_all_tasks_blocked()
        gc.callbacks.remove(cb)
        await sup.shutdown()
    return {"collections": len(pauses), "max_pause_ms": max(pauses, default=0) * 1e3,
            "total_ms": sum(pauses) * 1e3}


def run(fn: Any, backend: str, *args: Any) -> Any:
    return anyio.run(fn, *args, backend=backend)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=["throughput", "latency", "memory", "idle", "spawn",
                                        "gc", "million", "all"])
    p.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    p.add_argument("--guilds", type=int, default=10_000)
    p.add_argument("--events", type=int, default=300_000)
    args = p.parse_args()
    quiet_logs()
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    todo = [args.scenario] if args.scenario != "all" else [
        "throughput", "latency", "memory", "idle", "spawn", "gc"]
    for scenario in todo:
        for b in backends:
            if scenario == "throughput":
                for g in (1000, args.guilds):
                    nv = run(naive, b, g, min(args.events, 100_000))
                    plain = run(naive, b, g, min(args.events, 100_000), False)
                    for burst in (1000, 10_000, 100_000):
                        r = run(throughput, b, g, args.events, burst)
                        print(f"{b:7} throughput guilds={g} burst={burst}: "
                              f"{r['burst_events_per_s']:,.0f} ev/s; one per wake-up "
                              f"{r['single_events_per_s']:,.0f} ev/s; naive design "
                              f"{nv:,.0f} ev/s; plain anyio idiom {plain:,.0f} ev/s")
            elif scenario == "latency":
                r = run(latency, b, 1000, 1000.0, 10.0)
                print(f"{b:7} latency at 1,000 ev/s, 1,000 guilds: p50 {r['p50_ms']:.3f} ms,"
                      f" p99 {r['p99_ms']:.3f} ms, max {r['max_ms']:.3f} ms"
                      f" ({r['events']} events)")
            elif scenario == "memory":
                live = run(memory_live, b, 10_000)
                pas = run(memory_passivated, b, 100_000)
                print(f"{b:7} memory: {live:,.0f} B per idle live actor;"
                      f" {pas:,.0f} B per passivated guild")
            elif scenario == "million":
                path = os.environ.get("MILLION_DB", "/tmp/bench-million.sqlite3")
                r = run(million_known, b, path, 10_000)
                print(f"{b:7} 1,000,000 known guilds, {r['live']:,} live: RSS "
                      f"{r['rss_mb']:,.0f} MB (supervisor + actors: {r['rss_delta_mb']:,.0f} MB)")
            elif scenario == "idle":
                # 1-minute ticks measured for 2 minutes; 10-minute ticks cost a tenth of it.
                share, fired = run(idle_cpu, b, 10_000, 120.0, 60.0)
                print(f"{b:7} idle: 10,000 live actors, 1-min ticks: {share:.3f}% of a core "
                      f"({fired:,} ticks in 120 s); so 10-min ticks: {share / 10:.3f}%")
            elif scenario == "spawn":
                dt = run(spawn, b, 100_000)
                print(f"{b:7} spawn: 100,000 live actors in {dt:.2f} s")
            elif scenario == "gc":
                r = run(gc_pauses, b, 100_000, 300_000)
                print(f"{b:7} gc with 100,000 live actors, 300,000 events: "
                      f"{r['collections']} collections, longest {r['max_pause_ms']:.1f} ms")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
