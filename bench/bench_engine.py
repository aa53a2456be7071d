"""Engine benchmark: observing messages, and one decision's latency. Run by hand, not a test.

Measures, on one core:

* **observe**: ``engine.observe_message`` for a stream of human messages spread over N guilds
  (the actor's hot path: look the guild's state up in a dict, count the message in its
  per-second buckets and windows), in events/s, with 1,000 and with 100,000 guilds. Beside it,
  in the same run and loop shape, chunk for chunk, a bare baseline: a dict of per-guild deques
  of the last hour's timestamps (append, evict the expired): about the least an exact
  one-hour window can cost in Python. The machine is shared, so rates are events per second
  of this process's CPU time (``process_time``), per chunk of 100,000 events, best and median
  chunk reported.
* **decide**: one ``engine.decide`` call's latency, p50 and p99, each call timed on its own
  (``perf_counter_ns`` around the call, so the timer's own ~50-100 ns are included), for
  typical states: idle (a quiet room, someone online, below the silence threshold), lively
  chat (the join rule is checked and rolls), blocked by a gate (a pending action), the worst
  case the state's bounds allow (an hour of per-second buckets, every list full), and the
  lively decision with ``explain=True`` (what the seed API and the logs ask for).

Usage: .venv/bin/python bench/bench_engine.py [--events 2000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import (
    WAKING_MOODS,
    GuildConfig,
    GuildState,
    decide,
    mark_pending,
    new_state,
    observe_message,
    observe_presence,
    record_action,
    seed_online,
)

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC: outside the default quiet hours
CFG = GuildConfig(rotate_moods=False)
SEED = 12345


def _events(n_guilds: int, n_events: int, span_s: float) -> tuple[list[int], list[float]]:
    """``n_events`` messages over ``span_s`` seconds, each in a random guild (ids are
    snowflake-sized, like Discord's)."""
    rng = random.Random(1)
    ids = [rng.getrandbits(60) for _ in range(n_guilds)]
    gids = [ids[rng.randrange(n_guilds)] for _ in range(n_events)]
    step = span_s / n_events
    times = [NOW + i * step for i in range(n_events)]
    return gids, times


def bench_observe(n_guilds: int, n_events: int, repeat: int,
                  chunk: int = 100_000) -> tuple[list[float], list[float]]:
    """Events per CPU-second of the engine and of the bare baseline, one figure per chunk of
    ``chunk`` events; the two alternate chunk by chunk, so both see the same machine load."""
    gids, times = _events(n_guilds, n_events, span_s=1800.0)
    engine_rates: list[float] = []
    base_rates: list[float] = []
    observe = observe_message
    # CPU time of this process: "events/s on one core", whatever else the machine runs.
    clock = time.process_time
    for _ in range(repeat):
        states: dict[int, GuildState] = {g: new_state(g, NOW) for g in set(gids)}
        bare: dict[int, deque[float]] = {g: deque() for g in set(gids)}
        gc.collect()
        for lo in range(0, n_events, chunk):
            pairs = list(zip(gids[lo:lo + chunk], times[lo:lo + chunk], strict=True))
            t0 = clock()
            for gid, now in pairs:
                observe(states[gid], now)
            engine_rates.append(len(pairs) / (clock() - t0))
            t0 = clock()
            for gid, now in pairs:
                # The bare baseline: the last hour's timestamps in a deque, oldest evicted.
                q = bare[gid]
                q.append(now)
                while q[0] <= now - 3600.0:
                    q.popleft()
            base_rates.append(len(pairs) / (clock() - t0))
        assert sum(s.human_messages for s in states.values()) == n_events
    return engine_rates, base_rates


# --- decide ----------------------------------------------------------------------------------

def _idle(gid: int, rng: random.Random) -> GuildState:
    s = new_state(gid, NOW - 600, mood=rng.choice(WAKING_MOODS))
    seed_online(s, [1, 2, 3])
    record_action(s, NOW - 1200, "join_conversation")
    observe_message(s, NOW - 900)
    return s


def _lively(gid: int, rng: random.Random) -> GuildState:
    s = new_state(gid, NOW - 3600, mood=rng.choice(["bubbly", "silly", "flirty", "excited",
                                                    "neutral", "curious"]))
    seed_online(s, list(range(20)))
    record_action(s, NOW - rng.uniform(300, 1800), "join_conversation")
    for i in range(600):  # a message a second for ten minutes
        observe_message(s, NOW - 600 + i)
    return s


def _crowded(gid: int, rng: random.Random) -> GuildState:
    """The worst case the bounds allow: a message every second for an hour (3,600 buckets),
    32 open opportunities, 256 engaged keys, a sharing mood inside its cooldowns."""
    s = new_state(gid, NOW - 3600, mood="curious")
    seed_online(s, list(range(200)))
    for i in range(3600):
        observe_message(s, NOW - 3600 + i)
    for u in range(300):
        record_action(s, NOW - 600, "engage_user", u, f"Game {u}")
    for u in range(40):
        observe_presence(s, NOW - 300 + u, 1000 + u, "online", f"Game {u}", False, CFG)
    return s


def _blocked(gid: int, rng: random.Random) -> GuildState:
    s = _lively(gid, rng)
    mark_pending(s, "join_conversation", gid, NOW + 60)
    return s


def bench_decide(make: Callable[[int, random.Random], GuildState], calls: int,
                 explain: bool = False) -> tuple[float, float, float, dict[str | None, int]]:
    """p50, p99 (ns, each call timed) and the mean (ns, from the loop's total) of ``calls``
    decisions over 1,000 guilds of one kind; and what was decided."""
    rng = random.Random(2)
    states = [make(gid, rng) for gid in range(1, 1001)]
    samples = []
    outcomes: dict[str | None, int] = {}
    clock = time.perf_counter_ns
    n = len(states)
    gc.collect()
    gc.disable()
    try:
        t_start = clock()
        for i in range(calls):
            state = states[i % n]
            now = NOW + (i // n) * 0.001
            t0 = clock()
            d = decide(state, CFG, now, SEED, explain)
            samples.append(clock() - t0)
            key = d.action or f"none ({d.blocked_by or 'no rule'})"
            outcomes[key] = outcomes.get(key, 0) + 1
        total = clock() - t_start
    finally:
        gc.enable()
    samples.sort()
    timer = _timer_overhead()
    return (samples[len(samples) // 2], samples[int(len(samples) * 0.99)],
            total / calls - timer, outcomes)


def _timer_overhead() -> float:
    clock = time.perf_counter_ns
    xs = []
    for _ in range(100_000):
        t0 = clock()
        xs.append(clock() - t0)
    return float(statistics.median(xs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300_000)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"observe_message, {args.events:,} human messages over 30 min, {args.repeat} runs, "
          f"events per CPU-second per chunk of 100,000 (best and median chunk):")
    for n_guilds in (1_000, 100_000):
        eng, base = bench_observe(n_guilds, args.events, args.repeat)
        e_best, e_med = max(eng), statistics.median(eng)
        b_best, b_med = max(base), statistics.median(base)
        print(f"  {n_guilds:>7,} guilds: engine best {e_best / 1e6:.2f} M events/s "
              f"({1e9 / e_best:.0f} ns/event), median {e_med / 1e6:.2f} M/s; "
              f"bare dict+deque best {b_best / 1e6:.2f} M/s ({1e9 / b_best:.0f} ns), "
              f"median {b_med / 1e6:.2f} M/s; engine costs {b_best / e_best:.1f}x bare")
    print(f"decide, {args.calls:,} calls over 1,000 guilds each "
          f"(timer overhead {_timer_overhead():.0f} ns, included in p50/p99):")
    for label, make, explain in (("idle", _idle, False), ("lively chat", _lively, False),
                                 ("blocked (pending)", _blocked, False),
                                 ("crowded (worst case)", _crowded, False),
                                 ("lively, explain=True", _lively, True)):
        p50, p99, mean, outcomes = bench_decide(make, args.calls, explain)
        top = ", ".join(f"{k} {v / args.calls:.0%}" for k, v in
                        sorted(outcomes.items(), key=lambda kv: -kv[1])[:3])
        print(f"  {label:<22} p50 {p50 / 1000:.2f} µs  p99 {p99 / 1000:.2f} µs  "
              f"mean {mean / 1000:.2f} µs   [{top}]")


if __name__ == "__main__":
    main()
