"""Operating the supervisor from outside: statistics, the guild table, one guild in full,
a mood set by hand (the control socket's requests). A part of ``Supervisor`` kept apart: it
reads what the supervisor keeps and changes nothing but through ``deliver``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import anyio
import msgspec
import structlog

from actors.actor import ActorSettings, GuildActor
from actors.clock import LoopClock
from actors.events import MoodSet
from engine import decode_state, profile_for, signals
from runtime.supervisor.admission import ReadyGuilds
from runtime.supervisor.records import (
    GuildHandle,
    SupervisorStatistics,
    UnknownGuildError,
    mood_holds,
)
from runtime.supervisor.snapshots import SnapshotWriter

__all__ = ["REMOVED_KEPT_S", "SupervisorOperations"]

log = structlog.get_logger("runtime.supervisor")

#: Removed guilds' rows are dropped this long after their removal.
REMOVED_KEPT_S = 30 * 86400.0
_PURGE_EVERY_S = 86400.0
_LOGGED_MAX = 4096  # other shards' guilds logged once each, up to this many


class SupervisorOperations:
    """The operations half of ``runtime.supervisor.Supervisor`` (a mixin: it has no state of
    its own)."""

    clock: LoopClock | None
    store: Any
    settings_for: Callable[[int], ActorSettings]
    _handles: dict[int, GuildHandle]
    _passivated: dict[int, float]
    _cache: dict[int, bytes]
    _stats: dict[str, Any]
    _writer: SnapshotWriter
    _readiness: ReadyGuilds
    _events: dict[type, int]
    _tally: dict[tuple[str, str], int]
    _foreign_logged: set[int]

    def deliver(self, event: Any) -> bool:
        raise NotImplementedError

    def knows(self, gid: int, *, any_own: bool = False) -> bool:
        raise NotImplementedError

    async def snapshot(self, *, only_dirty: bool = True, final: bool = False) -> int:
        raise NotImplementedError

    # --- refusals and housekeeping ---------------------------------------------------------

    def _refuse_bad_id(self, event: Any, problem: str) -> bool:
        n = self._stats["refused_bad_id"] = self._stats["refused_bad_id"] + 1
        if n <= 100 or n % 1000 == 0:  # a flood of them must not flood the log too
            log.warning("event_refused", reason="id out of range (expected 0 < id < 2**63)",
                        event_type=type(event).__name__, field=problem, refused=n)
        return False

    def _refuse_foreign(self, gid: int, kind: type) -> bool:
        self._stats["refused_other_shard"] += 1
        logged = self._foreign_logged
        if gid not in logged and len(logged) < _LOGGED_MAX:
            logged.add(gid)
            log.debug("event_refused", reason="guild of another shard", guild_id=gid,
                      event_type=kind.__name__)
        return False

    async def _purge_loop(self) -> None:
        """Drop removed guilds' rows 30 days after their removal: at start, then daily."""
        assert self.clock is not None
        while True:
            try:
                purged = await self.store.purge_removed(self.clock.now() - REMOVED_KEPT_S)
                if purged:
                    log.info("removed_guilds_purged", count=purged)
            except Exception as exc:
                log.error("purge_removed_failed", error=repr(exc))
            await anyio.sleep(_PURGE_EVERY_S)

    def statistics(self) -> SupervisorStatistics:
        """The supervisor's counters now, with the mailboxes' overflow summed (plain counts
        and sums, no per-guild labels: what metrics read at scrape time)."""
        overflow = coalesced = dropped = live = starting = quarantined = 0
        for h in self._handles.values():
            mb = h.mailbox
            overflow += mb.overflowed
            coalesced += mb.coalesced
            dropped += mb.dropped
            if h.quarantined_until:
                quarantined += 1
            elif h.actor is None:
                starting += 1
            else:
                live += 1
        decisions: dict[str, dict[str, int]] = {}
        for (policy, action), n in self._tally.items():
            decisions.setdefault(policy, {})[action] = n
        ready = self._readiness
        return SupervisorStatistics(
            live=live, starting=starting, passivated=len(self._passivated),
            quarantined=quarantined, removed=len(ready.removed), ready=len(ready.ready),
            silent=len(ready.silent), mailbox_overflow=overflow, mailbox_coalesced=coalesced,
            mailbox_dropped=dropped,
            events_by_type={k.__name__: n for k, n in self._events.items()},
            decisions=decisions, **self._stats)

    def live_actors(self) -> list[GuildActor]:
        """The actors running now."""
        return [h.actor for h in self._handles.values() if h.actor is not None]

    def list_guilds(self) -> list[dict[str, Any]]:
        """One row per known guild: live ones in full, passivated ones with their wake time."""
        rows: list[dict[str, Any]] = []
        for gid, h in self._handles.items():
            if h.actor is not None:
                row = h.actor.summary()
            else:
                row = {"guild_id": gid, "live": False, "mailbox_depth": len(h.mailbox),
                       "overflow": h.mailbox.overflowed}
            row["restarts"] = len(h.restarts or ())
            row["quarantined"] = bool(h.quarantined_until)
            rows.append(row)
        for gid, wake_at in self._passivated.items():
            rows.append({"guild_id": gid, "live": False, "passivated": True,
                         "wake_at": None if math.isinf(wake_at) else wake_at,
                         "restarts": 0, "quarantined": False})
        return rows

    async def guild_detail(self, gid: int) -> dict[str, Any] | None:
        """One guild in full (live: from its actor; passivated: from its snapshot)."""
        h = self._handles.get(gid)
        if h is not None and h.actor is not None:
            detail = h.actor.inspect()
            detail["restarts"] = len(h.restarts or ())
            detail["quarantined"] = bool(h.quarantined_until)
            return detail
        if not self.knows(gid, any_own=True):
            return None
        data = self._writer.latest(gid)
        if data is None:
            data = self._cache.get(gid)
        if data is None and (gid in self._writer.known or gid in self._passivated):
            data = await self.store.load(gid)
        if data is None:
            return None
        state = decode_state(data)
        assert self.clock is not None
        settings = self.settings_for(gid)
        return {"guild_id": gid, "live": False, "passivated": gid in self._passivated,
                "wake_at": self._passivated.get(gid), "mood": state.mood,
                "state": msgspec.to_builtins(state),
                "signals": msgspec.to_builtins(signals(state, settings.config,
                                                       self.clock.now())),
                "pending": state.pending_action, "decisions": []}

    def set_mood(self, gid: int, mood: str) -> dict[str, Any]:
        """Set a guild's mood by hand.

        Returns:
            ``{"guild_id", "mood", "holds_until", "holds_for_s", "holds"}``: how long it
            holds (until the next rotation, unless rotation is off or quiet hours put her
            to sleep at once).

        Raises:
            ValueError: an unknown mood (the message lists the valid ones).
            UnknownGuildError: a guild this process does not run (never seen since start,
                removed, or of another shard); nothing is created for it.
        """
        profile_for(mood)
        if not self.knows(gid):
            raise UnknownGuildError(gid)
        assert self.clock is not None
        now = self.clock.now()
        self.deliver(MoodSet(gid, mood, now))
        return {"guild_id": gid, "mood": mood,
                **mood_holds(self.settings_for(gid).config, now)}

    async def snapshot_now(self) -> int:
        """Snapshot every live guild now (the control socket's ``snapshot``)."""
        return await self.snapshot(only_dirty=False)
