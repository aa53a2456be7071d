"""Shared helpers of the simulator tests."""

from __future__ import annotations

import argparse
from typing import Any

from runtime.simulate.cli import SimulateOptions, add_arguments, simulate


def options(*argv: str) -> SimulateOptions:
    """Simulator options as the command line would give them."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return SimulateOptions(parser.parse_args(list(argv)))


def run(*argv: str) -> dict[str, Any]:
    """Run the simulator in this process; returns its report."""
    return simulate(options(*argv))


def without_timing(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its wall-clock part."""
    return {k: v for k, v in report.items() if k != "timing"}
