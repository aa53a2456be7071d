"""``miku-autonomy`` (the installed console script) or ``python -m runtime``: the bot
(``run``), a config's check (``check-config``), the simulator (``simulate``) and the state
dump (``inspect``, also ``ops/inspect.py``); ``--version``.

Errors a user can fix (a bad config, a missing token) are one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata

__all__ = ["DISTRIBUTION", "main", "prog_name", "version"]

#: The installed distribution's name, which is also the console script's.
DISTRIBUTION = "miku-autonomy"


def version() -> str:
    """The installed distribution's version (``pyproject.toml``), or ``unknown`` when the
    package runs from a checkout that was never installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def prog_name(argv0: str) -> str:
    """How the user ran us, for usage lines: the console script's name, or
    ``python -m runtime`` (then ``argv[0]`` is this file's path)."""
    name = os.path.basename(argv0)
    return "python -m runtime" if name in ("__main__.py", "-m", "-c", "") else name


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="The autonomous persona runtime.")
    p.add_argument("--version", action="version", version=f"{DISTRIBUTION} {version()}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot on Discord (token from DISCORD_TOKEN)")
    run.add_argument("--config", required=True, help="the TOML config file (bot.example.toml)")
    check = sub.add_parser(
        "check-config", help="validate a config, probe its LLM server and store, and say per "
                             "guild what she will do (exit 0, or 2 with problems)",
        description="Validate the config file as run would, check the directories it writes "
                    "to, ask the LLM server whether it serves the model, probe the store "
                    "read-only, and print per guild what she will do there. Exit status 0, "
                    "or 2 when run would stop or she could not act.")
    check.add_argument("config", help="the TOML config file")
    check.add_argument("--timeout", type=float, default=5.0, metavar="S",
                       help="seconds for each probe (default: 5)")
    from runtime.simulate.cli import add_arguments

    sim = sub.add_parser(
        "simulate", help="run the whole runtime against simulated guilds (no token needed)",
        description="Run the whole runtime (router, actors, supervisor with SQLite snapshots, "
                    "LLM pool, control socket, logs) against simulated guilds, then print a "
                    "report comparing V2 with the old V1 timer on the same traffic.")
    add_arguments(sim)
    # Listed here for --help; its arguments are its own (runtime.ops.inspect_cli).
    sub.add_parser("inspect", add_help=False,
                   help="dump actor state, live (--socket) or from the store (--store)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status."""
    prog = prog_name(sys.argv[0])
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["inspect"]:
        from runtime.ops.inspect_cli import main as main_inspect

        rest = argv[1:]
        if rest[:1] == ["--prog"] and len(rest) > 1:  # ops/inspect.py names itself
            return main_inspect(rest[2:], prog=rest[1])
        return main_inspect(rest, prog=f"{prog} inspect")
    args = _parser(prog).parse_args(argv)
    if args.command == "run":
        from runtime.bot import main_run

        return main_run(args.config)
    if args.command == "check-config":
        from runtime.ops.check_config import main_check_config

        return main_check_config(args.config, prog=prog, timeout=args.timeout)
    from runtime.simulate.cli import main_simulate

    return main_simulate(args, prog=f"{prog} simulate")


if __name__ == "__main__":
    sys.exit(main())
