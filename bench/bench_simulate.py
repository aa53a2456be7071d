"""Simulator benchmark: a simulated day of 1,000 guilds in virtual time.

The whole runtime (router, actors, supervisor with SQLite snapshots every minute, the LLM
pool with the offline backend) over the simulator's traffic (about 500 human messages and
200 presence changes per guild-day). Reports, per step: wall time, CPU time of the process
(load-independent; it includes the store's thread), events and events per second of CPU.
``--v1`` also replays the traffic under the V1 timer through the engine, as ``simulate`` does
(``--v1-runtime``: through the whole runtime instead, as ``simulate`` did before).

Usage: .venv/bin/python bench/bench_simulate.py [--guilds 1000] [--hours 24] [--v1]
       [--v1-runtime] [--cpu N] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.simulate.replay import replay_v1
from runtime.simulate.report import build_report
from runtime.simulate.run import run_virtual
from runtime.simulate.setup import RunResult, RunSetup
from runtime.simulate.traffic import generate_traffic


def _timed(fn: Any, *args: Any) -> tuple[Any, float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w0, time.process_time() - c0


def _step(name: str, wall: float, cpu: float, events: int | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"step": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
    if events:
        row["events"] = events
        row["events_per_cpu_s"] = round(events / cpu)
        row["us_per_event"] = round(cpu / events * 1e6, 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guilds", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--v1", action="store_true", help="also run the V1 comparison")
    ap.add_argument("--v1-runtime", action="store_true",
                    help="run V1 through the whole runtime instead of the engine replay")
    ap.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the V2 run into FILE")
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    rows = []
    traffic, wall, cpu = _timed(generate_traffic, args.seed, args.guilds, args.hours)
    rows.append(_step("traffic generation", wall, cpu, traffic.event_count))
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        setup = RunSetup(seed=args.seed, store_path=str(Path(tmp) / "store.sqlite3"))
        if args.profile:
            prof = cProfile.Profile()
            v2, wall, cpu = _timed(prof.runcall, run_virtual, traffic, "v2", setup)
            prof.dump_stats(args.profile)
        else:
            v2, wall, cpu = _timed(run_virtual, traffic, "v2", setup)
        store_mb = (Path(tmp) / "store.sqlite3").stat().st_size / 1e6
    rows.append(_step("V2 run (SQLite store)", wall, cpu, traffic.event_count))
    v1: RunResult | None = None
    if args.v1_runtime:
        v1, wall, cpu = _timed(run_virtual, traffic, "v1", RunSetup(seed=args.seed))
        rows.append(_step("V1 run (runtime, memory store)", wall, cpu, traffic.event_count))
    elif args.v1:
        v1, wall, cpu = _timed(replay_v1, traffic, RunSetup(seed=args.seed))
        rows.append(_step("V1 replay (engine)", wall, cpu, traffic.event_count))
    report, wall, cpu = _timed(build_report, traffic, v2, v1, {
        "guilds": args.guilds, "hours": args.hours, "seed": args.seed, "clock": "virtual",
        "llm": "offline"})
    rows.append(_step("report", wall, cpu))
    total_wall = sum(r["wall_s"] for r in rows)
    total_cpu = sum(r["cpu_s"] for r in rows)
    print(json.dumps({
        "guilds": args.guilds, "hours": args.hours, "load_average": os.getloadavg(),
        "steps": rows, "total_wall_s": round(total_wall, 2), "total_cpu_s": round(total_cpu, 2),
        "store_mb": round(store_mb, 1),
        "v2": {k: report["v2"][k] for k in ("actions", "actions_per_guild_day",
                                             "empty_room_actions", "conversations_joined")},
        "runtime": report["runtime"],
        "traffic": {k: report["traffic"][k] for k in ("human_messages_per_guild_day",
                                                      "presence_changes_per_guild_day")},
    }, indent=2))


if __name__ == "__main__":
    main()
