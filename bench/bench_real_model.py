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

With ``--words`` it measures the words instead: a fixed set of 98 prompts (the 7 actions ×
the 14 moods, over four crafted conversations in which the one who spoke to her is not the
last to post, three items to share), one worker, at the runtime's settings (temperature 0.9,
``max_tokens`` 200 as the ceiling), and the share of outputs that pass each check of
``tests/integration/words_checks.py`` (non-empty, whole, within budget, no label, no echo of
the prompt, no AI talk, no invented link / handle / hashtag). ``--tree PATH`` runs the pool of
another worktree (``git worktree add /tmp/words-before main``: the "before" column).

Usage:
    .venv/bin/python bench/bench_real_model.py [--workers 1 2 4] [--requests 14]
        [--tight 8] [--tight-factor 3] [--max-tokens 60] [--backend asyncio|trio]
        [--llm-url http://127.0.0.1:8080/v1 --model NAME]
    .venv/bin/python bench/bench_real_model.py --words [--tree /tmp/words-before]
        [--out outputs.jsonl]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import anyio
import structlog

# The tree whose runtime is measured: --tree PATH (another worktree), else this one.
sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()
                       if "--tree" in sys.argv else Path(__file__).resolve().parents[1]))

from actors.clock import LoopClock
from runtime.pool import ACTIONS, LLMPool, OpenAIBackend, Timeouts
from tests.integration.llama_server import (
    MODEL_ALIAS,
    LlamaServer,
    check_installed,
    find_model,
    free_port,
)
from tests.integration.real_harness import Recorder, make_request, open_real_pool
from tests.integration.words_checks import CHECKS, check_words
from tests.integration.words_set import Items, cases, context_for, prompt_texts


def _tree() -> str:
    """Where ``runtime`` was imported from."""
    import runtime

    return str(Path(runtime.__file__).resolve().parents[1])


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


class _Keeper:
    """The measured tree's backend, keeping each request's prompt (``complete`` is passed on
    when the backend has it: a pool that reads the finish reason gets it)."""

    def __init__(self, inner: OpenAIBackend) -> None:
        self.inner = inner
        self.temperature = inner.temperature
        self.prompts: dict[int, object] = {}
        self.calls = 0
        if hasattr(inner, "complete"):
            self.complete = self._complete

    async def generate(self, prompt: object) -> str:
        self.calls += 1
        self.prompts[prompt.request_id] = prompt  # type: ignore[attr-defined]
        return await self.inner.generate(prompt)  # type: ignore[arg-type]

    async def _complete(self, prompt: object) -> object:
        self.calls += 1
        self.prompts[prompt.request_id] = prompt  # type: ignore[attr-defined]
        return await self.inner.complete(prompt)  # type: ignore[attr-defined]


async def bench_words(args: argparse.Namespace, url: str) -> None:
    """The words of the fixed set, checked; prints the share passing each check."""
    clock = LoopClock()
    recorder = Recorder(clock)
    now = clock.now()
    set_ = cases(now=now)
    part, parts = (int(x) for x in args.part.split("/"))
    set_ = [c for i, c in enumerate(set_) if i % parts == part]
    conversation = {c.request.guild_id: c.conversation for c in set_}

    async def context(guild_id: int, channel_id: int, limit: int, *,
                      upto_message_id: int | None = None) -> list:
        return context_for(conversation[guild_id], upto_message_id)[-limit:]

    started = time.monotonic()
    async with OpenAIBackend(url, args.model, api_key_env=None, max_tokens=args.max_tokens,
                             temperature=args.temperature,
                             timeouts=Timeouts(connect=2.0, first_byte=120.0, total=150.0)
                             ) as inner:
        backend = _Keeper(inner)
        by_id = {c.request.request_id: c for c in set_}

        def deliver(event: object) -> None:
            # Each output is written as it comes, so a run cut short still has its rows.
            recorder.deliver(event)  # type: ignore[arg-type]
            if not args.out:
                return
            case = by_id[event.request_id]  # type: ignore[attr-defined]
            text = next((t for r, t, _ in recorder.sent
                         if r.request_id == case.request.request_id), None)
            prompt = backend.prompts.get(case.request.request_id)
            v = check_words(case.request.action, case.request.mood, text,
                            prompt_texts=prompt_texts(prompt.messages) if prompt else [],  # type: ignore[attr-defined]
                            item_url=case.item_url, item_title=case.item_title)
            row = {"action": v.action, "mood": v.mood, "text": v.text,
                   "outcome": event.outcome,  # type: ignore[attr-defined]
                   "failed": [k for k, ok in v.passed.items() if not ok]}
            with open(args.out + ".partial", "a", encoding="utf-8") as out:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")

        async with LLMPool(backend, workers=1, deliver=deliver, sender=recorder.send,
                           context=context, items=Items(), names=recorder.names, clock=clock,
                           deadlines=dict.fromkeys(ACTIONS, 7200.0), seed=7) as pool:
            for case in set_:
                pool.submit(case.request)
            with anyio.fail_after(7200):
                await recorder.wait_for(len(set_))
    elapsed = time.monotonic() - started
    sent = {r.request_id: text for r, text, _ in recorder.sent}
    outcomes = {e.request_id: f"{e.outcome} {e.reason}".strip() for e in recorder.results}
    verdicts = []
    for case in set_:
        rid = case.request.request_id
        prompt = backend.prompts.get(rid)
        texts = prompt_texts(prompt.messages) if prompt is not None else []  # type: ignore[attr-defined]
        verdicts.append(check_words(case.request.action, case.request.mood, sent.get(rid),
                                    prompt_texts=texts, item_url=case.item_url,
                                    item_title=case.item_title))
    print(f"tree {_tree()}: {len(verdicts)} prompts, {backend.calls} calls, {elapsed:.0f} s, "
          f"temperature {args.temperature}, max_tokens {args.max_tokens}", flush=True)
    rows = [{"action": v.action, "mood": v.mood, "text": v.text,
             "outcome": outcomes.get(case.request.request_id),
             "failed": [k for k, ok in v.passed.items() if not ok]}
            for case, v in zip(set_, verdicts, strict=True)]
    summarize(rows)
    if args.out:
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
        await anyio.Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


def summarize(rows: list[dict]) -> None:
    """Print the share of outputs passing each check (rows as ``--out`` writes them)."""
    n = len(rows)
    for name in CHECKS:
        share = sum(name not in r["failed"] for r in rows) / n
        print(f"  {name:18} {100 * share:5.1f} %")
    print(f"  {'every check':18} {100 * sum(not r['failed'] for r in rows) / n:5.1f} %")
    replies = [r for r in rows if r["action"] == "reply"]
    empty = sum("non_empty" in r["failed"] for r in replies)
    print(f"  replies empty: {empty} of {len(replies)}")
    lengths = sorted(len(r["text"]) for r in rows if r["text"])
    if lengths:
        print(f"  length of sent texts: median {lengths[len(lengths) // 2]}, max {lengths[-1]}")
    print(f"  failures by check: { {c: sum(c in r['failed'] for r in rows) for c in CHECKS} }")


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
    parser.add_argument("--words", action="store_true", help="measure the words (see above)")
    parser.add_argument("--tree", help="the worktree whose pool --words measures")
    parser.add_argument("--out", help="--words: write every output here (JSON lines)")
    parser.add_argument("--temperature", type=float, default=0.9, help="--words: sampling")
    parser.add_argument("--part", default="0/1",
                        help="--words: run the cases i with i %% N == K (K/N), to share the set "
                             "between servers")
    parser.add_argument("--summarize", nargs="+", metavar="FILE",
                        help="print the --words table of the --out files given, merged")
    args = parser.parse_args()
    if args.summarize:
        rows = [json.loads(line) for f in args.summarize
                for line in Path(f).read_text(encoding="utf-8").splitlines() if line]
        print(f"{len(rows)} outputs from {', '.join(args.summarize)}")
        summarize(rows)
        return
    if args.words and "--max-tokens" not in sys.argv:
        args.max_tokens = 200  # the runtime's [llm] max_tokens

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
        if args.words:
            anyio.run(bench_words, args, url, backend=args.backend)
        else:
            anyio.run(bench, args, url, backend=args.backend)
    finally:
        if server is not None:
            server.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f}; total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
