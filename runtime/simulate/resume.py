"""Continuing a simulated run after a downtime (``--resume --downtime SECONDS``).

A run with ``--store PATH`` leaves the snapshot store behind and, beside it, ``PATH.sim.json``
saying which simulated guilds it holds (seed, number of guilds) and when their simulated time
stopped. A resumed run continues the same guilds from that store: its traffic window opens
``downtime`` seconds later, and each guild's ``GuildReady`` arrives a few seconds after the
start, staggered, as the gateway delivers them after a restart (``staggered_readies``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import msgspec

from runtime.simulate.traffic import GuildTraffic, Traffic, on_grid

__all__ = [
    "READY_AFTER_S",
    "SimState",
    "read_state",
    "resume_start",
    "sidecar",
    "staggered_readies",
    "write_state",
]

#: The first guild's GuildReady comes this long after the start, the last one this long
#: plus ``_READY_SPREAD_S``.
READY_AFTER_S = 2.0
_READY_SPREAD_S = 6.0
_VERSION = 1


class SimState(msgspec.Struct, frozen=True):
    """What a store's sidecar says about the simulated guilds in it."""

    seed: int
    guilds: int
    end: float
    version: int = _VERSION


def sidecar(store: str) -> Path:
    """The sidecar file of the store at ``store``."""
    return Path(store + ".sim.json")


def write_state(store: str, state: SimState) -> None:
    """Write (or replace) the store's sidecar."""
    sidecar(store).write_text(json.dumps(msgspec.to_builtins(state)) + "\n", encoding="utf-8")


def read_state(store: str) -> SimState:
    """The store's sidecar.

    Raises:
        ValueError: no sidecar (the store was not left by the simulator), or an unreadable
            one; the message says which and what to do.
    """
    path = sidecar(store)
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        state = msgspec.convert(raw, SimState)
    except FileNotFoundError:
        raise ValueError(f"--resume: {path} is missing; resume a store a simulator run left "
                         "with --store") from None
    except (OSError, ValueError, msgspec.ValidationError) as exc:
        raise ValueError(f"--resume: {path} is unreadable ({exc})") from None
    if state.version != _VERSION or not math.isfinite(state.end):
        raise ValueError(f"--resume: {path} is from another simulator version")
    return state


def resume_start(state: SimState, downtime_s: float) -> float:
    """The resumed window's start: the last run's end plus the downtime, on a whole second
    (event times stay exact against the loop clock's offset)."""
    return float(math.ceil(state.end + downtime_s))


def staggered_readies(traffic: Traffic) -> Traffic:
    """The same traffic with guild ``i``'s ``GuildReady`` ``READY_AFTER_S`` plus up to
    ``_READY_SPREAD_S`` seconds after the start, in guild order (who is online is the
    start's)."""
    n = len(traffic.guilds)
    guilds = [
        GuildTraffic(g.plan, msgspec.structs.replace(
            g.ready, at=on_grid(traffic.start + READY_AFTER_S + _READY_SPREAD_S * i / n)),
            g.events)
        for i, g in enumerate(traffic.guilds)]
    return Traffic(traffic.seed, traffic.start, traffic.end, guilds)
