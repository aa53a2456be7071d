"""Supervision as data: the supervisor's flags, its statistics, what it keeps per guild, and
OTP's restart rule as a pure function of restart times and now (testable without tasks)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from actors.actor import GuildActor
from actors.mailbox import Mailbox

__all__ = ["GuildHandle", "SupervisorConfig", "SupervisorStatistics", "restart_allowed"]


class SupervisorConfig(msgspec.Struct, frozen=True):
    """Supervision flags (OTP's intensity and period), intervals and sizes."""

    intensity: int = 5
    period_s: float = 60.0
    quarantine_s: float = 300.0
    snapshot_interval_s: float = 60.0
    mailbox_capacity: int = 1024
    startup_grace_s: float = 120.0
    #: Keep passivated guilds' snapshots in memory too (the simulator: no thread on wake-up,
    #: so virtual time stays reproducible). Off in production: the store has them.
    cache_passivated: bool = False
    #: Keep collector pauses short: pause it during spawn bursts and freeze what they built,
    #: and hold ``runtime.gcguard.GCGuard`` while running (process-wide).
    gc_freeze: bool = True
    #: Actors encoded per slice when snapshotting, between checkpoints of the loop.
    snapshot_slice: int = 2000


class SupervisorStatistics(msgspec.Struct, frozen=True, gc=False):
    """The supervisor's counters at one moment."""

    live: int
    starting: int
    passivated: int
    quarantined: int
    spawned: int
    restarts: int
    crashes: int
    dead_letters: int
    passivations: int
    wakes: int
    snapshots_written: int
    snapshot_batches: int
    snapshot_errors: int
    bad_snapshots: int
    delivered: int
    refused: int
    mailbox_overflow: int
    mailbox_coalesced: int
    mailbox_dropped: int


def restart_allowed(restarts: Sequence[float], now: float, intensity: int,
                    period_s: float) -> bool:
    """OTP's rule: more than ``intensity`` restarts within ``period_s`` is too many.

    ``restarts`` holds the times of earlier restarts (the new one not included).
    """
    recent = sum(1 for t in restarts if now - t < period_s)
    return recent < intensity


class GuildHandle:
    """What the supervisor keeps for a guild that is live, starting or quarantined."""

    __slots__ = ("actor", "guild_id", "mailbox", "quarantined_until", "restarts", "woken")

    def __init__(self, guild_id: int, mailbox: Mailbox) -> None:
        self.guild_id = guild_id
        self.mailbox = mailbox
        self.woken = False
        self.actor: GuildActor | None = None
        self.restarts: list[float] | None = None  # made on the first crash
        self.quarantined_until = 0.0
