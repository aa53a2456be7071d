"""Snapshot store benchmark: 100,000 guild states in one ``save_many``, off the event loop.

Measures, per backend: encoding the states (on the loop: the supervisor must encode them
where the actors own them), the batch write (first insert, then an update of every row, the
periodic case), the event loop's worst lag while the batch is written (a task asking for a
1 ms sleep, over and over), and the bytes an idle guild costs: its encoded snapshot, and the
store file divided by its rows.

With ``--pg URL`` (or ``--pg auto``: a throwaway local cluster, as the tests make one) it
also measures the PostgreSQL store: save_many of 10,000 and 100,000 rows (insert, then
update), the loop lag meanwhile, and load_wakeups of the 100,000.

Usage: .venv/bin/python bench/bench_store.py [--guilds 100000] [--backend asyncio|trio|both]
       [--pg URL|auto] [--pg-only]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import anyio
import anyio.lowlevel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import (
    GuildConfig,
    GuildState,
    encode_state,
    new_state,
    observe_join,
    observe_message,
    observe_presence,
    record_action,
)
from runtime.store import SQLiteStore
from runtime.store.postgres import PostgresStore

NOW = 1_800_000_000.0
CFG = GuildConfig()


def idle_state(guild_id: int, rng: random.Random) -> GuildState:
    """A guild that has been quiet for hours: a mood, a last action, a few people online."""
    s = new_state(guild_id, NOW - 86_400, mood=rng.choice(["neutral", "shy", "bubbly"]))
    s.next_rotation_at = NOW + 1800
    record_action(s, NOW - rng.uniform(3600, 20_000), "break_silence")
    for _ in range(rng.randint(0, 3)):
        observe_presence(s, NOW - 7200, rng.getrandbits(60), "online", None, False, CFG)
    return s


def realistic_state(guild_id: int, rng: random.Random) -> GuildState:
    """80% idle guilds, 15% with a chat in the last hour, 5% busy ones."""
    s = idle_state(guild_id, rng)
    kind = rng.random()
    if kind < 0.80:
        return s
    busy = kind >= 0.95
    seconds = rng.sample(range(3600), 600 if busy else 60)
    for sec in sorted(seconds):
        observe_message(s, NOW - 3600 + sec)
    for _ in range(200 if busy else 20):
        observe_presence(s, NOW - 60, rng.getrandbits(60), "online",
                         rng.choice([None, None, "Project DIVA", "Minecraft"]), False, CFG)
    for _ in range(5 if busy else 1):
        observe_join(s, NOW - 30, rng.getrandbits(60), False)
    for _ in range(50 if busy else 10):
        record_action(s, NOW - 100, "engage_user", rng.getrandbits(60), "Minecraft")
    return s


async def save_with_lag(store: SQLiteStore,
                        items: list[tuple[int, bytes]]) -> tuple[float, float, float]:
    """Seconds to save ``items``, the process's CPU seconds meanwhile (the writer thread plus
    the nearly idle loop: a figure other processes on the machine do not inflate), and the
    worst loop lag (seconds) while it ran."""
    lag = 0.0
    done = anyio.Event()

    async def ticker() -> None:
        nonlocal lag
        while not done.is_set():
            t = time.perf_counter()
            await anyio.sleep(0.001)
            lag = max(lag, time.perf_counter() - t - 0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.01)  # the ticker runs before the save starts
        t0, c0 = time.perf_counter(), time.process_time()
        await store.save_many(items)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        done.set()
    return elapsed, cpu, lag


async def encode_chunked(states: list[GuildState], chunk: int) -> tuple[list[tuple[int, bytes]],
                                                                        float]:
    """Encode on the loop, ``chunk`` states at a time with a checkpoint between: the items and
    the worst loop lag meanwhile (what the supervisor can do to stay responsive)."""
    lag = 0.0
    done = anyio.Event()
    items: list[tuple[int, bytes]] = []

    async def ticker() -> None:
        nonlocal lag
        while not done.is_set():
            t = time.perf_counter()
            await anyio.lowlevel.checkpoint()
            lag = max(lag, time.perf_counter() - t)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.01)
        for i in range(0, len(states), chunk):
            items.extend((s.guild_id, encode_state(s)) for s in states[i:i + chunk])
            await anyio.lowlevel.checkpoint()
        done.set()
    return items, lag


async def run(guilds: int, repeat: int) -> dict[str, object]:
    rng = random.Random(42)
    states = [realistic_state(g, rng) for g in range(1, guilds + 1)]
    t0 = time.perf_counter()
    items = [(s.guild_id, encode_state(s)) for s in states]
    encode_s = time.perf_counter() - t0
    _, chunk_lag = await encode_chunked(states, 1000)
    saves: list[tuple[float, float, float]] = []
    async with anyio.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        async with SQLiteStore(path) as store:
            saves.append(await save_with_lag(store, items))  # first: every row inserted
            for _ in range(repeat):  # then the periodic case: every row updated
                for s in states:
                    s.human_messages += 1
                items = [(s.guild_id, encode_state(s)) for s in states]
                saves.append(await save_with_lag(store, items))
        avg_bytes = sum(len(d) for _, d in items) / len(items)

        idle_path = Path(tmp) / "idle.db"
        rng = random.Random(7)
        idle = [(g, encode_state(idle_state(g, rng))) for g in range(1, guilds + 1)]
        async with SQLiteStore(idle_path) as store:
            await store.save_many(idle)
        # Closed, so the WAL has been checkpointed into the file.
        idle_file = (await anyio.Path(idle_path).stat()).st_size
    return {
        "encode_s": encode_s, "chunk_lag_ms": chunk_lag * 1e3, "saves": saves,
        "avg_bytes": avg_bytes, "idle_bytes": sum(len(d) for _, d in idle) / len(idle),
        "idle_file_bytes_per_row": idle_file / guilds,
    }


async def wakeups(known: int) -> tuple[float, float, float, float]:
    """A store of ``known`` passivated idle guilds: seconds to write them (batches of 100,000),
    seconds for ``load_wakeups`` and for ``load_all_ids`` (what a supervisor reads at start),
    and the file's size in MB."""
    blob = encode_state(idle_state(1, random.Random(3)))
    async with anyio.TemporaryDirectory() as tmp:
        path = Path(tmp) / "known.db"
        async with SQLiteStore(path) as store:
            t0 = time.perf_counter()
            for base in range(0, known, 100_000):
                top = min(known, base + 100_000)
                await store.passivate_many([(g, blob, NOW + g) for g in range(base + 1, top + 1)])
            write_s = time.perf_counter() - t0
        async with SQLiteStore(path) as store:
            t0 = time.perf_counter()
            assert len(await store.load_wakeups()) == known
            wake_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            await store.load_all_ids()
            ids_s = time.perf_counter() - t0
        size = (await anyio.Path(path).stat()).st_size / 1e6
    return write_s, wake_s, ids_s, size


async def pg_run(url: str, sizes: list[int]) -> list[tuple[int, tuple[float, float, float],
                                                            tuple[float, float, float], float]]:
    """Per size: (insert, update) as ``save_with_lag`` gives them, and load_wakeups seconds."""
    import psycopg

    rng = random.Random(42)
    out = []
    for n in sizes:
        with psycopg.connect(url, autocommit=True) as conn:  # an empty store for each size
            conn.execute("DROP TABLE IF EXISTS miku_store, snapshots, put_aside, dead_letters, "
                         "settings, optouts, leases")
        states = [realistic_state(g, rng) for g in range(1, n + 1)]
        items = [(s.guild_id, encode_state(s)) for s in states]
        async with PostgresStore(url) as store:
            insert = await save_with_lag(store, items)  # type: ignore[arg-type]
            for s in states:
                s.human_messages += 1
            items = [(s.guild_id, encode_state(s)) for s in states]
            update = await save_with_lag(store, items)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            assert len(await store.load_wakeups()) == n
            out.append((n, insert, update, time.perf_counter() - t0))
    return out


def pg_bench(url: str, backends: list[str]) -> None:
    for backend in backends:
        for n, (ins, ins_cpu, ins_lag), (upd, upd_cpu, upd_lag), wake in anyio.run(
                pg_run, url, [10_000, 100_000], backend=backend):
            print(f"postgresql {backend}: {n:,} rows: insert {ins:.3f} s (cpu {ins_cpu:.3f} s, "
                  f"lag {ins_lag * 1e3:.1f} ms), update {upd:.3f} s (cpu {upd_cpu:.3f} s, "
                  f"lag {upd_lag * 1e3:.1f} ms), load_wakeups {wake:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guilds", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="update batches after the first")
    parser.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    parser.add_argument("--wakeups", type=int, default=0, metavar="N",
                        help="also time reading the wake-ups of N passivated guilds (asyncio)")
    parser.add_argument("--pg", metavar="URL",
                        help="also the PostgreSQL store at URL ('auto': a throwaway cluster)")
    parser.add_argument("--pg-only", action="store_true", help="only the PostgreSQL part")
    args = parser.parse_args()
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    if args.pg:
        if args.pg == "auto":
            from tests.kit.pg_server import create_database, server

            with server() as admin:
                pg_bench(create_database(admin, "miku_bench"), backends)
        else:
            pg_bench(args.pg, backends)
        if args.pg_only:
            return
    print(f"python {sys.version.split()[0]}, {args.guilds:,} realistic guild states "
          f"(80% idle, 15% chatting, 5% busy), one save_many per batch")
    for backend in backends:
        load = os.getloadavg()[0]
        r = anyio.run(run, args.guilds, args.repeat, backend=backend)
        saves = r["saves"]
        assert isinstance(saves, list)
        (first, first_cpu, first_lag), rest = saves[0], saves[1:]
        times = sorted(t for t, _, _ in rest)
        cpus = sorted(c for _, c, _ in rest)
        print(f"{backend}: encode {r['encode_s']:.3f} s on the loop in one go "
              f"(in chunks of 1,000: max loop lag {r['chunk_lag_ms']:.1f} ms)")
        print(f"  insert {first:.3f} s (cpu {first_cpu:.3f} s, max loop lag "
              f"{first_lag * 1e3:.1f} ms)")
        print(f"  update x{len(rest)}: median {statistics.median(times):.3f} s "
              f"(cpu {statistics.median(cpus):.3f} s), worst {times[-1]:.3f} s, "
              f"max loop lag {max(lag for _, _, lag in rest) * 1e3:.1f} ms")
        print(f"  snapshot bytes: average {r['avg_bytes']:.0f} B, "
              f"idle guild {r['idle_bytes']:.0f} B, "
              f"idle guild in the file {r['idle_file_bytes_per_row']:.0f} B/row")
        print(f"  load average before/after: {load:.1f}/{os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")


    if args.wakeups:
        write_s, wake_s, ids_s, size = anyio.run(wakeups, args.wakeups)
        print(f"{args.wakeups:,} passivated idle guilds: written in {write_s:.2f} s "
              f"({size:.0f} MB file); load_wakeups {wake_s:.2f} s, load_all_ids {ids_s:.2f} s")


if __name__ == "__main__":
    main()
