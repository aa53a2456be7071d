"""One ``simulate`` command: the traffic, the V2 run through the whole runtime, the
comparison runs, the V1 replay, the report, the transcript and the store's sidecar."""

from __future__ import annotations

import functools
import json
import logging
import shutil
import sys
import tempfile
import time
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO

import anyio
import msgspec
import structlog

from runtime.config import Config, load_config
from runtime.core import Runtime
from runtime.errors import ConfigError
from runtime.ops.logs import LoggingSetup, configure_logging
from runtime.pool import check_server
from runtime.simulate.options import COMPARE_CHATTINESS, SimulateOptions
from runtime.simulate.replay import replay_v1
from runtime.simulate.report import build_report
from runtime.simulate.resume import (
    SimState,
    read_state,
    resume_start,
    staggered_readies,
    write_state,
)
from runtime.simulate.run import run_policy, run_realtime, run_virtual, sim_time_processor
from runtime.simulate.setup import (
    RunResult,
    RunSetup,
    build_config,
    guild_configs,
    guild_policies,
    owner_zones,
)
from runtime.simulate.shards import run_split
from runtime.simulate.text import format_report
from runtime.simulate.tone import add_tone_episodes, tone_report
from runtime.simulate.traffic import START_EPOCH, Traffic, generate_traffic
from runtime.store import is_url

__all__ = ["check_llm_server", "simulate"]


def _logging(opts: SimulateOptions) -> tuple[LoggingSetup, TextIO | None]:
    if opts.log_dir is not None:
        Path(opts.log_dir).mkdir(parents=True, exist_ok=True)
        stream = open(Path(opts.log_dir) / "runtime.jsonl", "a", encoding="utf-8")
        setup = configure_logging(opts.log_level, renderer="json", stream=stream,
                                  log_dir=opts.log_dir, cache=False)
    elif opts.log_file is not None:
        stream = open(opts.log_file, "a", encoding="utf-8")
        setup = configure_logging(opts.log_level, renderer="json", stream=stream, cache=False)
    else:
        stream = None
        setup = configure_logging("error", renderer="json", stream=sys.stderr, cache=False)
    # Every line of a simulated run says when it happened in simulated time.
    processors = structlog.get_config()["processors"]
    structlog.configure(processors=[sim_time_processor, *processors])
    return setup, stream


def check_llm_server(url: str, model: str) -> None:
    """Ask the server once whether it serves ``model`` (``runtime.pool.check_server``).

    Raises:
        ValueError: the server's one-line problem (a wrong URL, down, an unknown model).
    """
    problem = anyio.run(functools.partial(check_server, url, model))
    if problem:
        raise ValueError(f"--llm-url {url}: {problem}")


def _owner(opts: SimulateOptions) -> Config | None:
    if opts.config is None:
        return None
    try:
        return load_config(opts.config)
    except ConfigError as exc:
        raise ValueError(f"--config {opts.config}: {exc}") from None


def _traffic(opts: SimulateOptions, owner: Config | None) -> Traffic:
    start = START_EPOCH
    if opts.resume:
        assert opts.store is not None
        state = read_state(opts.store)
        if (state.seed, state.guilds) != (opts.seed, opts.guilds):
            raise ValueError(f"--resume: {opts.store} holds {state.guilds} simulated guilds "
                             f"of seed {state.seed}; use --guilds {state.guilds} --seed "
                             f"{state.seed}")
        start = resume_start(state, opts.downtime)
    zones = owner_zones(owner, opts.guilds) if owner is not None else ()
    traffic = generate_traffic(opts.seed, opts.guilds, opts.hours, start=start, zones=zones)
    if opts.tone_episodes:
        traffic = add_tone_episodes(traffic)
    return staggered_readies(traffic) if opts.resume else traffic


def _variant(traffic: Traffic, policy: str, setup: RunSetup, processes: int,
             **defaults: Any) -> RunResult:
    """A comparison run: the same traffic and settings, in memory, with ``defaults``."""
    return run_split(traffic, policy, msgspec.structs.replace(
        setup, store_path=None, control_socket=None, llm_url=None, keep_words=False,
        stop_on_signals=False, defaults={**setup.defaults, **defaults}), processes,
        run_virtual)


def _comparisons(opts: SimulateOptions, traffic: Traffic, policy: str, setup: RunSetup,
                 v2: RunResult, owner: Config | None
                 ) -> tuple[dict[float, RunResult] | None, dict[bool, RunResult] | None,
                            dict[bool, RunResult] | None, dict[bool, RunResult] | None]:
    configured = msgspec.structs.asdict(owner.defaults) if owner is not None else {}
    chattiness = learning = affinity = tone = None
    if opts.compare_chattiness:
        main = opts.chattiness if opts.chattiness is not None \
            else configured.get("chattiness", 1.0)
        chattiness = {c: v2 if c == main and opts.realtime is False
                      else _variant(traffic, policy, setup, opts.processes, chattiness=c)
                      for c in COMPARE_CHATTINESS}

    def off_and_on(key: str) -> dict[bool, RunResult]:
        # The main run is the configured side (unless it ran on the wall clock).
        on = bool(configured.get(key, True))
        return {on: v2 if not opts.realtime
                else _variant(traffic, policy, setup, opts.processes),
                not on: _variant(traffic, policy, setup, opts.processes, **{key: not on})}

    if opts.compare_learning:
        learning = off_and_on("learn_hours")
    if opts.compare_affinity:
        affinity = off_and_on("affinity")
    if opts.compare_tone:
        tone = off_and_on("tone")
    return chattiness, learning, affinity, tone


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


def _write_html(opts: SimulateOptions, report: dict[str, Any], traffic: Traffic,
                v2: RunResult, v1: RunResult | None, config: Config) -> None:
    """``--html``: the report's text and its figures on one page."""
    from runtime.simulate.html import figure_data, write_html

    runs = {"V2" if "by_policy" not in report else "Config": v2}
    if v1 is not None:
        runs["V1"] = v1
    data = figure_data(traffic, runs, guild_configs(config))
    if report.get("reactive"):
        data["reactive"] = report["reactive"]
    if report.get("affinity"):
        data["affinity"] = report["affinity"]
    if report.get("tone"):
        data["tone"] = report["tone"]
    title = (f"miku-autonomy simulator: {opts.guilds} guilds, {opts.hours:g} h, "
             f"seed {opts.seed}")
    write_html(opts.html or "", format_report(report), data, title)


def simulate(opts: SimulateOptions) -> dict[str, Any]:
    """Generate the traffic, run V2 over it (and the comparisons, and V1), return the report.

    Raises:
        ValueError: the options, the config file, the resumed store or the LLM server do
            not make sense (a one-line message for the user).
    """
    opts.check()
    wall0 = time.perf_counter()
    owner = _owner(opts)
    traffic = _traffic(opts, owner)
    gen_s = time.perf_counter() - wall0
    policy = "config" if owner is not None else "v2"
    setup = RunSetup(seed=opts.seed, grace_s=opts.grace, pinned_moods=opts.moods,
                     llm_url=opts.llm_url, llm_model=opts.llm_model,
                     llm_workers=opts.llm_workers, stop_on_signals=opts.realtime,
                     owner=owner, defaults=opts.defaults(),
                     keep_words=opts.transcript is not None, reactive=opts.reactive)
    config = build_config(traffic, policy, setup)  # a bad [defaults] key fails here, at once
    if opts.llm_url is not None:
        check_llm_server(opts.llm_url, opts.llm_model)
    tmp = Path(tempfile.mkdtemp(prefix="miku-sim-"))
    levels = {name: logging.getLogger(name).level for name in ("", "discord")}
    logs, stream = _logging(opts)
    try:
        main_setup = msgspec.structs.replace(
            setup, store_path=opts.store or str(tmp / "store.sqlite3"),
            control_socket=opts.control_socket or str(tmp / "control.sock"))
        run = run_realtime if opts.realtime else run_virtual
        if opts.metrics_address is not None:
            run = functools.partial(_run_realtime_with_metrics, address=opts.metrics_address,
                                    quiet=opts.quiet)
        v2 = run_split(traffic, policy, main_setup, opts.processes, run)  # 1: runs it here
        # Interrupted (Ctrl-C on the wall clock): V1 and the report cover the same stretch.
        traffic = traffic.truncated(v2.ended_at)
        if opts.store is not None and not is_url(opts.store):
            write_state(opts.store, SimState(opts.seed, opts.guilds, v2.ended_at))
        logs.close()
        logs = configure_logging("error", renderer="json", stream=sys.stderr, cache=False)
        chattiness, learning, affinity, tone = _comparisons(opts, traffic, policy, setup, v2,
                                                             owner)
        # The comparison is about decisions, not words: V1 is replayed through the engine.
        v1 = None if opts.no_v1 else replay_v1(traffic, setup)
    finally:
        logs.close()
        if stream is not None:
            stream.close()
        structlog.reset_defaults()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        shutil.rmtree(tmp, ignore_errors=True)
    if opts.transcript is not None:
        with open(opts.transcript, "w", encoding="utf-8") as f:
            # By time and guild: one process or several, the same file.
            for line in sorted(v2.words, key=itemgetter("sim_time", "guild_id")):
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
    params = {"guilds": opts.guilds, "hours": opts.hours, "seed": opts.seed,
              "clock": "realtime" if opts.realtime else "virtual",
              "processes": opts.processes,
              "v1_clock": "replay" if v1 is not None else None,
              "llm": opts.llm_url or "offline", "llm_model": opts.llm_model
              if opts.llm_url else None, "grace_s": opts.grace,
              "pinned_moods": list(opts.moods) or None,
              "config": opts.config, "defaults": opts.defaults() or None,
              "store": opts.store, "resumed": opts.resume,
              "downtime_s": opts.downtime if opts.resume else None,
              "transcript": opts.transcript, **({"reactive": True} if opts.reactive else {}),
              "interrupted_after_h": round((v2.ended_at - traffic.start) / 3600.0, 4)
              if v2.ended_at < traffic.start + opts.hours * 3600.0 - 1e-6 else None}
    report = build_report(traffic, v2, v1, params, configs=guild_configs(config),
                          chattiness=chattiness, learning=learning, affinity=affinity,
                          resumed=opts.resume,
                          policies=guild_policies(config), reactive=opts.reactive)
    if opts.tone_episodes:
        # With --compare-tone, "V2" is the run with tone on whatever the config says.
        report["tone"] = tone_report(traffic, v2 if tone is None else tone[True], v1,
                                     None if tone is None else tone[False], opts.reactive)
    if opts.html is not None:
        _write_html(opts, report, traffic, v2, v1, config)
    report["timing"]["traffic_generation_s"] = round(gen_s, 3)
    report["timing"]["total_wall_s"] = round(time.perf_counter() - wall0, 3)
    return report
