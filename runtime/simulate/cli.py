"""``python -m runtime simulate``: parse, check, run, print.

Errors a user can fix (a bad option, an existing or missing store file, a store in a missing
directory, a control socket another process serves, an LLM server that is not there) are one
line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from runtime.errors import StartupError
from runtime.simulate.options import SimulateOptions, add_arguments
from runtime.simulate.session import simulate
from runtime.simulate.text import format_report
from runtime.store import StoreError

__all__ = ["SimulateOptions", "add_arguments", "main_simulate", "simulate"]

_PROG = "python -m runtime simulate"  # when the caller does not say how it was run
#: The config fields a start-up error names, as the simulator's options.
_FLAGS = {"runtime.control_socket": "--control-socket", "store.path": "--store",
          "runtime.log_dir": "--log-dir", "runtime.metrics_address": "--metrics-address"}


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def main_simulate(args: argparse.Namespace, *, prog: str = _PROG) -> int:
    """Run the simulator from parsed arguments; returns the exit status. ``prog`` names the
    command in error lines (``miku-autonomy simulate`` when run by the console script)."""
    opts = SimulateOptions(args)
    try:
        report = simulate(opts)
    except (ValueError, StoreError, StartupError, OSError, BaseExceptionGroup) as exc:
        leaf = _leaf(exc)
        if isinstance(leaf, StartupError):
            flag = _FLAGS.get(leaf.field, leaf.field)
            message = f"{flag}: {leaf.detail}"
        elif isinstance(leaf, StoreError):
            where = "--store " + str(opts.store) if opts.store else "the store"
            message = f"{where}: {leaf}"
        elif isinstance(leaf, OSError) and not isinstance(leaf, StoreError):
            path = leaf.filename or opts.control_socket or ""
            message = f"{path}: {leaf.strerror or leaf}"
            if opts.control_socket and str(path) == opts.control_socket:
                message = f"--control-socket {message}"
        elif isinstance(leaf, ValueError):
            message = str(leaf)
        else:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    if opts.report_json is not None:
        Path(opts.report_json).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n",
                                          encoding="utf-8")
    if not opts.quiet:
        print(format_report(report))
        if opts.store:
            print(f"Snapshot store (V2): {opts.store} (continue it with --resume)")
        if opts.transcript:
            print(f"Transcript of her messages: {opts.transcript}")
    return 0
