"""What the gateway client reports about itself: its counters and each shard's state (for
the control socket's ``stats``, ``/metrics`` and ``/readyz``)."""

from __future__ import annotations

from typing import Literal

import msgspec

from runtime.gateway.members import ChunkerStatistics

__all__ = ["GatewayStatistics", "ShardState", "ShardStatistics"]

ShardState = Literal["connecting", "connected", "ready", "disconnected"]


class ShardStatistics(msgspec.Struct, frozen=True, gc=False):
    """One shard: its state, heartbeat latency (None before the first ACK), the last
    lifecycle event (connect / ready / resumed / disconnect) and when it happened."""

    shard_id: int
    state: ShardState
    latency_s: float | None
    last_event: str
    last_event_at: float | None


class GatewayStatistics(msgspec.Struct, frozen=True, gc=False):
    """Counters since start (events delivered and ignored, handler errors, sends, pauses
    begun after a 403 and sends held by one), guilds ready and silent now (no permission),
    channels paused now, member-list requests and shards."""

    delivered: int
    ignored: int
    handler_errors: int
    sent: int
    send_rejected: int
    deadline_passed: int = 0
    guilds_ready: int = 0
    guilds_silent: int = 0
    presences_uncached: int = 0
    pauses: int = 0
    sends_paused: int = 0
    channels_paused: int = 0
    #: Emoji reactions she added (``react``; a refused one counts in ``send_rejected``).
    reacted: int = 0
    chunks: ChunkerStatistics | None = None
    shards: tuple[ShardStatistics, ...] = ()
