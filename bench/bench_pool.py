"""Benchmark of the LLM pool against a loopback chat-completions server.

The server runs in its own process, as an inference server does, so its work does not share
the pool's event loop: ``--server lean`` (the default) is a minimal asyncio protocol answering
a fixed chat completion after a timer, so the measurement is of the client side;
``--server fake`` is the tests' anyio server (``tests/kit/fakeserver.py``), slower per request.

1. Throughput: the server answers after 50 ms and the pool has 4 workers, so the ideal is
   4 / 0.05 = 80 requests/s. 400 requests (one autonomous action each for 400 guilds) are
   submitted at once; the rate is results over the time to the last one. For reference, the
   same run also measures 4 bare ``httpx`` loops against the same server (what the network
   and the machine allow without the pool). Target: the pool >= 90% of ideal.
2. Overhead: the server answers at once; one request at a time, alternating, a bare ``httpx``
   POST of a prompt-sized body and a request through the pool (submit -> prompt -> HTTP ->
   decode -> clean -> send -> ActionFinished delivered), 1,000 pairs. Overhead = the median of
   the paired differences. Target: < 0.5 ms per request.

Run: .venv/bin/python bench/bench_pool.py [--backend asyncio|trio|both] [--requests 400]
                                         [--server lean|fake]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actors.events import ActionFinished, ActionRequest  # noqa: E402
from runtime.pool import LLMPool, OpenAIBackend, Timeouts  # noqa: E402

LATENCY = 0.05
WORKERS = 4
BODY = json.dumps({"model": "bench", "messages": [
    {"role": "system", "content": "x" * 1200}, {"role": "user", "content": "y" * 300}]}).encode()


def _request(rid: int, guild: int) -> ActionRequest:
    now = time.time()
    return ActionRequest(request_id=rid, guild_id=guild, channel_id=guild,
                         action="break_silence", mood="neutral", decided_at=now,
                         deadline=now + 600, priority=1)


class _Sink:
    """The pool's router and sender: counts results, wakes the benchmark at a target."""

    def __init__(self) -> None:
        self.results: list[ActionFinished] = []
        self.target = 0
        self.done = anyio.Event()

    def expect(self, n: int) -> None:
        self.target = len(self.results) + n
        self.done = anyio.Event()

    def deliver(self, event: ActionFinished) -> None:
        self.results.append(event)
        if len(self.results) >= self.target:
            self.done.set()

    async def send(self, request: ActionRequest, text: str) -> None:
        return None


_ANSWER = json.dumps({"id": "bench", "object": "chat.completion", "model": "bench",
                      "choices": [{"index": 0, "finish_reason": "stop", "message": {
                          "role": "assistant", "content": "Hello everyone!"}}]}).encode()


class _Lean(asyncio.Protocol):
    """HTTP/1.1 keep-alive: every request with a body is answered with ``_ANSWER`` after
    ``latency`` seconds; ``GET /_stats`` with the counters."""

    latency = 0.0
    in_flight = 0
    max_in_flight = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").lower()
            length = 0
            for line in head.split("\r\n")[1:]:
                if line.startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            if head.startswith("get /_stats"):
                self._write(json.dumps({"max_in_flight": _Lean.max_in_flight}).encode())
                continue
            _Lean.in_flight += 1
            _Lean.max_in_flight = max(_Lean.max_in_flight, _Lean.in_flight)
            if _Lean.latency:
                asyncio.get_running_loop().call_later(_Lean.latency, self._answer)
            else:
                self._answer()

    def _answer(self) -> None:
        _Lean.in_flight -= 1
        self._write(_ANSWER)

    def _write(self, body: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\n\r\n%s" % (len(body), body))


async def _serve_lean(latency: float) -> None:
    _Lean.latency = latency
    server = await asyncio.get_running_loop().create_server(_Lean, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    await server.serve_forever()


@contextmanager
def _server(latency: float, kind: str) -> Iterator[str]:
    """Run a server in a child process; yield its base URL."""
    if kind == "fake":
        argv = [str(ROOT / "tests" / "kit" / "fakeserver.py"), str(latency)]
    else:
        argv = [str(Path(__file__).resolve()), "--serve", str(latency)]
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


async def _max_in_flight(client: httpx.AsyncClient, url: str) -> int:
    response = await client.get(url.removesuffix("/v1") + "/_stats")
    return int(response.json()["max_in_flight"])


async def _seen_latency(url: str, n: int = 50) -> float:
    """The median time of one bare request to the 50 ms server, alone: what the machine's
    timers and scheduling make of 50 ms."""
    async with httpx.AsyncClient() as client:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            (await client.post(url + "/chat/completions", content=BODY)).raise_for_status()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def _bare_throughput(url: str, n: int) -> float:
    async with httpx.AsyncClient() as client:
        async def loop() -> None:
            for _ in range(n // WORKERS):
                (await client.post(url + "/chat/completions", content=BODY)).raise_for_status()

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(WORKERS):
                tg.start_soon(loop)
        return (n // WORKERS * WORKERS) / (time.perf_counter() - started)


async def _throughput(url: str, n: int) -> dict[str, float]:
    sink = _Sink()
    async with OpenAIBackend(url, "bench", api_key_env=None,
                             timeouts=Timeouts(total=30.0)) as backend:
        async with LLMPool(backend, workers=WORKERS, queue_size=n, deliver=sink.deliver,
                           sender=sink.send) as pool:
            sink.expect(WORKERS)  # warm the connections
            for g in range(WORKERS):
                pool.submit(_request(10_000_000 + g, 10_000_000 + g))
            await sink.done.wait()
            sink.expect(n)
            started = time.perf_counter()
            for i in range(n):
                pool.submit(_request(i + 1, i + 1))
            await sink.done.wait()
            elapsed = time.perf_counter() - started
            stats = pool.statistics()
        max_in_flight = await _max_in_flight(backend.client, url)
    sent = sum(1 for e in sink.results[WORKERS:] if e.outcome == "sent")
    return {"requests": n, "sent": sent, "seconds": elapsed, "rate": sent / elapsed,
            "max_in_flight": max_in_flight, "p50_s": stats.latency_p50 or 0.0,
            "p99_s": stats.latency_p99 or 0.0}


async def _overhead(url: str, n: int) -> dict[str, float]:
    """Alternate a bare POST and a pooled request, one at a time; the overhead is the median
    of the paired differences (pairs cancel the drift of a shared machine's load)."""
    sink = _Sink()
    bare: list[float] = []
    pooled: list[float] = []
    async with OpenAIBackend(url, "bench", api_key_env=None) as backend:
        async with LLMPool(backend, workers=1, deliver=sink.deliver, sender=sink.send) as pool:
            client, post_url = backend.client, backend.url
            headers = {"content-type": "application/json"}
            for rid in range(1, n + 101):  # the first 100 pairs warm up and are dropped
                t0 = time.perf_counter()
                response = await client.post(post_url, content=BODY, headers=headers)
                response.raise_for_status()
                t1 = time.perf_counter()
                sink.expect(1)
                pool.submit(_request(rid, 1))
                await sink.done.wait()
                t2 = time.perf_counter()
                if rid > 100:
                    bare.append(t1 - t0)
                    pooled.append(t2 - t1)
    assert all(e.outcome == "sent" for e in sink.results)
    return {"samples": len(pooled), "bare_ms": statistics.median(bare) * 1e3,
            "pool_ms": statistics.median(pooled) * 1e3,
            "overhead_ms": statistics.median(p - b for p, b in zip(pooled, bare,
                                                                     strict=True)) * 1e3}


async def _run(slow: str, fast: str, n: int) -> tuple[dict[str, float], float, float,
                                                      dict[str, float]]:
    return (await _throughput(slow, n), await _bare_throughput(slow, n),
            await _seen_latency(slow), await _overhead(fast, 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark of the LLM pool.")
    parser.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--server", choices=["lean", "fake"], default="lean")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve_lean(args.serve))
        return
    # As in production: debug lines filtered out, nearly free.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        cache_logger_on_first_use=True)
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    ideal = WORKERS / LATENCY
    ok = True
    print(f"server: {args.server}")
    with _server(LATENCY, args.server) as slow, _server(0.0, args.server) as fast:
        for name in backends:
            t, bare_rate, seen, o = anyio.run(_run, slow, fast, args.requests, backend=name)
            print(f"[{name}] throughput: {t['sent']:.0f}/{t['requests']:.0f} sent in "
                  f"{t['seconds']:.2f} s = {t['rate']:.1f} req/s = {t['rate'] / ideal:.1%} of "
                  f"ideal {ideal:.0f} (bare httpx x{WORKERS}: {bare_rate:.1f} req/s = "
                  f"{bare_rate / ideal:.1%}); max in flight at the server "
                  f"{t['max_in_flight']:.0f}; latency p50 {t['p50_s']:.2f} s, "
                  f"p99 {t['p99_s']:.2f} s")
            print(f"[{name}] one bare request to the 50 ms server alone takes {seen * 1e3:.1f} ms "
                  f"(median): the pool reaches {t['rate'] / (WORKERS / seen):.1%} of "
                  f"{WORKERS / seen:.1f} req/s")
            print(f"[{name}] overhead: bare httpx {o['bare_ms']:.3f} ms, pool "
                  f"{o['pool_ms']:.3f} ms (medians of {o['samples']:.0f}); median paired "
                  f"difference {o['overhead_ms']:.3f} ms per request")
            ok &= t["rate"] / ideal >= 0.9 and o["overhead_ms"] < 0.5
            ok &= t["max_in_flight"] <= WORKERS
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
