"""Shard leases: one process at a time runs (and writes) a shard's guilds.

A lease is a row per shard: its owner (a string unique to one process run), its expiry and a
fencing number that grows by one each time the shard changes hands. A store that holds leases
writes a guild's snapshot only if, in the same transaction, the lease of the guild's shard
``(guild_id >> 22) % shard_count`` is still its own (same owner, same fencing number,
unexpired). So a process that was paused, partitioned or replaced cannot overwrite what the
new owner wrote: the new owner bumped the fencing number when it took the shard.

A lease of another shard count overlaps every shard (a guild's shard depends on the count),
so a live lease of any other count blocks the whole acquisition. Acquisition is all or
nothing: two processes that each want shards {0, 1} never each hold one and wait forever.

The stores implement ``acquire_leases`` / ``renew_leases`` / ``release_leases`` with the pure
planning below; ``open_leases`` is what a process uses: wait, hold, renew, release.

Fencing keeps a cut-off process's *writes* out of the store; it cannot keep its *sends* off
Discord. So a process also stops acting in its shards once its lease may have expired
(``LeaseWatch``): from the start of its last successful renewal plus the TTL, less a margin,
whatever the store is doing (a renewal that hangs on a dead connection gives up at its own
deadline, a third of the TTL). The store's expiry is counted from its own clock when the
renewal reached it, which is no earlier than the moment the renewal started here.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import anyio
import anyio.abc
import msgspec
import structlog

from runtime.store.contract import LeaseLostError, Refusal, StoreError, StoreUnavailableError

__all__ = [
    "HeldLeases",
    "Lease",
    "LeaseGrant",
    "LeaseHolder",
    "LeaseWatch",
    "Standing",
    "open_leases",
    "plan_acquire",
    "shard_of",
]

log = structlog.get_logger("runtime.store")


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard a guild belongs to (Discord's rule)."""
    return (guild_id >> 22) % shard_count


class Lease(msgspec.Struct, frozen=True, gc=False):
    """One shard's lease row. ``owner`` is empty for a released (free) shard."""

    shard_id: int
    shard_count: int
    owner: str
    fence: int
    expires_at: float


class LeaseGrant(msgspec.Struct, frozen=True, gc=False):
    """What one acquisition attempt gave: every lease asked for, or the leases in the way."""

    granted: tuple[Lease, ...]
    blocked: tuple[Lease, ...]
    #: The store's clock at the attempt (PostgreSQL's: the server's), for expiries.
    now: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.blocked


class Standing(msgspec.Struct, frozen=True, gc=False):
    """Where this store's leases stand in one transaction: the shards still ours
    (``valid``), and the ones whose lease ran out with our fence still on it (``lapsed``:
    nobody took them; a renewal brings them back)."""

    valid: frozenset[int] = frozenset()
    lapsed: frozenset[int] = frozenset()


class HeldLeases(msgspec.Struct, gc=False):
    """The leases a store instance holds: what its writes are conditional on."""

    owner: str
    shard_count: int
    fences: dict[int, int]
    #: Shards whose lease a renewal found taken (their writes are refused as taken).
    lost: set[int] = msgspec.field(default_factory=set)

    def standing(self, rows: Iterable[tuple[int, int, float]], now: float) -> Standing:
        """The standing from ``(shard_id, fence, expires_at)`` of this owner's rows of its
        shard count, at ``now`` (the store's clock)."""
        valid: set[int] = set()
        lapsed: set[int] = set()
        for s, f, expires in rows:
            if self.fences.get(s) == f:
                (valid if expires > now else lapsed).add(s)
        return Standing(frozenset(valid), frozenset(lapsed))

    def problem(self, guild_id: int, standing: Standing) -> tuple[Refusal, str] | None:
        """Why a write of this guild is refused (typed, and in words), or None when its
        shard is ours."""
        shard = shard_of(guild_id, self.shard_count)
        if shard in standing.valid:
            return None
        if shard in self.lost:
            return (Refusal.LEASE_TAKEN,
                    f"the lease of shard {shard} of {self.shard_count} was taken by another "
                    "process")
        if shard not in self.fences:
            return (Refusal.NOT_LEASED,
                    f"shard {shard} of {self.shard_count} is not leased to this process")
        if shard in standing.lapsed:
            return (Refusal.LEASE_EXPIRED,
                    f"the lease of shard {shard} of {self.shard_count} expired (not renewed "
                    "in time; no other process has taken it)")
        return (Refusal.LEASE_TAKEN,
                f"the lease of shard {shard} of {self.shard_count} was taken by another "
                "process")


def check_request(owner: str, shard_ids: Sequence[int], shard_count: int, ttl_s: float,
                  path: object) -> tuple[int, ...]:
    """The shard ids, sorted; raises ``StoreError`` for a request that makes no sense."""
    if not owner:
        raise StoreError(path, "lease owner must be a non-empty string")
    if not isinstance(shard_count, int) or shard_count < 1:
        raise StoreError(path, f"shard_count must be an integer >= 1, got {shard_count!r}")
    ids = tuple(sorted(set(shard_ids)))
    if not ids or any(not isinstance(s, int) or not 0 <= s < shard_count for s in ids):
        raise StoreError(path, f"shard_ids must be 0 <= id < {shard_count}, got {list(ids)}")
    if not (isinstance(ttl_s, int | float) and math.isfinite(ttl_s) and ttl_s > 0):
        raise StoreError(path, f"lease ttl_s must be a positive number, got {ttl_s!r}")
    return ids


def plan_acquire(rows: Iterable[Lease], owner: str, shard_ids: Sequence[int], shard_count: int,
                 ttl_s: float, now: float) -> tuple[list[Lease], list[Lease]]:
    """Decide an acquisition over the current lease rows.

    Returns:
        ``(blocked, writes)``: the live leases of other owners in the way (nothing is to be
        written then), or the rows to write: the new leases (fence + 1), and every row of
        another shard count invalidated (no owner, fence + 1), so its old owner cannot renew.
    """
    wanted = set(shard_ids)
    current = {r.shard_id: r for r in rows}
    blocked = [r for r in current.values()
               if r.owner not in ("", owner) and r.expires_at > now
               and (r.shard_count != shard_count or r.shard_id in wanted)]
    if blocked:
        return sorted(blocked, key=lambda r: r.shard_id), []
    writes = []
    for sid in sorted(wanted):
        old = current.get(sid)
        writes.append(Lease(sid, shard_count, owner, (old.fence if old else 0) + 1, now + ttl_s))
    for r in current.values():
        if r.shard_id not in wanted and r.shard_count != shard_count and r.owner:
            writes.append(Lease(r.shard_id, r.shard_count, "", r.fence + 1, 0.0))
    return [], writes


class LeaseHolder(Protocol):
    """A store with shard leases."""

    path: str

    async def acquire_leases(self, owner: str, shard_ids: Sequence[int], shard_count: int,
                             ttl_s: float) -> LeaseGrant: ...

    async def renew_leases(self, ttl_s: float) -> tuple[Lease, ...]: ...

    async def release_leases(self) -> None: ...


class LeaseWatch:
    """Whether this process may act in its shards now: its leases surely hold until the
    start of the last successful renewal (or the acquisition) plus ``ttl_s`` less
    ``margin_s``. Read on the loop's clock (``anyio.current_time``), never the store's.

    ``holds()`` is True before any lease is held (a store without leases fences nothing),
    and False after a lease was lost. ``open_leases(..., watch=...)`` feeds it and says in
    one line when it stops holding (``store.lease_unsure``) and when it holds again
    (``store.lease_sure``).

    Args:
        ttl_s: the leases' TTL.
        margin_s: taken off the TTL (default a sixth of it, at most 10 s): the time a
            decision already made may still take to reach Discord, and clock-rate drift.
    """

    def __init__(self, ttl_s: float, *, margin_s: float | None = None) -> None:
        self.ttl_s = ttl_s
        self.margin_s = min(ttl_s / 6, 10.0) if margin_s is None else margin_s
        self._until = math.inf
        self._changed = anyio.Event()
        #: How many times it stopped holding (a metric).
        self.lapses = 0
        #: How many renewals failed or timed out (a metric).
        self.renewals_failed = 0

    def holds(self) -> bool:
        """True while the leases surely hold (see the class)."""
        return anyio.current_time() < self._until

    def until(self) -> float:
        """The loop time the leases surely hold until (inf: not in lease mode)."""
        return self._until

    def renewed(self, started: float) -> None:
        """A renewal (or the acquisition) that started at loop time ``started`` went through."""
        self._until = max(self._until if math.isfinite(self._until) else -math.inf,
                          started + self.ttl_s - self.margin_s)
        self._changed.set()
        self._changed = anyio.Event()

    def lost(self) -> None:
        """A lease is another owner's now: never holds again."""
        self._until = -math.inf
        self._changed.set()
        self._changed = anyio.Event()

    async def run(self, shard_ids: Sequence[int], shard_count: int) -> None:
        """Say when the leases stop surely holding, and when they hold again (until
        cancelled)."""
        while True:
            if math.isfinite(self._until):
                await anyio.sleep_until(self._until)
            else:
                await self._changed.wait()
            if self.holds() or self._until == -math.inf:
                if self._until == -math.inf:
                    return
                continue
            self.lapses += 1
            stopped = anyio.current_time()
            log.error("store.lease_unsure", shards=list(shard_ids), shard_count=shard_count,
                      detail="no lease renewal got through in time: the lease may have "
                             "expired, so nothing is sent in these shards until one does")
            while not self.holds():
                if self._until == -math.inf:
                    return
                await self._changed.wait()
            log.info("store.lease_sure", shards=list(shard_ids), shard_count=shard_count,
                     stopped_for_s=round(anyio.current_time() - stopped, 1))


async def _acquire(store: LeaseHolder, owner: str, shard_ids: Sequence[int], shard_count: int,
                   ttl_s: float, retry_s: float | None) -> tuple[LeaseGrant, float]:
    """Try until every lease is granted (see ``open_leases``); the grant, and the loop time
    its attempt started (what the watch counts from)."""
    said = False
    retry = ttl_s / 3 if retry_s is None else retry_s
    unreachable_since: float | None = None
    delay = min(1.0, retry)
    while True:
        started = anyio.current_time()
        try:
            grant = await store.acquire_leases(owner, shard_ids, shard_count, ttl_s)
        except (StoreUnavailableError, TimeoutError) as exc:
            # The store is late or away (at boot, a partition): wait for it, saying so once.
            if unreachable_since is None:
                unreachable_since = started
                log.warning("store.lease_acquire_waiting", shards=list(shard_ids),
                            error=str(exc) or "timed out", retry_in_s=round(delay, 1),
                            detail="the store cannot be reached; trying again")
            await anyio.sleep(delay)
            delay = min(delay * 2, max(retry, 1.0))
            continue
        if unreachable_since is not None:
            log.info("store.lease_store_back",
                     waited_s=round(anyio.current_time() - unreachable_since, 1))
            unreachable_since = None
        if grant.ok:
            break
        first = min(grant.blocked, key=lambda r: r.expires_at)
        if not said:
            said = True
            log.warning("store.lease_wait", shards=[r.shard_id for r in grant.blocked],
                        shard_count=shard_count, holders=sorted({r.owner for r in grant.blocked}),
                        expires_in_s=round(max(0.0, first.expires_at - grant.now), 1),
                        detail="another live process holds these shards; waiting for its "
                               "lease to expire or be released")
        # Try again when the first lease in the way expires (a release may come sooner).
        await anyio.sleep(min(retry, max(0.05, first.expires_at - grant.now)))
    if said:
        log.info("store.lease_acquired", shards=list(shard_ids), shard_count=shard_count)
    return grant, started

@asynccontextmanager
async def open_leases(store: LeaseHolder, owner: str, shard_ids: Sequence[int],
                      shard_count: int, ttl_s: float, *,
                      on_lost: Callable[[LeaseLostError], Any] | None = None,
                      retry_s: float | None = None,
                      watch: LeaseWatch | None = None,
                      stop: anyio.Event | None = None) -> AsyncIterator[tuple[Lease, ...]]:
    """Hold the leases of ``shard_ids`` while the block runs.

    Waits until every lease is free (another live process holds one: said once, at warning,
    then retried when the first lease in the way expires), renews them every ``ttl_s / 3``
    seconds, and releases them on the way out (a shielded release: the next owner need not
    wait for the expiry).

    Args:
        store: a store with leases (``SQLiteStore``, ``PostgresStore``, ``MemoryStore``).
        owner: unique to this process run (host, pid, a random part).
        shard_ids, shard_count: the shards this process runs.
        ttl_s: how long a lease lasts without renewal.
        on_lost: called once if a renewal finds a lease lost (the process must stop running
            those shards); renewing stops then. None: ``LeaseLostError`` is raised from the
            block's task group.
        retry_s: the longest wait between two attempts while blocked (default a third of
            ``ttl_s``: a released lease is taken that soon).
        watch: told of every acquisition, renewal and loss (``LeaseWatch``); it says when
            the leases stop surely holding. Each renewal gives up after a third of
            ``ttl_s`` (a hung connection is abandoned, not waited for).
        stop: set while waiting for the leases (a SIGTERM): the wait ends and the block
            runs holding nothing (it yields ``()``), so the caller can exit at once.

    Yields:
        The leases held.
    """
    got: tuple[LeaseGrant, float] | None = None
    if stop is None:
        got = await _acquire(store, owner, shard_ids, shard_count, ttl_s, retry_s)
    else:
        async with anyio.create_task_group() as waiting:
            async def stop_waiting() -> None:
                await stop.wait()
                waiting.cancel_scope.cancel()

            waiting.start_soon(stop_waiting)
            got = await _acquire(store, owner, shard_ids, shard_count, ttl_s, retry_s)
            waiting.cancel_scope.cancel()
    if got is None:
        log.info("store.lease_wait_stopped", shards=list(shard_ids))
        yield ()
        return
    grant, started = got
    if watch is not None:
        watch.renewed(started)

    async def renew(task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                    ) -> None:
        task_status.started()
        failing = False
        while True:
            await anyio.sleep(ttl_s / 3)
            started = anyio.current_time()
            error: str | None = "timed out"
            # Its own deadline: a renewal hung on a dead connection must not hold the
            # next attempt (nor the watch) back.
            with anyio.move_on_after(ttl_s / 3):
                try:
                    await store.renew_leases(ttl_s)
                    error = None
                except LeaseLostError as exc:
                    if watch is not None:
                        watch.lost()
                    log.error("store.lease_lost", shards=list(exc.shard_ids),
                              shard_count=exc.shard_count)
                    if on_lost is None:
                        raise
                    on_lost(exc)
                    return
                except (StoreError, TimeoutError) as exc:  # the database is away or late
                    error = str(exc) or "timed out"
            if error is None:
                if watch is not None:
                    watch.renewed(started)
                if failing:
                    failing = False
                    log.info("store.lease_renewed", shards=list(shard_ids))
                continue
            if watch is not None:
                watch.renewals_failed += 1
            if not failing:  # once per outage; the watch says when it matters
                failing = True
                log.warning("store.lease_renew_failed", error=error,
                            retry_in_s=round(ttl_s / 3, 1))

    try:
        async with anyio.create_task_group() as tg:
            await tg.start(renew)
            if watch is not None:
                tg.start_soon(watch.run, list(shard_ids), shard_count)
            try:
                yield grant.granted
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True) as scope:
            # Shielded but bounded: the next owner may take the shard at once, or after the
            # expiry when the store cannot be reached now.
            scope.deadline = anyio.current_time() + max(1.0, ttl_s / 3)
            try:
                await store.release_leases()
            except (StoreError, TimeoutError) as exc:
                log.warning("store.lease_release_failed", error=str(exc) or "timed out")
        if scope.cancelled_caught:
            log.warning("store.lease_release_failed", error="timed out")
