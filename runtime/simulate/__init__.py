"""The simulator: the whole runtime against simulated guilds (``python -m runtime simulate``).

``traffic`` makes the guilds' events (a pure function of the seed), ``run`` runs the runtime
over them (virtual time by default), ``report`` computes what happened, ``cli`` is the
command line.
"""

from runtime.simulate.cli import SimulateOptions, add_arguments, main_simulate, simulate
from runtime.simulate.report import build_report, format_report, policy_report, traffic_summary
from runtime.simulate.run import (
    RunResult,
    RunSetup,
    SentRecord,
    VirtualClock,
    build_config,
    run_policy,
    run_realtime,
    run_virtual,
)
from runtime.simulate.traffic import (
    START_EPOCH,
    GuildTraffic,
    Traffic,
    generate_guild,
    generate_traffic,
)

__all__ = [
    "START_EPOCH",
    "GuildTraffic",
    "RunResult",
    "RunSetup",
    "SentRecord",
    "SimulateOptions",
    "Traffic",
    "VirtualClock",
    "add_arguments",
    "build_config",
    "build_report",
    "format_report",
    "generate_guild",
    "generate_traffic",
    "main_simulate",
    "policy_report",
    "run_policy",
    "run_realtime",
    "run_virtual",
    "simulate",
    "traffic_summary",
]
