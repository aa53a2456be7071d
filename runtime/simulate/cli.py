"""``python -m runtime simulate``: options, the two runs, the report.

Errors a user can fix (a bad option, an existing store file) are one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import anyio
import structlog

from engine import MOOD_NAMES
from runtime.config import split_address
from runtime.logs import LoggingSetup, configure_logging
from runtime.process import Runtime
from runtime.simulate.report import build_report, format_report
from runtime.simulate.run import RunResult, RunSetup, run_policy, run_realtime, run_virtual
from runtime.simulate.traffic import Traffic, generate_traffic

__all__ = ["SimulateOptions", "add_arguments", "main_simulate", "simulate"]

_PROG = "python -m runtime simulate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser`` (the ``simulate`` subcommand)."""
    parser.epilog = (
        "Virtual time (the default) runs on trio with a clock that jumps to the next timer "
        "whenever every task waits: a simulated day of 100 guilds takes seconds, and the "
        "same seed gives the same report. --llm-url needs --realtime: real sockets and a "
        "virtual clock do not mix (the server would answer in wall-clock time while "
        "simulated hours fly by). Simulated time starts on 2026-03-02 00:00 UTC; each guild "
        "has its own time zone and quiet hours 1:00-7:00 local.")
    a = parser.add_argument
    a("--guilds", type=int, default=100, metavar="N", help="simulated guilds (default 100)")
    a("--hours", type=float, default=24.0, metavar="H",
      help="simulated hours (default 24)")
    a("--seed", type=int, default=1, metavar="S",
      help="seed of the traffic and the engine; same seed, same report (default 1)")
    a("--store", metavar="PATH",
      help="the SQLite snapshot file the V2 run leaves behind (must not exist; default: a "
           "temporary file, removed at the end)")
    a("--report-json", metavar="PATH", help="also write the report as JSON to PATH")
    a("--realtime", action="store_true",
      help="run V2 on the wall clock (asyncio) instead of virtual time; --hours then means "
           "real hours, and Ctrl-C ends the traffic early with a report of what happened "
           "until then. The V1 comparison still runs in virtual time.")
    a("--llm-url", metavar="URL",
      help="an OpenAI-compatible server (http://127.0.0.1:8080/v1) instead of the offline "
           "persona backend; needs --realtime")
    a("--llm-model", default="default", metavar="NAME", help="model name for --llm-url")
    a("--llm-workers", type=int, default=2, metavar="N",
      help="concurrent requests at the server (default 2)")
    a("--skip-grace", action="store_true",
      help="start with the cold-start grace period already behind (short runs show actions "
           "from the first minute)")
    a("--grace", type=float, default=120.0, metavar="SECONDS",
      help="the cold-start grace period (default 120)")
    a("--log-dir", metavar="DIR",
      help="write the V2 run's JSON log lines to DIR/runtime.jsonl and one "
           "DIR/guild-<id>.jsonl per guild (default: errors only, on stderr)")
    a("--log-file", metavar="PATH", help="write the V2 run's JSON log lines to PATH")
    a("--log-level", default="info", choices=("debug", "info", "warning", "error"),
      help="level of --log-dir / --log-file (default info)")
    a("--control-socket", metavar="PATH",
      help="serve the control socket at PATH during the V2 run (default: a temporary path)")
    a("--pin-moods", metavar="MOOD[,MOOD...]",
      help="turn mood rotation off and give guild i the i-th mood of this list, cyclically "
           "(e.g. shy,bubbly: half shy, half bubbly)")
    a("--metrics-address", metavar="HOST:PORT",
      help="serve Prometheus /metrics, /healthz and /readyz of the V2 run on HOST:PORT "
           "(e.g. 127.0.0.1:9108); needs --realtime")
    a("--no-v1", action="store_true", help="skip the V1 comparison run")
    a("--quiet", action="store_true", help="print nothing but errors")


class SimulateOptions:
    """The checked options (from ``argparse`` or built by hand)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.guilds: int = args.guilds
        self.hours: float = args.hours
        self.seed: int = args.seed
        self.store: str | None = args.store
        self.report_json: str | None = args.report_json
        self.realtime: bool = args.realtime
        self.llm_url: str | None = args.llm_url
        self.llm_model: str = args.llm_model
        self.llm_workers: int = args.llm_workers
        self.grace: float = 0.0 if args.skip_grace else args.grace
        self.log_dir: str | None = args.log_dir
        self.log_file: str | None = args.log_file
        self.log_level: str = args.log_level
        self.control_socket: str | None = args.control_socket
        self.moods: tuple[str, ...] = tuple(
            m.strip() for m in (args.pin_moods or "").split(",") if m.strip())
        self.metrics_address: str | None = getattr(args, "metrics_address", None)
        self.no_v1: bool = args.no_v1
        self.quiet: bool = args.quiet

    def check(self) -> None:
        """Raises ValueError with a one-line message for the user."""
        if self.guilds < 1:
            raise ValueError(f"--guilds must be at least 1, got {self.guilds}")
        if not 0 < self.hours <= 24 * 366:
            raise ValueError(f"--hours must be > 0 (and at most a year), got {self.hours:g}")
        if self.grace < 0:
            raise ValueError(f"--grace must be >= 0, got {self.grace:g}")
        if self.llm_url is not None and not self.realtime:
            raise ValueError("--llm-url needs --realtime: real sockets and a virtual clock do "
                             "not mix")
        if self.llm_url is not None and not self.llm_url.startswith(("http://", "https://")):
            raise ValueError(f"--llm-url must start with http:// or https://, got "
                             f"{self.llm_url!r}")
        if not 1 <= self.llm_workers <= 256:
            raise ValueError(f"--llm-workers must be 1..256, got {self.llm_workers}")
        for m in self.moods:
            if m not in MOOD_NAMES:
                raise ValueError(f"--pin-moods: unknown mood {m!r}; valid: "
                                 f"{', '.join(MOOD_NAMES)}")
        if self.store is not None and Path(self.store).exists():
            raise ValueError(f"--store {self.store}: the file exists; the simulator starts "
                             "from an empty store (remove it or choose another path)")
        if self.report_json is not None and not Path(self.report_json).parent.is_dir():
            raise ValueError(f"--report-json {self.report_json}: no such directory")
        if self.log_dir is not None and self.log_file is not None:
            raise ValueError("--log-dir and --log-file: choose one")
        if self.metrics_address is not None:
            if not self.realtime:
                raise ValueError("--metrics-address needs --realtime: a scrape in virtual "
                                 "time would see hours pass between two requests")
            try:
                split_address(self.metrics_address)
            except ValueError as exc:
                raise ValueError(f"--metrics-address: {exc}") from None


def _logging(opts: SimulateOptions) -> tuple[LoggingSetup, TextIO | None]:
    if opts.log_dir is not None:
        Path(opts.log_dir).mkdir(parents=True, exist_ok=True)
        stream = open(Path(opts.log_dir) / "runtime.jsonl", "a", encoding="utf-8")
        return configure_logging(opts.log_level, renderer="json", stream=stream,
                                 log_dir=opts.log_dir, cache=False), stream
    if opts.log_file is not None:
        stream = open(opts.log_file, "a", encoding="utf-8")
        return configure_logging(opts.log_level, renderer="json", stream=stream,
                                 cache=False), stream
    return configure_logging("error", renderer="json", stream=sys.stderr, cache=False), None


def _run_realtime_with_metrics(traffic: Traffic, policy: str, setup: RunSetup, *,
                               address: str, quiet: bool) -> RunResult:
    """``run_realtime`` that also serves the runtime's metrics on ``address`` from the moment
    the runtime runs until it has stopped."""

    async def main() -> RunResult:
        async with anyio.create_task_group() as tg:
            async def on_started(rt: Runtime) -> None:
                server = await tg.start(rt.serve_metrics, address)
                if not quiet:
                    print(f"metrics: http://{server.host}:{server.port}/metrics",
                          file=sys.stderr, flush=True)

            result = await run_policy(traffic, policy, setup, on_started=on_started)
            tg.cancel_scope.cancel()
        return result

    return anyio.run(main, backend="asyncio")


def simulate(opts: SimulateOptions) -> dict[str, Any]:
    """Generate the traffic, run V2 (and V1) over it, and return the report.

    Raises:
        ValueError: the options do not make sense (see ``SimulateOptions.check``).
    """
    opts.check()
    wall0 = time.perf_counter()
    traffic = generate_traffic(opts.seed, opts.guilds, opts.hours)
    gen_s = time.perf_counter() - wall0
    tmp = Path(tempfile.mkdtemp(prefix="miku-sim-"))
    levels = {name: logging.getLogger(name).level for name in ("", "discord")}
    logs, stream = _logging(opts)
    try:
        setup = RunSetup(seed=opts.seed, grace_s=opts.grace, pinned_moods=opts.moods,
                         store_path=opts.store or str(tmp / "store.sqlite3"),
                         control_socket=opts.control_socket or str(tmp / "control.sock"),
                         llm_url=opts.llm_url, llm_model=opts.llm_model,
                         llm_workers=opts.llm_workers, stop_on_signals=opts.realtime)
        run = run_realtime if opts.realtime else run_virtual
        if opts.metrics_address is not None:
            run = functools.partial(_run_realtime_with_metrics, address=opts.metrics_address,
                                    quiet=opts.quiet)
        v2 = run(traffic, "v2", setup)
        # Interrupted (Ctrl-C on the wall clock): V1 and the report cover the same stretch.
        traffic = traffic.truncated(v2.ended_at)
        logs.close()
        logs = configure_logging("error", renderer="json", stream=sys.stderr, cache=False)
        v1 = None
        if not opts.no_v1:
            # The comparison is about decisions, not words: offline, virtual, in memory.
            v1 = run_virtual(traffic, "v1", RunSetup(seed=opts.seed, grace_s=opts.grace,
                                                      pinned_moods=opts.moods))
    finally:
        logs.close()
        if stream is not None:
            stream.close()
        structlog.reset_defaults()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        shutil.rmtree(tmp, ignore_errors=True)
    params = {"guilds": opts.guilds, "hours": opts.hours, "seed": opts.seed,
              "clock": "realtime" if opts.realtime else "virtual",
              "v1_clock": "virtual" if v1 is not None else None,
              "llm": opts.llm_url or "offline", "grace_s": opts.grace,
              "pinned_moods": list(opts.moods) or None,
              "store": opts.store,
              "interrupted_after_h": round((v2.ended_at - traffic.start) / 3600.0, 4)
              if v2.ended_at < traffic.start + opts.hours * 3600.0 - 1e-6 else None}
    report = build_report(traffic, v2, v1, params)
    report["timing"]["traffic_generation_s"] = round(gen_s, 3)
    report["timing"]["total_wall_s"] = round(time.perf_counter() - wall0, 3)
    return report


def main_simulate(args: argparse.Namespace) -> int:
    """Run the simulator from parsed arguments; returns the exit status."""
    opts = SimulateOptions(args)
    try:
        opts.check()
    except ValueError as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    report = simulate(opts)
    if opts.report_json is not None:
        Path(opts.report_json).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n",
                                          encoding="utf-8")
    if not opts.quiet:
        print(format_report(report))
        if opts.store:
            print(f"Snapshot store (V2): {opts.store}")
    return 0
