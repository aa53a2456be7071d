"""``python -m runtime``: the bot (``run``), the simulator (``simulate``) and the state dump
(``inspect``, also ``ops/inspect.py``).

Errors a user can fix (a bad config, a missing token) are one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m runtime",
                                description="The autonomous persona runtime.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot on Discord (token from DISCORD_TOKEN)")
    run.add_argument("--config", required=True, help="the TOML config file (bot.example.toml)")
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
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["inspect"]:
        from runtime.ops.inspect_cli import main as main_inspect

        rest = argv[1:]
        if rest[:1] == ["--prog"] and len(rest) > 1:  # ops/inspect.py names itself
            return main_inspect(rest[2:], prog=rest[1])
        return main_inspect(rest)
    args = _parser().parse_args(argv)
    if args.command == "run":
        from runtime.bot import main_run

        return main_run(args.config)
    from runtime.simulate.cli import main_simulate

    return main_simulate(args)


if __name__ == "__main__":
    sys.exit(main())
