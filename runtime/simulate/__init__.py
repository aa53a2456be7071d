"""The simulator: the whole runtime against simulated guilds (``python -m runtime simulate``).

``traffic`` makes the guilds' events (a pure function of the seed), ``setup`` says what a run
is (and builds its config, from an owner's file too), ``channel`` is the simulated Discord
side (what she sent, the lines she is shown), ``run`` runs the runtime over the traffic
(virtual time by default, ``virtual``), ``replay`` replays V1 through the engine alone,
``resume`` continues a store after a downtime, ``report`` computes what happened and ``text``
prints it, ``options`` / ``session`` / ``cli`` are the command line.
"""

from runtime.simulate.channel import CHAT_LINES, SentRecord, SimDiscord, iso_utc, sim_items
from runtime.simulate.cli import main_simulate
from runtime.simulate.options import SimulateOptions, add_arguments
from runtime.simulate.replay import replay_v1
from runtime.simulate.report import build_report, policy_report, restart_report, traffic_summary
from runtime.simulate.run import run_policy, run_realtime, run_virtual, sim_time_processor
from runtime.simulate.session import simulate
from runtime.simulate.setup import QUIET_HOURS, RunResult, RunSetup, build_config
from runtime.simulate.text import format_report
from runtime.simulate.traffic import (
    START_EPOCH,
    GuildTraffic,
    Traffic,
    generate_guild,
    generate_traffic,
)
from runtime.simulate.virtual import VirtualClock

__all__ = [
    "CHAT_LINES",
    "QUIET_HOURS",
    "START_EPOCH",
    "GuildTraffic",
    "RunResult",
    "RunSetup",
    "SentRecord",
    "SimDiscord",
    "SimulateOptions",
    "Traffic",
    "VirtualClock",
    "add_arguments",
    "build_config",
    "build_report",
    "format_report",
    "generate_guild",
    "generate_traffic",
    "iso_utc",
    "main_simulate",
    "policy_report",
    "replay_v1",
    "restart_report",
    "run_policy",
    "run_realtime",
    "run_virtual",
    "sim_items",
    "sim_time_processor",
    "simulate",
    "traffic_summary",
]
