"""Supervision as data: the supervisor's flags, its statistics, what it keeps per guild, and
OTP's restart rule as a pure function of restart times and now (testable without tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from actors.actor import GuildActor
from actors.mailbox import Mailbox
from engine import GuildConfig, in_quiet_hours

__all__ = [
    "COUNTERS",
    "GuildHandle",
    "SupervisorConfig",
    "SupervisorStatistics",
    "UnknownGuildError",
    "mood_holds",
    "restart_allowed",
]


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
    #: and hold ``runtime.supervisor.gcguard.GCGuard`` while running (process-wide).
    gc_freeze: bool = True
    #: Actors encoded per slice when snapshotting, between checkpoints of the loop.
    snapshot_slice: int = 2000
    #: The Discord shards this process runs (``shard_ids`` of ``shard_count``; None: all).
    #: Events of other shards' guilds are refused, and their stored guilds never woken.
    shard_ids: tuple[int, ...] | None = None
    shard_count: int | None = None


#: The supervisor's plain counters (``SupervisorStatistics`` fields of the same names).
COUNTERS = ("spawned", "restarts", "crashes", "dead_letters", "passivations", "wakes",
            "snapshots_written", "snapshot_batches", "snapshot_errors", "snapshot_guild_errors",
            "snapshot_encode_errors", "snapshot_bytes", "bad_snapshots", "delivered",
            "refused", "refused_bad_id", "refused_other_shard", "refused_removed",
            "restore_waits")


class SupervisorStatistics(msgspec.Struct, frozen=True, gc=False):
    """The supervisor's counters at one moment: gauges (guilds by state now) and totals
    since start. No per-guild labels: metrics read this at scrape time."""

    #: Guilds by state now (``ready``/``silent``: GuildReady seen in this process, live or
    #: not; ``silent`` ones may not speak; ``removed``: removed since this process started).
    live: int
    starting: int
    passivated: int
    quarantined: int
    removed: int
    ready: int
    silent: int
    spawned: int
    restarts: int
    crashes: int
    dead_letters: int
    passivations: int
    wakes: int
    #: Snapshots: guilds written, batches, a batch the store refused (then tried guild by
    #: guild), a guild's row refused alone (put aside), a state that could not be encoded,
    #: bytes written, and seconds spent writing (sum over batches).
    snapshots_written: int
    snapshot_batches: int
    snapshot_errors: int
    snapshot_guild_errors: int
    snapshot_encode_errors: int
    snapshot_bytes: int
    snapshot_seconds: float
    bad_snapshots: int
    #: Events: delivered to a mailbox; refused (not admitting), refused for an id out of
    #: range, for a guild of another shard, for a removed guild.
    delivered: int
    refused: int
    refused_bad_id: int
    refused_other_shard: int
    refused_removed: int
    mailbox_overflow: int
    mailbox_coalesced: int
    mailbox_dropped: int
    #: Events admitted, by event type name (``MessageSeen`` ...).
    events_by_type: dict[str, int] = {}
    #: Decisions handed to the pool: ``{policy: {action: count}}`` (replies as ``reply``).
    decisions: dict[str, dict[str, int]] = {}
    #: Guild starts that had to wait for the store (it could not be read): each waited,
    #: its events kept, and retried until it had its state.
    restore_waits: int = 0


class UnknownGuildError(ValueError):
    """A request named a guild this process does not run."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(f"unknown guild {guild_id}: this process has not seen it since it "
                         "started (or it was removed, or it belongs to another shard)")
        self.guild_id = guild_id


def mood_holds(cfg: GuildConfig, now: float) -> dict[str, Any]:
    """How long a mood set by hand at ``now`` holds under ``cfg`` (the engine's rotation:
    until the next rotation boundary; in quiet hours she falls asleep at once)."""
    if not cfg.rotate_moods:
        return {"holds_until": None, "holds_for_s": None,
                "holds": "until set again (mood rotation is off)"}
    if in_quiet_hours(cfg, now)[0]:
        return {"holds_until": now, "holds_for_s": 0.0,
                "holds": "not at all: it is quiet hours, she falls asleep at once"}
    period = cfg.rotation_period_s
    until = (now // period + 1) * period
    return {"holds_until": until, "holds_for_s": until - now,
            "holds": "until the next mood rotation"}


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
