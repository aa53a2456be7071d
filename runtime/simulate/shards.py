"""A virtual-time run split over processes: each runs the whole runtime over its share of
the guilds, as a deployment of several processes runs its shards, and the results are merged.

Guilds are isolated (their own actor, traffic, rolls and words; the offline words are chosen
by guild, time and action, not by a per-process request id), so the merged result is the
one a single process gives: the same sends, examples, words and counters, but for
``snapshot_batches`` (each process writes its own batches). ``tests/simulate`` holds it to
that. Guild ``i`` (``plan.index``) goes to process ``i mod N``.

Processes are forked: a child reads its share of the traffic from the parent's memory, and
only the result (the sends, the counters, the examples) comes back, pickled.
"""

from __future__ import annotations

import heapq
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from operator import attrgetter, itemgetter
from typing import Any

import msgspec

from runtime.simulate.channel import EXAMPLES_PER_ACTION
from runtime.simulate.setup import RunResult, RunSetup
from runtime.simulate.traffic import Traffic

__all__ = ["DEFAULT_PROCESSES", "MAX_PROCESSES", "merge_results", "run_split", "split_traffic"]

#: Processes a virtual-time run uses unless told otherwise: a fixed number, not the machine's
#: core count, so the same options give the same report everywhere (one core just
#: time-shares them).
DEFAULT_PROCESSES = 2
MAX_PROCESSES = 64

Runner = Callable[[Traffic, str, RunSetup], RunResult]

#: The shares of the traffic, set in the parent just before forking (the children read them).
_SHARES: list[Traffic] = []
_RUNNER: list[Runner] = []


def split_traffic(traffic: Traffic, processes: int) -> list[Traffic]:
    """The traffic in ``processes`` shares (fewer if there are fewer guilds), guild ``i`` in
    share ``i mod processes``."""
    n = max(1, min(processes, len(traffic.guilds)))
    return [Traffic(traffic.seed, traffic.start, traffic.end,
                    [g for g in traffic.guilds if g.plan.index % n == k]) for k in range(n)]


def _share_setup(setup: RunSetup, k: int) -> RunSetup:
    """Each process its own store file and control socket (a real deployment's processes
    share a store through leases; here each share is its own world)."""

    def own(path: str | None) -> str | None:
        if path is None:
            return None
        head, dot, ext = path.rpartition(".")
        return f"{head}-{k}.{ext}" if dot and "/" not in ext else f"{path}-{k}"

    return msgspec.structs.replace(setup, store_path=own(setup.store_path),
                                   control_socket=own(setup.control_socket))


def _child(args: tuple[int, str, RunSetup]) -> RunResult:
    k, policy, setup = args
    return _RUNNER[0](_SHARES[k], policy, setup)


def run_split(traffic: Traffic, policy: str, setup: RunSetup, processes: int,
              runner: Runner) -> RunResult:
    """``runner(traffic, policy, setup)`` over ``processes`` shares of the guilds at once,
    each in a forked process (one share, or no fork on this platform: here). Returns the
    merged result, its ``wall_s`` the whole split run's."""
    wall0 = time.perf_counter()
    shares = split_traffic(traffic, processes)
    if len(shares) == 1:
        return runner(traffic, policy, setup)
    jobs = [(k, policy, _share_setup(setup, k)) for k in range(len(shares))]
    _SHARES[:] = shares
    _RUNNER[:] = [runner]
    try:
        # Fork: the children find the traffic in memory. Where fork is not offered, the
        # shares would have to be pickled over; one process does it all instead.
        if "fork" not in multiprocessing.get_all_start_methods():
            return runner(traffic, policy, setup)
        ctx = multiprocessing.get_context("fork")
        # A process that dies (killed, out of memory) breaks the executor, and the run
        # fails with that said: a multiprocessing.Pool would wait for it forever.
        try:
            with ProcessPoolExecutor(len(shares), mp_context=ctx) as pool:
                results = list(pool.map(_child, jobs))
        except BrokenProcessPool as exc:
            raise RuntimeError(f"simulate: one of the {len(shares)} processes of the run "
                               "ended abruptly (killed, or out of memory?); --processes 1 "
                               "runs it here") from exc
    finally:
        _SHARES.clear()
        _RUNNER.clear()
    merged = merge_results(results)
    merged.wall_s = time.perf_counter() - wall0
    return merged


def _sent_key(r: Any) -> tuple[Any, ...]:
    return (r.at, r.guild_id, r.priority, r.action)


def merge_results(results: list[RunResult]) -> RunResult:
    """One result from the shares' results: sends and words in the order one process gives,
    counters summed, the earliest examples of each action."""
    first = results[0]
    sent = list(heapq.merge(*(r.sent for r in results), key=_sent_key))
    runtime: dict[str, int] = {}
    for r in results:
        for key, value in r.runtime.items():
            runtime[key] = runtime.get(key, 0) + value
    examples: dict[str, list[dict[str, Any]]] = {}
    keys: dict[str, list[tuple[float, int]]] = {}
    for action in sorted({a for r in results for a in r.examples}):
        pairs = sorted(((key, line) for r in results
                        for key, line in zip(r.example_keys.get(action, ()),
                                             r.examples.get(action, ()), strict=True)),
                       key=itemgetter(0))[:EXAMPLES_PER_ACTION]
        examples[action] = [line for _, line in pairs]
        keys[action] = [key for key, _ in pairs]
    words = list(heapq.merge(*(r.words for r in results),
                             key=itemgetter("sim_time", "guild_id")))
    answers = list(heapq.merge(*(r.answers for r in results),
                               key=attrgetter("at", "guild_id", "user_id")))
    return RunResult(first.policy, first.clock, sent, runtime,
                     max(r.wall_s for r in results), min(r.ended_at for r in results),
                     examples=examples, words=words, example_keys=keys, answers=answers)

