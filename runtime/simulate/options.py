"""The simulator's command-line options (``add_arguments``) and their checks
(``SimulateOptions.check``): what a user can get wrong is one line, before anything runs."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from engine import MOOD_NAMES, check_chattiness
from runtime.config import split_address
from runtime.simulate.shards import DEFAULT_PROCESSES, MAX_PROCESSES
from runtime.store import StoreError, is_url
from runtime.store.pg_schema import check_url, redact_url

__all__ = ["COMPARE_CHATTINESS", "SimulateOptions", "add_arguments"]

#: Simulated hours without --hours (a day: every hour of the guilds' day once).
DEFAULT_HOURS = 24.0
#: The chattiness values ``--compare-chattiness`` runs.
COMPARE_CHATTINESS = (0.5, 1.0, 2.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser`` (the ``simulate`` subcommand)."""
    parser.epilog = (
        "Virtual time (the default) runs on trio with a clock that jumps to the next timer "
        "whenever every task waits: a simulated day of 100 guilds takes seconds, and the "
        "same seed gives the same report. --llm-url needs --realtime: real sockets and a "
        "virtual clock do not mix (the server would answer in wall-clock time while "
        "simulated hours fly by). Simulated time starts on 2026-03-02 00:00 UTC; each guild "
        "has its own time zone and quiet hours 1:00-7:00 local (with --config: the file's). "
        "The V1 comparison is replayed straight through the engine (V1 is blind to the "
        "channel). Every log line carries sim_time, the simulated clock in UTC. Virtual-time "
        "runs split their guilds over --processes forked processes (2 by default): the "
        "report is the same for any number of them.")
    a = parser.add_argument
    a("--guilds", type=int, default=100, metavar="N", help="simulated guilds (default 100)")
    a("--hours", type=float, metavar="H",
      help="simulated hours (default 24); with --realtime real hours, and required")
    a("--seed", type=int, default=1, metavar="S",
      help="seed of the traffic and the engine; same seed, same report (default 1)")
    a("--config", metavar="FILE",
      help="your bot.toml: the simulated guilds take its [defaults] and its [guilds.<id>] "
           "tables in turn (time zones, quiet hours, policies, keywords, chattiness), so you "
           "see what she would do with your settings")
    a("--chattiness", type=float, metavar="X",
      help="[defaults] chattiness of the simulated guilds, 0..2 (default: the engine's, 1)")
    a("--compare-chattiness", action="store_true",
      help="also run V2 at chattiness 0.5, 1 and 2 on the same traffic (in memory) and "
           "report actions per guild-day for each")
    a("--compare-learning", action="store_true",
      help="also run V2 without learned activity hours (learn_hours = false) on the same "
           "traffic and report, for V1 and V2 without and with learning, the share of "
           "unprompted posts a human answered within 30 minutes. Learned hours steer "
           "nothing before a whole day has been seen: give it days (e.g. --hours 336)")
    a("--compare-affinity", action="store_true",
      help="also run V2 with user affinity switched the other way (affinity = false, or "
           "true if your config has it off) on the same traffic and report both side by "
           "side: engage_user actions and, with --reactive, their answered shares and "
           "pestering. Affinity learns over days: give it days (e.g. --hours 168)")
    a("--store", metavar="PATH",
      help="the SQLite snapshot file the V2 run leaves behind, with PATH.sim.json beside it "
           "(must not exist unless --resume; default: a temporary file, removed at the end), "
           "or a postgresql:// URL (no password in it; not with --resume)")
    a("--resume", action="store_true",
      help="continue the simulated guilds of an existing --store after --downtime: each "
           "guild's GuildReady arrives a few seconds after the start, staggered, and the "
           "report says how many guilds acted in the first 2 minutes")
    a("--downtime", type=float, default=0.0, metavar="SECONDS",
      help="with --resume: simulated seconds between the last run's end and this start "
           "(default 0)")
    a("--report-json", metavar="PATH", help="also write the report as JSON to PATH")
    a("--html", metavar="PATH",
      help="also write the report as one self-contained HTML page with plots to PATH (per "
           "hour of the day, V1 beside V2; the answered share by hour; one guild's day); "
           "open it in any browser, nothing is fetched. Needs matplotlib (the html extra)")
    a("--transcript", metavar="FILE",
      help="write every message she sent as a JSON line to FILE: guild_id, action, mood, "
           "sim_time, text (her words only, never the simulated humans' lines)")
    a("--realtime", action="store_true",
      help="run V2 on the wall clock (asyncio) instead of virtual time; needs --hours, "
           "then real hours (e.g. --hours 0.1, 6 minutes); Ctrl-C ends the traffic early "
           "with a report of what happened until then")
    a("--llm-url", metavar="URL",
      help="an OpenAI-compatible server (http://127.0.0.1:8080/v1) instead of the offline "
           "persona backend; needs --realtime. Checked once at start (GET /models)")
    a("--llm-model", default="default", metavar="NAME",
      help="model name for --llm-url (Ollama and vLLM refuse names they do not serve)")
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
    a("--processes", type=int, metavar="N",
      help="split the virtual-time runs' guilds over N processes, each a whole runtime over "
           "its share (guild i in process i mod N), as a deployment runs its shards; the "
           "report is the same for any N but for the snapshot batches, each process writing "
           "its own (default 2; 1 with --store, --control-socket, --log-dir or --log-file, "
           "and with --realtime)")
    a("--reactive", action="store_true",
      help="simulated people answer her: each has a disposition towards her and answers an "
           "action with a chance that depends on being around, being named, being "
           "mid-conversation and how often she named them today (docs/BENCHMARKS.md). The "
           "report adds the share of her actions answered within 10 and 30 minutes, by "
           "action, V1 beside V2, and pestering. Virtual time only")
    a("--tone-episodes", action="store_true",
      help="add tone episodes to the traffic (a sad announcement: sad reactions; an "
           "argument: angry reactions, deleted messages, a timeout; about one per guild "
           "every two days, at a conversation); the report adds her playful posts and "
           "joins during them, V1 beside V2")
    a("--compare-tone", action="store_true",
      help="also run V2 with tone switched the other way (tone = false, or true if your "
           "config has it off) on the same traffic (implies --tone-episodes): the report "
           "puts tone off beside on")
    a("--no-v1", action="store_true", help="skip the V1 comparison")
    a("--quiet", action="store_true", help="print nothing but errors")


def _parent_dir(path: str, flag: str) -> None:
    parent = Path(path).expanduser().parent
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: no such directory {str(parent)!r}")


class SimulateOptions:
    """The checked options (from ``argparse`` or built by hand)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.guilds: int = args.guilds
        #: --realtime runs this many real hours: never a default (it was a whole day).
        self.hours_given: bool = args.hours is not None
        self.hours: float = args.hours if args.hours is not None else DEFAULT_HOURS
        self.seed: int = args.seed
        self.config: str | None = args.config
        self.chattiness: float | None = args.chattiness
        self.compare_chattiness: bool = args.compare_chattiness
        self.compare_learning: bool = args.compare_learning
        self.compare_affinity: bool = getattr(args, "compare_affinity", False)
        self.store: str | None = args.store
        self.resume: bool = args.resume
        self.downtime: float = args.downtime
        self.report_json: str | None = args.report_json
        self.html: str | None = getattr(args, "html", None)
        self.transcript: str | None = args.transcript
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
        self.processes_asked: int | None = getattr(args, "processes", None)
        self.reactive: bool = getattr(args, "reactive", False)
        self.compare_tone: bool = getattr(args, "compare_tone", False)
        self.tone_episodes: bool = getattr(args, "tone_episodes", False) or self.compare_tone
        self.no_v1: bool = args.no_v1
        self.quiet: bool = args.quiet

    def _one_process_because(self) -> str | None:
        """The option that keeps the run in one process, if any."""
        for flag, value in (("--realtime", self.realtime), ("--store", self.store),
                            ("--control-socket", self.control_socket),
                            ("--log-dir", self.log_dir), ("--log-file", self.log_file)):
            if value:
                return flag
        return None

    @property
    def processes(self) -> int:
        """How many processes the virtual-time runs are split over."""
        if self.processes_asked is not None:
            return self.processes_asked
        return 1 if self._one_process_because() else DEFAULT_PROCESSES

    def defaults(self) -> dict[str, Any]:
        """``[defaults]`` keys the options set on top of the simulated guilds' settings."""
        return {} if self.chattiness is None else {"chattiness": self.chattiness}

    def check(self) -> None:
        """Raises ValueError with a one-line message for the user."""
        n = self.processes_asked
        if n is not None:
            if not 1 <= n <= MAX_PROCESSES:
                raise ValueError(f"--processes must be 1..{MAX_PROCESSES}, got {n}")
            why = self._one_process_because()
            if n > 1 and why is not None:
                raise ValueError(f"--processes {n} and {why}: one process only (a store, a "
                                 "control socket or a log of one run, or the wall clock); "
                                 "drop --processes or give --processes 1")
        if self.reactive and self.realtime:
            raise ValueError("--reactive needs virtual time: drop --realtime (the simulated "
                             "people's answers are fed in at their simulated times)")
        if self.realtime and not self.hours_given:
            raise ValueError("--realtime needs --hours: with --realtime the hours are real "
                             "ones (e.g. --hours 0.1 runs 6 minutes)")
        if self.guilds < 1:
            raise ValueError(f"--guilds must be at least 1, got {self.guilds}")
        if not 0 < self.hours <= 24 * 366:
            raise ValueError(f"--hours must be > 0 (and at most a year), got {self.hours:g}")
        if self.grace < 0:
            raise ValueError(f"--grace must be >= 0, got {self.grace:g}")
        if self.chattiness is not None:
            check_chattiness(self.chattiness, name="--chattiness")
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
        if self.config is not None and not Path(self.config).is_file():
            raise ValueError(f"--config {self.config}: no such file")
        self._check_store()
        if self.html is not None:
            from runtime.simulate.html import missing_library

            problem = missing_library()
            if problem:
                raise ValueError(problem)
        for flag, path in (("--report-json", self.report_json), ("--html", self.html),
                           ("--transcript", self.transcript), ("--log-file", self.log_file),
                           ("--control-socket", self.control_socket)):
            if path is not None:
                _parent_dir(path, flag)
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

    def _check_store(self) -> None:
        if not (math.isfinite(self.downtime) and self.downtime >= 0):
            raise ValueError(f"--downtime must be seconds >= 0, got {self.downtime:g}")
        if self.downtime and not self.resume:
            raise ValueError("--downtime needs --resume (the time since the last run)")
        if self.store is not None and is_url(self.store):
            if self.resume:
                raise ValueError("--resume needs a --store file (the simulated guilds' plan "
                                 "is kept beside it), not a URL")
            try:  # a password in it: refused, never shown
                check_url(self.store)
            except StoreError as exc:
                raise ValueError(f"--store {redact_url(self.store)}: {exc.detail}") from None
            return
        if self.resume:
            if self.store is None:
                raise ValueError("--resume needs --store: the store of the run to continue")
            if not Path(self.store).is_file():
                raise ValueError(f"--store {self.store}: no such file to resume")
            return
        if self.store is not None:
            _parent_dir(self.store, "--store")
            if Path(self.store).exists():
                raise ValueError(f"--store {self.store}: the file exists; the simulator starts "
                                 "from an empty store (remove it, choose another path, or "
                                 "continue it with --resume)")
