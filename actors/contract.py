"""What a guild actor takes and gives: its settings, where its actions go, its readiness in
this process, and how its loop ends (kept apart from the loop itself, ``actors.actor``)."""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol

import msgspec

from actors.events import ActionRequest
from engine import GuildConfig, PolicyName

__all__ = [
    "DEFAULT_DEADLINES",
    "READY",
    "SILENT",
    "WAITING",
    "ActionSink",
    "ActorCrashed",
    "ActorExit",
    "ActorSettings",
    "Readiness",
]

#: Seconds after the decision at which an action's words are worthless.
DEFAULT_DEADLINES: dict[str, float] = {
    "reply": 60.0,
    "join_conversation": 120.0,
    "react": 120.0,
    "fomo_response": 180.0,
    "engage_user": 600.0,
    "break_silence": 1800.0,
    "share_tweet": 1800.0,
    "general": 1800.0,
}

#: Readiness in this process (never snapshotted): decide only while READY.
#: WAITING: no GuildReady on the current connection yet (start-up, a restore, an outage).
#: SILENT: ready, but she may not speak in the autonomous channel (a missing permission).
WAITING: Literal["waiting"] = "waiting"
SILENT: Literal["silent"] = "silent"
READY: Literal["ready"] = "ready"
Readiness = Literal["waiting", "silent", "ready"]


class ActionSink(Protocol):
    """Where chosen actions go (the LLM pool). ``submit`` never awaits; it raises when it
    cannot take the request, and then no result will come."""

    def submit(self, request: ActionRequest) -> None: ...


class ActorSettings(msgspec.Struct, frozen=True):
    """How one guild's actor behaves (built from the runtime config)."""

    config: GuildConfig = GuildConfig()
    channel_id: int | None = None
    policy: PolicyName = "v2"
    tick_s: float = 600.0
    #: Stop (snapshot and passivate) after this long without an event; 0 = never.
    passivate_after_s: float = 0.0
    reply_cooldown_s: float = 60.0
    deadlines: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_DEADLINES))
    #: Log, at debug, the first condition that held each action back whenever a decision
    #: decides nothing (the "why not" of ``inspect GUILD``). Set once from the log level, so
    #: the hot path pays nothing when debug is off.
    explain_idle: bool = False


class ActorCrashed(Exception):
    """A handler raised; ``event`` is what it was handling (None for a timer)."""

    def __init__(self, guild_id: int, event: Any, error: BaseException) -> None:
        kind = type(event).__name__ if event is not None else "timer"
        super().__init__(f"actor of guild {guild_id} crashed on {kind}: {error!r}")
        self.guild_id = guild_id
        self.event = event
        self.error = error


class ActorExit(msgspec.Struct, frozen=True):
    """How an actor's loop ended. ``data`` is the final state snapshot; ``wake_at`` (epoch)
    is when a passivated guild must be woken with no event."""

    reason: Literal["stopped", "passivated", "removed"]
    data: bytes
    wake_at: float = math.inf


