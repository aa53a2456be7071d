"""The real pool against a real local model: replies per second, latency, deadlines held.

Starts ``python -m llama_cpp.server`` on 127.0.0.1 with SmolLM2-135M-Instruct (the
``integration`` extra; see docs/REAL_MODEL.md), or uses ``--llm-url`` for a server already
running. That server answers one request at a time, so with more pool workers than that one
slot the rest wait at the server. For each worker count it runs:

- a burst of ``--requests`` actions (break_silence, general, engage_user, join_conversation,
  fomo_response, reply, share_tweet in turn, one guild each) with generous deadlines:
  replies per second (sent / time from the burst to the last result), p50 / p95 latency from
  submission to send, and p50 / p95 of one backend call (the time at the server, its queue
  included);
- a burst of ``--tight`` break_silence requests whose deadline is ``--tight-factor`` times the
  burst's median backend call: how many were sent, how many went stale, and the latest send
  relative to its deadline (it must be negative: nothing is sent late).

Usage:
    .venv/bin/python bench/bench_real_model.py [--workers 1 2 4] [--requests 14]
        [--tight 8] [--tight-factor 3] [--max-tokens 60] [--backend asyncio|trio]
        [--llm-url http://127.0.0.1:8080/v1 --model NAME]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import anyio
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from llama_server import MODEL_ALIAS, LlamaServer, check_installed, find_model, free_port
from real_harness import Recorder, make_request, open_real_pool

from actors.clock import LoopClock
from runtime.pool import ACTIONS

BURST_ACTIONS = (
    "break_silence",
    "general",
    "engage_user",
    "join_conversation",
    "fomo_response",
    "reply",
    "share_tweet",
)
assert set(BURST_ACTIONS) == set(ACTIONS)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


async def run_burst(
    url: str, model: str, workers: int, actions: list[str], deadline_s: float, max_tokens: int
) -> dict[str, float]:
    """Submit one request per action at once; wait for every result; measure."""
    clock = LoopClock()
    recorder = Recorder(clock)
    async with open_real_pool(
        url, recorder, workers=workers, model=model, max_tokens=max_tokens
    ) as (pool, backend):
        moods = ("neutral", "bubbly", "curious", "shy", "excited", "silly", "melancholy")
        now = clock.now()
        requests = [
            make_request(action, now=now, deadline_s=deadline_s, mood=moods[i % len(moods)])
            for i, action in enumerate(actions)
        ]
        submitted = anyio.current_time()
        for request in requests:
            pool.submit(request)
        with anyio.fail_after(60 + 60 * len(requests)):
            await recorder.wait_for(len(requests))
        elapsed = anyio.current_time() - submitted
        stats = pool.statistics()

    durations = backend.durations
    by_id = {r.request_id: r for r in requests}
    outcomes = [e.outcome for e in recorder.results]
    latencies = [sent_at - by_id[r.request_id].decided_at for r, _, sent_at in recorder.sent]
    lateness = [sent_at - r.deadline for r, _, sent_at in recorder.sent]
    answered = len({e.request_id for e in recorder.results})
    assert answered == len(requests) == len(recorder.results), "a request answered twice"
    return {
        "requests": len(requests),
        "sent": outcomes.count("sent"),
        "stale": outcomes.count("stale"),
        "failed": outcomes.count("failed"),
        "late": sum(1 for x in lateness if x > 0),
        "max_lateness": max(lateness) if lateness else float("nan"),
        "elapsed": elapsed,
        "per_s": outcomes.count("sent") / elapsed,
        "lat_p50": pct(latencies, 0.5) if latencies else float("nan"),
        "lat_p95": pct(latencies, 0.95) if latencies else float("nan"),
        "call_p50": pct(durations, 0.5) if durations else float("nan"),
        "call_p95": pct(durations, 0.95) if durations else float("nan"),
        "max_in_flight": float(backend.max_active),
        "pool_p50": stats.latency_p50 or float("nan"),
    }


async def bench(args: argparse.Namespace, url: str) -> None:
    # Warm the server (model pages, the system prompt's prefix in its cache).
    await run_burst(url, args.model, 1, ["break_silence"], 600.0, args.max_tokens)
    for workers in args.workers:
        actions = [BURST_ACTIONS[i % len(BURST_ACTIONS)] for i in range(args.requests)]
        r = await run_burst(url, args.model, workers, actions, 600.0, args.max_tokens)
        print(
            f"workers={workers}  burst of {r['requests']}: {r['sent']:.0f} sent "
            f"({r['failed']:.0f} failed, {r['stale']:.0f} stale) in {r['elapsed']:.1f} s = "
            f"{r['per_s']:.2f} replies/s; submit->send p50 {r['lat_p50']:.2f} s "
            f"p95 {r['lat_p95']:.2f} s; backend call p50 {r['call_p50']:.2f} s "
            f"p95 {r['call_p95']:.2f} s; max outstanding at the server {r['max_in_flight']:.0f}",
            flush=True,
        )
        deadline = args.tight_factor * r["call_p50"] / workers
        t = await run_burst(
            url, args.model, workers, ["break_silence"] * args.tight, deadline, args.max_tokens
        )
        print(
            f"workers={workers}  tight burst of {t['requests']:.0f}, deadline {deadline:.2f} s: "
            f"{t['sent']:.0f} sent, {t['stale']:.0f} stale, {t['failed']:.0f} failed; "
            f"sent late: {t['late']:.0f}; latest send {t['max_lateness']:+.2f} s vs deadline",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--requests", type=int, default=14)
    parser.add_argument("--tight", type=int, default=8)
    parser.add_argument("--tight-factor", type=float, default=3.0)
    parser.add_argument("--max-tokens", type=int, default=60)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--llm-url", help="use this running server instead of starting one")
    parser.add_argument("--model", default=MODEL_ALIAS)
    parser.add_argument("--threads", type=int, default=1, help="server threads (started here)")
    args = parser.parse_args()

    # The pool logs every stale request at warning level; keep the report readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    started = time.monotonic()
    server = None
    url = args.llm_url
    if url is None:
        check_installed()
        log = Path(tempfile.mkdtemp(prefix="bench_real_model_")) / "server.log"
        server = LlamaServer(
            find_model(), free_port(), log, n_threads=args.threads, n_threads_batch=args.threads
        )
        server.start()
        url = server.base_url
        print(f"server: {' '.join(server.command())}", flush=True)
    try:
        anyio.run(bench, args, url, backend=args.backend)
    finally:
        if server is not None:
            server.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f}; total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
