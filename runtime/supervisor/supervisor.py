"""The supervisor and router: spawns guild actors on demand, restarts the ones that crash,
passivates idle ones, snapshots them, and routes every event to its guild.

- ``deliver(event)`` is synchronous and never blocks: it finds the guild's mailbox (spawning
  the actor on first sight; events wait in the mailbox while its state is restored).
- A crash dead-letters the event that caused it and restarts the guild from its last good
  state (its last snapshot). Restarts are limited OTP-style (``intensity`` within
  ``period_s``); past the limit the guild is quarantined for ``quarantine_s`` — its mailbox
  keeps counting what arrives — then restarted. No crash touches another guild.
- An actor idle for ``passivate_after_s`` snapshots itself and stops; the supervisor keeps
  only its wake-up time (a float in a dict and a heap entry) and wakes it then, or on its
  next event.
- Dirty actors are snapshotted every ``snapshot_interval_s`` in one batched transaction
  (encoded on the loop in slices, written off it by the store, ``snapshots``), all of them at
  shutdown. One guild's bad snapshot never fails the batch for the others.
- What the router admits (``admission``): ids in range, guilds of this process's
  shards, never a removed guild's stray events; and each guild's readiness in this process,
  handed to its actor at every start (a guild decides only while ready).

It is over 500 lines because spawning, restarting, passivating and waking share the
handles and the wake-up heap; what operators read lives in ``queries``, what it admits in
``admission``, its records in ``records``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import traceback
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import structlog

from actors.actor import (
    READY,
    WAITING,
    ActionSink,
    ActorCrashed,
    ActorExit,
    ActorSettings,
    GuildActor,
    Readiness,
    passive_wake_at,
)
from actors.clock import LoopClock
from actors.events import ActionFinished, GuildRemoved, Stop
from actors.mailbox import Mailbox, MailboxClosed
from engine import (
    GuildState,
    SnapshotError,
    decode_state,
    new_state,
    restore_state,
)
from runtime.store.contract import SnapshotStore
from runtime.supervisor.admission import (
    READINESS_EVENTS,
    ReadyGuilds,
    bad_id,
    id_ok,
    purge_removed_daily,
    refuse_bad_id,
    refuse_foreign,
    shard_filter,
)
from runtime.supervisor.gcguard import GCGuard, SpawnBursts, thaw_periodically
from runtime.supervisor.queries import Queries
from runtime.supervisor.records import (
    COUNTERS,
    GuildHandle,
    SupervisorConfig,
    SupervisorStatistics,
    UnknownGuildError,
    restart_allowed,
)
from runtime.supervisor.snapshots import SnapshotWriter

__all__ = [
    "GuildHandle",
    "Supervisor",
    "SupervisorConfig",
    "SupervisorStatistics",
    "UnknownGuildError",
    "restart_allowed",
]

log = structlog.get_logger("runtime.supervisor")



class Supervisor:
    """Owns every guild actor of the process.

    The LLM pool delivers every result back through ``deliver``, so it is built after the
    supervisor and handed to ``run`` (the sink actors submit to), not to the constructor.

    Args:
        store: the snapshot store (``runtime.store.SnapshotStore``).
        settings_for: the ``ActorSettings`` of a guild id.
        seed: the engine seed.
        config: supervision flags and intervals.
        clock: epoch time from the loop; created in ``run`` when None.
    """

    def __init__(self, *, store: SnapshotStore,
                 settings_for: Callable[[int], ActorSettings], seed: int,
                 config: SupervisorConfig | None = None, clock: LoopClock | None = None) -> None:
        self.store = store
        self._sink: ActionSink | None = None
        self.settings_for = settings_for
        self.seed = seed
        self.config = config or SupervisorConfig()
        self.clock = clock
        self.started_at = 0.0
        self._handles: dict[int, GuildHandle] = {}
        self._passivated: dict[int, float] = {}
        self._wake_heap: list[tuple[float, int]] = []
        self._wake_changed: anyio.Event | None = None
        self._cache: dict[int, bytes] = {}  # passivated snapshots kept in memory (simulator)
        self._tg: anyio.abc.TaskGroup | None = None
        self._admitting = False
        self._request_ids = itertools.count(1)
        self._stats: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
        self._stats["snapshot_seconds"] = 0.0
        self._writer = SnapshotWriter(store, self._stats)
        self._owns = shard_filter(self.config.shard_ids, self.config.shard_count)
        self._readiness = ReadyGuilds()
        self._foreign_logged: set[int] = set()
        self._events: dict[type, int] = {}
        self._tally: dict[tuple[str, str], int] = {}
        self._starting = 0  # spawned, state not restored yet
        self._fewer_starting: anyio.Event | None = None
        self._bursts = SpawnBursts()
        self._queries = Queries(self)
        self.ready = anyio.Event()

    # --- running ------------------------------------------------------------------------

    def next_request_id(self) -> int:
        """A request id unique in this process."""
        return next(self._request_ids)

    async def run(self, sink: ActionSink, *,
                  task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled (or ``shutdown``): spawns, wakes and snapshots guilds; its
        actors submit their action requests to ``sink`` (the LLM pool)."""
        self._sink = sink
        if self.clock is None:
            self.clock = LoopClock()
        self.started_at = self.clock.now()
        self._wake_changed = anyio.Event()
        now = self.started_at
        owns = self._owns
        for gid, wake_at in await self.store.load_wakeups():
            if owns is not None and not owns(gid):
                continue  # another process's shard: never woken, never written here
            self._writer.known.add(gid)
            # A guild saved while live (the process died) is looked at once it is ready.
            wake = now if wake_at is None else wake_at
            self._passivated[gid] = wake
            if not math.isinf(wake):
                heapq.heappush(self._wake_heap, (wake, gid))
        if self.config.gc_freeze:
            GCGuard.hold()
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                self._admitting = True
                tg.start_soon(self._snapshot_loop)
                tg.start_soon(self._wake_loop)
                tg.start_soon(purge_removed_daily, self.store, self.clock.now)
                if self.config.gc_freeze:
                    tg.start_soon(thaw_periodically)
                self.ready.set()
                task_status.started()
        finally:
            self._bursts.end()
            if self.config.gc_freeze:
                GCGuard.release()

    def stop_admitting(self) -> None:
        """Refuse new events from now on; action results still reach their actors."""
        self._admitting = False

    async def shutdown(self, *, deadline_s: float = 10.0) -> None:
        """Stop admitting, snapshot every live guild in one batch, stop every actor.

        Results still reach their actors until the final snapshot (``ActionFinished`` is
        admitted after admission stops), so drain the pool before calling this.
        """
        self._admitting = False
        with anyio.move_on_after(deadline_s) as scope:
            await self.snapshot(only_dirty=False, final=True)
        if scope.cancelled_caught:
            log.error("final_snapshot_timeout", deadline_s=deadline_s)
        for h in self._handles.values():
            if h.actor is not None:
                try:
                    h.mailbox.put_nowait(Stop(h.guild_id))
                except MailboxClosed:
                    pass
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    # --- routing ------------------------------------------------------------------------

    def deliver(self, event: Any) -> bool:
        """Route ``event`` to its guild's actor, spawning it on first sight. Never blocks.

        Returns False (and counts it) when the event is refused: the supervisor is not
        admitting events (before ``run``, or after ``shutdown`` began; action results always
        go through), an id is out of range (logged), the guild belongs to another process's
        shards, or the guild was removed (only its ``GuildReady``, invited again, comes in).
        """
        kind = type(event)
        if (not self._admitting and kind is not ActionFinished) or self._tg is None:
            self._stats["refused"] += 1
            return False
        problem = bad_id(event)
        if problem is not None:
            return refuse_bad_id(self._stats, event, problem)
        gid = event.guild_id
        if self._owns is not None and not self._owns(gid):
            return refuse_foreign(self._stats, self._foreign_logged, gid, kind)
        events = self._events
        events[kind] = events.get(kind, 0) + 1
        h = self._handles.get(gid)
        if kind in READINESS_EVENTS:
            before = self._readiness.readiness(gid)
            if not self._readiness.note(event):
                if kind is GuildRemoved:
                    return self._removed(gid, event.at, h, event)
                if h is None:
                    return True  # a sleeping guild: the record is all that changes
            if h is None:
                # Its GuildReady (or its voice back) wakes a sleeping guild to look once,
                # and it goes back to sleep if it has nothing to do.
                h = self._spawn(gid, before, woken=gid in self._passivated)
        elif gid in self._readiness.removed:
            self._stats["refused_removed"] += 1
            return False
        if h is None:
            h = self._spawn(gid)
        try:
            h.mailbox.put_nowait(event)
        except MailboxClosed:
            # The actor stopped in this same step (passivation): start it again.
            self._handles.pop(gid, None)
            h = self._spawn(gid)
            h.mailbox.put_nowait(event)
        self._stats["delivered"] += 1
        return True

    def _removed(self, gid: int, at: float, h: GuildHandle | None, event: Any) -> bool:
        """She was removed: the actor stops (if live), the store flags the guild removed,
        and nothing wakes it again."""
        self._passivated.pop(gid, None)
        self._cache.pop(gid, None)
        self._stats["delivered"] += 1
        if h is not None:
            try:
                h.mailbox.put_nowait(event)  # the actor stops; _exited flags it in the store
                return True
            except MailboxClosed:
                self._handles.pop(gid, None)
        log.info("guild_removed", guild_id=gid)
        self._writer.drop(gid)
        assert self._tg is not None
        self._tg.start_soon(self._writer.mark_removed, gid, at)
        return True

    def _spawn(self, gid: int, readiness: Readiness | None = None, *,
               woken: bool = False) -> GuildHandle:
        assert self._tg is not None
        h = GuildHandle(gid, Mailbox(gid, self.config.mailbox_capacity))
        h.woken = woken
        self._handles[gid] = h
        if self._passivated.pop(gid, None) is not None:
            self._stats["wakes"] += 1
        self._stats["spawned"] += 1
        self._starting += 1
        if readiness is None:
            readiness = self._readiness.readiness(gid)
        self._tg.start_soon(self._run_guild, h, readiness)
        if self.config.gc_freeze and self._tg is not None:
            self._bursts.count(self._tg)
        return h

    def spawn(self, gid: int) -> None:
        """Start a guild's actor now if it is not live and this process runs it."""
        if gid not in self._handles and self._tg is not None and self.knows(gid, any_own=True):
            self._spawn(gid)

    def knows(self, gid: int, *, any_own: bool = False) -> bool:
        """This process runs the guild: live, starting, passivated or ready here (or, with
        ``any_own``, any guild of its shards not removed)."""
        if not id_ok(gid) or (self._owns is not None and not self._owns(gid)) \
                or gid in self._readiness.removed:
            return False
        return any_own or gid in self._handles or gid in self._passivated \
            or gid in self._readiness.ready

    def live_actors(self) -> list[GuildActor]:
        """The actors running now."""
        return [h.actor for h in self._handles.values() if h.actor is not None]

    def live_guild_ids(self) -> list[int]:
        """The guilds whose actors run now (``runtime.settings.LiveGuilds``)."""
        return [gid for gid, h in self._handles.items() if h.actor is not None]

    # --- what operators read and set (``queries``) ------------------------------------------

    def statistics(self) -> SupervisorStatistics:
        """The counters now (``Queries.statistics``)."""
        return self._queries.statistics()

    def list_guilds(self) -> list[dict[str, Any]]:
        """One row per known guild (``Queries.list_guilds``)."""
        return self._queries.list_guilds()

    async def guild_detail(self, gid: int) -> dict[str, Any] | None:
        """One guild in full, or None (``Queries.guild_detail``)."""
        return await self._queries.guild_detail(gid)

    def set_mood(self, gid: int, mood: str) -> dict[str, Any]:
        """Set a guild's mood by hand (``Queries.set_mood``: returns and raises as it says)."""
        return self._queries.set_mood(gid, mood)

    async def snapshot_now(self) -> int:
        """Snapshot every live guild now; how many were written."""
        return await self._queries.snapshot_now()

    # --- one guild's life ---------------------------------------------------------------

    async def _load_state(self, gid: int, now: float, woke: bool = True
                          ) -> tuple[GuildState, bool]:
        """The guild's state (passivated bytes, the store, or a fresh one), and whether it
        was restored from a snapshot. Bytes kept from a passivation (``woke``) are taken as
        they are; a snapshot from the store is restored (pending cleared, no grace)."""
        data = self._writer.latest(gid)
        if data is None:
            data = self._cache.get(gid)
        woke = woke and data is not None
        if data is None and gid in self._writer.known:
            data = await self.store.load(gid)
        if data is not None:
            try:
                if woke:
                    return decode_state(data), False  # passivated: nothing was lost
                state, cleared = restore_state(data, now)
                if cleared is not None:
                    log.info("pending_cleared_on_restore", guild_id=gid, action=cleared)
                return state, True
            except (SnapshotError, ValueError) as exc:
                self._stats["bad_snapshots"] += 1
                log.error("bad_snapshot", guild_id=gid, error=str(exc))
                await self._put_aside(gid, data, str(exc))
        grace = self.started_at + self.config.startup_grace_s
        return new_state(gid, now, grace_until=grace), False

    #: Back-off of a guild waiting for its state while the store cannot be read.
    RESTORE_RETRY_FIRST_S = 1.0
    RESTORE_RETRY_MAX_S = 30.0

    async def _restore(self, gid: int, *, woke: bool = True) -> tuple[GuildState, bool]:
        """``_load_state``, waiting as long as the store cannot be read: the guild is never
        run from nothing because the store was away (its events wait in its mailbox,
        bounded as any mailbox). Said once when it starts waiting, once when it has its
        state; retried with back-off (1 s doubling to 30 s) in between."""
        assert self.clock is not None
        delay = self.RESTORE_RETRY_FIRST_S
        since: float | None = None
        while True:
            try:
                result = await self._load_state(gid, self.clock.now(), woke)
            except Exception as exc:
                if since is None:
                    since = self.clock.now()
                    self._stats["restore_waits"] += 1
                    log.warning("restore_waiting", guild_id=gid, error=repr(exc),
                                retry_in_s=delay, detail="the store cannot be read: the "
                                "guild waits with its events and retries")
                await anyio.sleep(delay)
                delay = min(delay * 2, self.RESTORE_RETRY_MAX_S)
                continue
            if since is not None:
                log.info("restore_recovered", guild_id=gid,
                         waited_s=round(self.clock.now() - since, 1))
            return result

    async def _run_guild(self, h: GuildHandle, readiness: Readiness) -> None:
        """One guild's life. Nothing that goes wrong here may reach the task group: that
        would take every other guild down with it."""
        try:
            try:
                actor = await self._start_actor(h, readiness)
            finally:
                self._starting -= 1
                if self._fewer_starting is not None and self._starting <= self._WAKE_SLICE // 2:
                    self._fewer_starting.set()
            # The guild's life, inline: an idle actor's await chain is one frame per layer.
            while True:
                h.actor = actor
                try:
                    result = await actor.run()
                except Exception as exc:
                    h.actor = None
                    event = exc.event if isinstance(exc, ActorCrashed) else None
                    error = exc.error if isinstance(exc, ActorCrashed) else exc
                    await self._crashed(h, event, error)
                    state, restored = await self._last_good_state(h, actor, event)
                    actor = actor.restarted(state, restored=restored)
                    continue
                self._exited(h, result)
                return
        except Exception as exc:
            self._stats["crashes"] += 1
            log.error("guild_failed", guild_id=h.guild_id, error=repr(exc))
            if self._handles.get(h.guild_id) is h:
                del self._handles[h.guild_id]
            lost = h.mailbox.close()
            if lost:
                log.error("guild_events_lost", guild_id=h.guild_id, count=len(lost))

    async def _start_actor(self, h: GuildHandle, readiness: Readiness) -> GuildActor:
        """Restore the guild's state and make its actor."""
        assert self.clock is not None
        gid = h.guild_id
        clock = self.clock
        state, restored = await self._restore(gid)
        # Restored while not ready yet (a start, an outage): the gap and the fresh silence
        # apply at its GuildReady. Restored while ready (woken here) nothing was lost.
        assert self._sink is not None  # actors are started only while running
        actor = GuildActor(state, self.settings_for(gid), clock=clock, sink=self._sink,
                           seed=self.seed, request_ids=self.next_request_id,
                           mailbox=h.mailbox, on_snapshot=self._snapshot_one,
                           readiness=readiness, restored=restored and readiness == WAITING,
                           tally=self._tally, woken=h.woken)
        return actor

    async def _last_good_state(self, h: GuildHandle, actor: GuildActor,
                               event: Any) -> tuple[GuildState, bool]:
        """The state to restart from, and whether it is the last snapshot. A crash on an
        event leaves the state as it was before that event (the engine validates before it
        changes anything), so the live state is kept once it survives an encode/decode round
        trip. A crash in the actor's own timer or decision path, or a state that does not
        round-trip, goes back to the guild's last snapshot (written or not yet written):
        the state itself may be what is wrong."""
        if event is not None:
            data = self._writer.encode(actor.state)
            if data is not None:
                try:
                    return decode_state(data), False
                except Exception as exc:
                    log.error("state_unusable_after_crash", guild_id=h.guild_id,
                              error=repr(exc))
        state, _ = await self._restore(h.guild_id, woke=False)
        return state, True

    async def _crashed(self, h: GuildHandle, event: Any, error: BaseException) -> None:
        assert self.clock is not None
        now = self.clock.now()
        self._stats["crashes"] += 1
        kind = type(event).__name__ if event is not None else "timer"
        tb = "".join(traceback.format_exception(error))
        log.error("actor_crashed", guild_id=h.guild_id, event_type=kind, error=repr(error))
        try:
            await self.store.dead_letter(h.guild_id, kind, tb, now)
            self._stats["dead_letters"] += 1
        except Exception as exc:
            log.error("dead_letter_failed", guild_id=h.guild_id, error=repr(exc))
        if h.restarts is None:
            h.restarts = []
        if not restart_allowed(h.restarts, now, self.config.intensity, self.config.period_s):
            h.quarantined_until = now + self.config.quarantine_s
            log.error("guild_quarantined", guild_id=h.guild_id,
                      until=h.quarantined_until, restarts=len(h.restarts))
            await anyio.sleep_until(self.clock.loop_time(h.quarantined_until))
            h.quarantined_until = 0.0
            h.restarts.clear()
            log.info("guild_released", guild_id=h.guild_id)
        h.restarts.append(now)
        del h.restarts[:-64]
        self._stats["restarts"] += 1

    def _exited(self, h: GuildHandle, result: ActorExit) -> None:
        gid = h.guild_id
        if self._handles.get(gid) is h:
            del self._handles[gid]
        if result.reason == "passivated":
            self._writer.put(gid, result.data, result.wake_at)
            self._stats["passivations"] += 1
            if self.config.cache_passivated:
                self._cache[gid] = result.data
            self._writer.known.add(gid)
            self._passivated[gid] = result.wake_at
            if not math.isinf(result.wake_at):
                self._schedule_wake(gid, result.wake_at)
        elif result.reason == "removed":
            assert self.clock is not None and self._tg is not None
            log.info("guild_removed", guild_id=gid)
            self._writer.drop(gid)
            self._tg.start_soon(self._writer.mark_removed, gid, self.clock.now())
        else:
            self._writer.put(gid, result.data)

    # --- passivation --------------------------------------------------------------------

    def _schedule_wake(self, gid: int, wake_at: float) -> None:
        heap = self._wake_heap
        earlier = not heap or wake_at < heap[0][0]
        heapq.heappush(heap, (wake_at, gid))
        if earlier and self._wake_changed is not None:
            self._wake_changed.set()

    _WAKE_SLICE = 1000

    async def _wake_loop(self) -> None:
        assert self.clock is not None
        clock = self.clock
        heap = self._wake_heap
        while True:
            self._wake_changed = anyio.Event()
            if heap:
                with anyio.move_on_at(clock.loop_time(heap[0][0])):
                    await self._wake_changed.wait()
            else:
                await self._wake_changed.wait()
            now = clock.now()
            woken = 0
            ready = self._readiness
            while heap and heap[0][0] <= now:
                wake_at, gid = heapq.heappop(heap)
                # Only a guild that may act now: the others wake on their GuildReady.
                if self._passivated.get(gid) == wake_at and gid not in self._handles \
                        and ready.readiness(gid) == READY:
                    self._spawn(gid, READY, woken=True)
                    woken += 1
                    if woken % self._WAKE_SLICE == 0:
                        # Many due at once (after a downtime): let the woken ones restore,
                        # look and go back to sleep before waking more, so a backlog of a
                        # million never makes a million live actors.
                        await anyio.lowlevel.checkpoint()
                        while self._starting > self._WAKE_SLICE // 2:
                            self._fewer_starting = anyio.Event()
                            await self._fewer_starting.wait()
                        now = clock.now()

    # --- snapshots ----------------------------------------------------------------------

    def _snapshot_one(self, actor: GuildActor) -> None:
        data = self._writer.encode(actor.state)
        if data is None:
            return
        actor.dirty = False
        self._writer.put(actor.guild_id, data)
        if self._tg is not None:
            self._tg.start_soon(self._writer.write)

    async def _snapshot_loop(self) -> None:
        while True:
            await anyio.sleep(self.config.snapshot_interval_s)
            await self.snapshot(only_dirty=True)

    async def snapshot(self, *, only_dirty: bool = True, final: bool = False) -> int:
        """Encode live actors (dirty ones, or all) and write them with every unsaved
        passivated guild. Returns how many were written.

        ``final`` (shutdown) also stores each live guild's wake-up, so the next process
        wakes a silent guild on time without restoring every guild at start. A guild whose
        state cannot be encoded is logged and skipped (it stays dirty): never the batch.
        """
        slice_n = self.config.snapshot_slice
        writer = self._writer
        for i, h in enumerate(list(self._handles.values())):
            actor = h.actor
            if actor is None or (only_dirty and not actor.dirty):
                continue
            data = writer.encode(actor.state)
            if data is None:
                continue
            actor.dirty = False
            wake = None
            if final:
                wake = passive_wake_at(decode_state(data), actor.cfg, actor.clock.now(),
                                       self.seed, actor.settings.policy)
            writer.put(h.guild_id, data, wake)
            if i % slice_n == slice_n - 1:
                await anyio.lowlevel.checkpoint()
        return await writer.write()

    async def _put_aside(self, gid: int, data: bytes, error: str) -> None:
        try:
            await self.store.put_aside(gid, data, error)
        except Exception as exc:
            log.error("put_aside_failed", guild_id=gid, error=repr(exc))
