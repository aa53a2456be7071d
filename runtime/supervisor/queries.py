"""Operating the supervisor from outside: statistics, the guild table, one guild in full,
a mood set by hand (the control socket's requests), as an object that takes the supervisor.
It reads what the supervisor keeps and changes nothing but through ``deliver``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import msgspec

from actors.events import MoodSet
from engine import decode_state, profile_for, signals
from runtime.supervisor.records import SupervisorStatistics, UnknownGuildError, mood_holds

if TYPE_CHECKING:
    from runtime.supervisor.supervisor import Supervisor

__all__ = ["Queries"]


class Queries:
    """What operators read and set through a supervisor: its statistics, the guild table,
    one guild in full, a mood by hand, a snapshot now (the control socket's requests). It
    reads the supervisor's records (same package) and changes nothing but through
    ``Supervisor.deliver`` and ``Supervisor.snapshot``."""

    __slots__ = ("_sup",)

    def __init__(self, supervisor: Supervisor) -> None:
        self._sup = supervisor

    def statistics(self) -> SupervisorStatistics:
        """The supervisor's counters now, with the mailboxes' overflow summed (plain counts
        and sums, no per-guild labels: what metrics read at scrape time)."""
        sup = self._sup
        overflow = coalesced = dropped = live = starting = quarantined = 0
        for h in sup._handles.values():
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
        for (policy, action), n in sup._tally.items():
            decisions.setdefault(policy, {})[action] = n
        ready = sup._readiness
        return SupervisorStatistics(
            live=live, starting=starting, passivated=len(sup._passivated),
            quarantined=quarantined, removed=len(ready.removed), ready=len(ready.ready),
            silent=len(ready.silent), mailbox_overflow=overflow, mailbox_coalesced=coalesced,
            mailbox_dropped=dropped,
            events_by_type={k.__name__: n for k, n in sup._events.items()},
            decisions=decisions, **sup._stats)

    def list_guilds(self) -> list[dict[str, Any]]:
        """One row per known guild: live ones in full, passivated ones with their wake time."""
        sup = self._sup
        rows: list[dict[str, Any]] = []
        for gid, h in sup._handles.items():
            if h.actor is not None:
                row = h.actor.summary()
            else:
                row = {"guild_id": gid, "live": False, "mailbox_depth": len(h.mailbox),
                       "overflow": h.mailbox.overflowed}
            row["restarts"] = len(h.restarts or ())
            row["quarantined"] = bool(h.quarantined_until)
            rows.append(row)
        for gid, wake_at in sup._passivated.items():
            rows.append({"guild_id": gid, "live": False, "passivated": True,
                         "wake_at": None if math.isinf(wake_at) else wake_at,
                         "restarts": 0, "quarantined": False})
        return rows

    async def guild_detail(self, gid: int) -> dict[str, Any] | None:
        """One guild in full (live: from its actor; passivated: from its snapshot)."""
        sup = self._sup
        h = sup._handles.get(gid)
        if h is not None and h.actor is not None:
            detail = h.actor.inspect()
            detail["restarts"] = len(h.restarts or ())
            detail["quarantined"] = bool(h.quarantined_until)
            return detail
        if not sup.knows(gid, any_own=True):
            return None
        data = sup._writer.latest(gid)
        if data is None:
            data = sup._cache.get(gid)
        if data is None and (gid in sup._writer.known or gid in sup._passivated):
            data = await sup.store.load(gid)
        if data is None:
            return None
        state = decode_state(data)
        assert sup.clock is not None
        settings = sup.settings_for(gid)
        return {"guild_id": gid, "live": False, "passivated": gid in sup._passivated,
                "wake_at": sup._passivated.get(gid), "mood": state.mood,
                "state": msgspec.to_builtins(state),
                "signals": msgspec.to_builtins(signals(state, settings.config,
                                                       sup.clock.now())),
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
        sup = self._sup
        profile_for(mood)
        if not sup.knows(gid):
            raise UnknownGuildError(gid)
        assert sup.clock is not None
        now = sup.clock.now()
        sup.deliver(MoodSet(gid, mood, now))
        return {"guild_id": gid, "mood": mood,
                **mood_holds(sup.settings_for(gid).config, now)}

    async def snapshot_now(self) -> int:
        """Snapshot every live guild now (the control socket's ``snapshot``)."""
        sup = self._sup
        return await sup.snapshot(only_dirty=False)
