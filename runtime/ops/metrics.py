"""Prometheus metrics, ``/healthz`` and ``/readyz`` for one process.

What is served (``[runtime] metrics_address``, off by default):

* ``GET /metrics``: Prometheus text (``prometheus_client``'s exposition), built at scrape time
  by ``RuntimeCollector`` from each part's ``statistics()`` record: supervisor, pool, gateway.
  No per-guild labels: a label per guild would make one series per guild (cardinality).
* ``GET /healthz``: 200 while the event loop answers, with its measured lag.
* ``GET /readyz``: 200 when the runtime runs, the gateway is connected with every shard it owns
  ready, and the store answers; otherwise 503 with the reasons, one per line.

Why a tiny HTTP/1.1 responder on anyio's own listener rather than ``prometheus_client``'s
``start_http_server``: that one serves from a thread, and a thread reading the supervisor's
dicts while the loop mutates them is a race. Here the scrape runs *on the loop*, between two
events, so every number read is consistent, and the same code runs on asyncio (the bot) and
trio (the simulator). One request per connection (``Connection: close``) is all Prometheus and
a load balancer's probe need.

The port can never end the process: at most ``max_connections`` are served at once (more are
closed at once, counted), and an accept error (EMFILE: out of file descriptors) is logged and
waited out with back-off, as the control socket does (``listener.serve`` would raise it and end
the runtime: 768 idle connections did, with the open-file limit at 512).

Statistics the collector reads when present (``getattr``: a part that does not expose a number
yet simply has no series for it): see ``RuntimeCollector``. About 500 lines: the collector
and the small HTTP server it is served by are one feature, kept together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import anyio
import anyio.abc
import msgspec
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from runtime.config import split_address
from runtime.errors import StartupError

__all__ = ["LoopLag", "MetricsServer", "Parts", "RuntimeCollector", "RuntimeMetrics"]

log = structlog.get_logger("runtime.ops.metrics")

_PREFIX = "miku"
#: LLM requests take 0.1 s (offline) to a minute (a busy one-slot server).
_ACTION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
#: A healthy loop wakes within a millisecond; 100 ms is a visible stall, 1 s a GC pause of
#: 100k unfrozen actors (DESIGN.md).
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BREAKER_STATES = ("closed", "half_open", "open")
#: Supervisor fields that are levels, not counts.
_GUILD_STATES = ("live", "starting", "passivated", "quarantined", "removed", "ready",
                 "silent")
#: Other levels among the parts' numbers (the rest are counts since start).
_GAUGES = {"guilds_ready", "guilds_silent", "channels_paused"}
#: Fields of a statistics record exported by a family of their own (not passed through).
_SUP_NAMED = {*_GUILD_STATES, "events_by_type", "decisions", "restarts"}
_POOL_NAMED = {"workers", "queue_size", "queue_depth", "in_flight", "breaker_state",
               "latency_p50", "latency_p95", "latency_p99", "accepted", "sent", "failed",
               "stale", "retries", "rejected"}
_MAX_REQUEST = 8192
_READ_TIMEOUT_S = 5.0
#: Connections served at once; more are closed at once (each holds a file descriptor).
MAX_CONNECTIONS = 64
_ACCEPT_BACKOFF_S = (0.05, 1.0)  # first and longest wait after an accept error
_STORE_TIMEOUT_S = 2.0


class LoopLag:
    """Measures how late the event loop wakes a task that sleeps ``interval_s``: the time
    every other task waits behind a long callback, a GC pause or a blocking call."""

    def __init__(self, histogram: Histogram | None = None, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.last_s = 0.0
        self.max_s = 0.0
        self.samples = 0
        self._histogram = histogram

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Measure until cancelled."""
        task_status.started()
        while True:
            before = anyio.current_time()
            await anyio.sleep(self.interval_s)
            lag = max(0.0, anyio.current_time() - before - self.interval_s)
            self.last_s = lag
            self.max_s = max(self.max_s, lag)
            self.samples += 1
            if self._histogram is not None:
                self._histogram.observe(lag)


def _fields(record: Any) -> dict[str, Any]:
    """A statistics record (a msgspec Struct, a dataclass, a dict) as a dict."""
    if record is None:
        return {}
    if isinstance(record, Mapping):
        return dict(record)
    if isinstance(record, msgspec.Struct):
        return {f: getattr(record, f) for f in record.__struct_fields__}
    return {k: v for k, v in vars(record).items() if not k.startswith("_")}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return float(value)
    return None


def _flatten(value: Any, depth: int) -> Iterator[tuple[tuple[str, ...], float]]:
    """Label tuples and numbers from ``{a: n}``, ``{a: {b: n}}`` or ``{(a, b): n}``."""
    if not isinstance(value, Mapping):
        return
    for key, inner in value.items():
        keys = tuple(str(k) for k in key) if isinstance(key, tuple) else (str(key),)
        n = _number(inner)
        if n is not None and len(keys) == depth:
            yield keys, n
        elif isinstance(inner, Mapping) and len(keys) < depth:
            for rest, m in _flatten(inner, depth - len(keys)):
                yield keys + rest, m


def _is_gauge(name: str) -> bool:
    """Counts since start are counters; levels (``last_*``, ``*_depth``) are gauges."""
    return (name in _GAUGES or name.startswith(("last_", "current_"))
            or name.endswith(("_depth", "_now")))


def _passthrough(part: str, fields: dict[str, Any], named: set[str]) -> Iterator[Metric]:
    """Every other number of a record, as ``miku_<part>_<field>``: a counter a part adds
    shows up without a change here."""
    for name, value in fields.items():
        n = _number(value)
        if name in named or n is None:
            continue
        if _is_gauge(name):
            yield GaugeMetricFamily(f"{_PREFIX}_{part}_{name}", f"{part} statistics: {name}",
                                    value=n)
        else:
            yield CounterMetricFamily(f"{_PREFIX}_{part}_{name}",
                                      f"{part} statistics: {name} since start", value=n)


class RuntimeCollector(Collector):
    """Reads the parts' statistics at scrape time (on the loop; see the module docstring).

    Reads, when present:
      supervisor (``statistics()``): ``live``, ``starting``, ``passivated``, ``quarantined``,
        ``removed``, ``ready``, ``silent`` -> ``miku_guilds{state}``; ``restarts`` ->
        ``miku_actor_restarts_total``;
        ``events_by_type`` ({type: n}) -> ``miku_events_total{type}``; ``decisions``
        ({policy: {action: n}} or {(policy, action): n}) -> ``miku_decisions_total``;
        ``snapshot_batch_seconds`` / ``snapshot_batch_sizes`` (a histogram record, see
        ``_histogram``) -> ``miku_snapshot_batch_seconds`` / ``_size``; every other number
        as ``miku_supervisor_<name>``.
      pool (``statistics()``): queue depth, in flight, workers, queue size, breaker state
        (one-hot ``miku_pool_breaker_state{state}``), request counters
        (``miku_pool_requests_total{result}``); every other number passed through.
      gateway (``statistics()``): ``shards`` (records or dicts with ``shard_id``,
        ``latency_s``, ``state`` = ``ready`` when ready, or a ``ready`` flag) ->
        ``miku_gateway_latency_seconds{shard}`` and ``miku_gateway_shard_ready{shard}``;
        without it, discord.py's ``latencies``; every other number passed through as
        ``miku_gateway_<name>``.
      store (``statistics()``): every number as ``miku_store_<name>``
        (``unreachable_now``, ``outages``, ``unreachable_calls``, ``rows_saved`` ...).
    """

    def __init__(self, metrics: RuntimeMetrics) -> None:
        self._m = metrics

    def describe(self) -> Iterable[Metric]:
        # Families depend on what the parts expose: nothing to check at registration.
        return ()

    def collect(self) -> Iterable[Metric]:
        m = self._m
        lag = GaugeMetricFamily(f"{_PREFIX}_event_loop_lag_last_seconds",
                                "How late the loop woke the lag probe, last measurement")
        lag.add_metric([], m.lag.last_s)
        yield lag
        up = GaugeMetricFamily(f"{_PREFIX}_runtime_running", "1 while the runtime runs")
        up.add_metric([], 1.0 if m.running else 0.0)
        yield up
        parts = m.parts
        if parts.supervisor is not None:
            yield from self._supervisor(_fields(parts.supervisor.statistics()))
        if parts.pool is not None:
            yield from self._pool(_fields(parts.pool.statistics()))
        if parts.gateway is not None:
            yield from self._gateway(parts.gateway)
        if parts.store is not None and hasattr(parts.store, "statistics"):
            # miku_store_unreachable_now, miku_store_outages_total, ... (StoreStatistics).
            yield from _passthrough("store", _fields(parts.store.statistics()), set())

    def _supervisor(self, f: dict[str, Any]) -> Iterator[Metric]:
        guilds = GaugeMetricFamily(f"{_PREFIX}_guilds", "Guilds of this process by state",
                                   labels=["state"])
        for state in _GUILD_STATES:
            n = _number(f.get(state))
            if n is not None:
                guilds.add_metric([state], n)
        yield guilds
        if (n := _number(f.get("restarts"))) is not None:
            yield CounterMetricFamily(f"{_PREFIX}_actor_restarts", "Actor restarts", value=n)
        if "events_by_type" in f:
            events = CounterMetricFamily(f"{_PREFIX}_events", "Events routed, by type",
                                         labels=["type"])
            for keys, n in _flatten(f["events_by_type"], 1):
                events.add_metric(list(keys), n)
            yield events
        if "decisions" in f:
            decisions = CounterMetricFamily(f"{_PREFIX}_decisions",
                                            "Decisions to act, by policy and action",
                                            labels=["policy", "action"])
            for keys, n in _flatten(f["decisions"], 2):
                decisions.add_metric(list(keys), n)
            yield decisions
        named = set(_SUP_NAMED)
        for key, metric in (("snapshot_batch_seconds", "snapshot_batch_seconds"),
                            ("snapshot_batch_sizes", "snapshot_batch_size")):
            if key in f and _number(f[key]) is None:
                named.add(key)
                family = _histogram(f"{_PREFIX}_{metric}", f"Snapshot batches: {metric}", f[key])
                if family is not None:
                    yield family
        yield from _passthrough("supervisor", f, named)

    def _pool(self, f: dict[str, Any]) -> Iterator[Metric]:
        for name, text in (("queue_depth", "Requests waiting for a worker"),
                           ("in_flight", "Requests being written or sent"),
                           ("workers", "Pool workers"), ("queue_size", "Queue capacity")):
            if (n := _number(f.get(name))) is not None:
                yield GaugeMetricFamily(f"{_PREFIX}_pool_{name}", text, value=n)
        if "breaker_state" in f:
            breaker = GaugeMetricFamily(f"{_PREFIX}_pool_breaker_state",
                                        "The inference server's circuit breaker (1 = this state)",
                                        labels=["state"])
            for state in _BREAKER_STATES:
                breaker.add_metric([state], 1.0 if f["breaker_state"] == state else 0.0)
            yield breaker
        requests = CounterMetricFamily(f"{_PREFIX}_pool_requests",
                                       "Pool requests by result since start", labels=["result"])
        for name in ("accepted", "sent", "failed", "stale", "retries", "rejected"):
            if (n := _number(f.get(name))) is not None:
                requests.add_metric([name], n)
        yield requests
        yield from _passthrough("pool", f, _POOL_NAMED)

    def _gateway(self, gateway: Any) -> Iterator[Metric]:
        f = _fields(gateway.statistics()) if hasattr(gateway, "statistics") else {}
        latency = GaugeMetricFamily(f"{_PREFIX}_gateway_latency_seconds",
                                    "Heartbeat round trip per shard", labels=["shard"])
        ready = GaugeMetricFamily(f"{_PREFIX}_gateway_shard_ready",
                                  "1 when the shard is connected and ready", labels=["shard"])
        for shard in shard_states(gateway, f):
            if shard.latency is not None:
                latency.add_metric([str(shard.shard_id)], shard.latency)
            ready.add_metric([str(shard.shard_id)], 1.0 if shard.ready else 0.0)
        yield latency
        yield ready
        yield from _passthrough("gateway", f, {"shards"})


def _histogram(name: str, doc: str, record: Any) -> Metric | None:
    """A histogram family from a record with ``buckets`` ({upper bound: cumulative count} or
    a sequence of pairs), ``sum`` and ``count``; None when it has not that shape."""
    from prometheus_client.core import HistogramMetricFamily

    f = _fields(record)
    buckets, total = f.get("buckets"), _number(f.get("sum"))
    if buckets is None or total is None:
        return None
    pairs = buckets.items() if isinstance(buckets, Mapping) else buckets
    rows = sorted((float(b), float(c)) for b, c in pairs)
    count = _number(f.get("count"))
    if not rows or rows[-1][0] != math.inf:
        rows.append((math.inf, count if count is not None else (rows[-1][1] if rows else 0.0)))
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], [(_bound(b), c) for b, c in rows], total)
    return family


def _bound(b: float) -> str:
    return "+Inf" if b == math.inf else repr(b)


class ShardState(msgspec.Struct, frozen=True):
    shard_id: int
    ready: bool
    latency: float | None
    state: str = ""


def shard_states(gateway: Any, fields: dict[str, Any] | None = None) -> list[ShardState]:
    """Each owned shard's readiness and latency: from the gateway's ``statistics().shards``
    when it has them, else from discord.py's ``shards`` and ``latencies``."""
    f = _fields(gateway.statistics()) if fields is None else fields
    shards = f.get("shards")
    out: list[ShardState] = []
    if shards:
        rows = shards.values() if isinstance(shards, Mapping) else shards
        for row in rows:
            r = _fields(row)
            state = str(r.get("state", ""))
            ready = bool(r["ready"]) if "ready" in r else state == "ready"
            lat = _number(r.get("latency_s", r.get("latency")))
            out.append(ShardState(int(r["shard_id"]), ready,
                                  lat if lat is not None and math.isfinite(lat) else None, state))
        return out
    latencies = dict(getattr(gateway, "latencies", []) or [])
    closed = getattr(gateway, "is_closed", lambda: True)()
    all_ready = getattr(gateway, "is_ready", lambda: False)()
    for sid, info in sorted((getattr(gateway, "shards", {}) or {}).items()):
        lat = latencies.get(sid)
        up = not closed and not info.is_closed()
        out.append(ShardState(sid, up and all_ready,
                              lat if lat is not None and math.isfinite(lat) else None,
                              "ready" if up and all_ready else ("connecting" if up else "closed")))
    return out


class Parts(Protocol):
    """Where the metrics find the parts they read (``runtime.core.Runtime``): each is None
    until it starts (the gateway: when there is none, as in the simulator)."""

    @property
    def supervisor(self) -> Any: ...
    @property
    def pool(self) -> Any: ...
    @property
    def store(self) -> Any: ...
    @property
    def gateway(self) -> Any: ...


class RuntimeMetrics:
    """The process's registry and what feeds it: the parts (read from ``parts`` at scrape
    time, so a part that starts later is seen from then on), the pool's ``on_finished`` hook,
    the loop-lag probe. One per ``Runtime`` (not the global registry, so two runtimes in one
    test process do not collide)."""

    def __init__(self, parts: Parts) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.parts = parts
        self.running = False
        self.stopping = False
        self.actions = Counter(f"{_PREFIX}_actions", "Finished action requests by result",
                               ["action", "result"], registry=self.registry)
        self.action_seconds = Histogram(
            f"{_PREFIX}_action_seconds", "Seconds from acceptance to the result, per action",
            ["action"], buckets=_ACTION_BUCKETS, registry=self.registry)
        self.lag = LoopLag(Histogram(f"{_PREFIX}_event_loop_lag_seconds",
                                     "How late the loop woke the lag probe",
                                     buckets=_LAG_BUCKETS, registry=self.registry))
        self.registry.register(RuntimeCollector(self))

    def on_finished(self, action: str, outcome: str, seconds: float | None) -> None:
        """The pool's hook: once per finished request (never raises into the pool)."""
        self.actions.labels(action, outcome).inc()
        if seconds is not None and seconds >= 0:
            self.action_seconds.labels(action).observe(seconds)

    def exposition(self) -> bytes:
        """``/metrics``: the Prometheus text now."""
        return generate_latest(self.registry)

    async def readiness(self) -> list[str]:
        """Why this process is not ready (empty when it is)."""
        problems: list[str] = []
        if self.stopping:
            problems.append("shutting down")
        elif not self.running:
            problems.append("starting")
        gateway, store = self.parts.gateway, self.parts.store
        if gateway is not None:
            if getattr(gateway, "is_closed", lambda: False)() or not getattr(
                    gateway, "is_ready", lambda: True)():
                problems.append("gateway not connected")
            for s in shard_states(gateway):
                if not s.ready:
                    problems.append(f"shard {s.shard_id} not ready ({s.state or 'not ready'})")
        if store is not None:
            problem = await _store_problem(store)
            if problem:
                problems.append(problem)
        return problems


async def _store_problem(store: Any) -> str | None:
    """Ask the store one cheap question: ``ping()`` when it has one, else a ``load``."""
    ping = getattr(store, "ping", None)
    try:
        with anyio.fail_after(_STORE_TIMEOUT_S):
            if ping is not None:
                await ping()
            else:
                await store.load(1)
    except TimeoutError:
        return f"store unreachable: no answer in {_STORE_TIMEOUT_S:g} s"
    except Exception as exc:  # any failure means "not ready"; the reason is the point
        return f"store unreachable: {type(exc).__name__}: {exc}"
    return None


class MetricsServer:
    """The HTTP side: ``/metrics``, ``/healthz``, ``/readyz`` on ``address``.

    Args:
        metrics: what to serve.
        address: ``host:port`` (port 0: a free one; ``port`` says which once serving).
    """

    def __init__(self, metrics: RuntimeMetrics, address: str, *,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.metrics = metrics
        self.address = address
        self.host, self.port = split_address(address)
        self.requests = 0
        self.max_connections = max_connections
        #: Connections open now; closed at once past the cap; accept errors waited out.
        self.connections = 0
        self.refused = 0
        self.accept_errors = 0

    async def serve(self, *, task_status: anyio.abc.TaskStatus[MetricsServer]
                    = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen and answer until cancelled.

        Raises:
            StartupError: the address cannot be listened on (taken, not local, no permission).
        """
        try:
            listener = await anyio.create_tcp_listener(local_host=self.host,
                                                       local_port=self.port, reuse_port=False)
        except OSError as exc:
            raise StartupError("runtime.metrics_address",
                              f"cannot listen on {self.address}: {exc.strerror or exc}") from None
        async with listener:
            sock = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_address)
            self.port = int(sock[1])
            log.info("metrics.serving", host=self.host, port=self.port)
            task_status.started(self)
            async with anyio.create_task_group() as tg:
                for one in getattr(listener, "listeners", [listener]):
                    tg.start_soon(self._accept_loop, one, tg)

    async def _accept_loop(self, listener: Any, tg: anyio.abc.TaskGroup) -> None:
        backoff = _ACCEPT_BACKOFF_S[0]
        while True:
            try:
                stream = await listener.accept()
            except (OSError, anyio.BrokenResourceError) as exc:
                # anyio reports the OSError as BrokenResourceError, caused by it.
                cause = exc if isinstance(exc, OSError) else exc.__cause__
                if not isinstance(cause, OSError):
                    raise
                self.accept_errors += 1
                if self.accept_errors <= 10 or self.accept_errors % 1000 == 0:
                    log.warning("metrics.accept_failed", error=cause.strerror or repr(cause),
                                errno=cause.errno, retry_in_s=backoff,
                                count=self.accept_errors)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, _ACCEPT_BACKOFF_S[1])
                continue
            backoff = _ACCEPT_BACKOFF_S[0]
            if self.connections >= self.max_connections:
                self.refused += 1
                tg.start_soon(_close_now, stream)
                continue
            self.connections += 1  # counted here: the cap holds before the task starts
            tg.start_soon(self._counted, stream)

    async def _counted(self, stream: anyio.abc.SocketStream) -> None:
        try:
            await self._connection(stream)
        finally:
            self.connections -= 1

    async def _connection(self, stream: anyio.abc.SocketStream) -> None:
        head = b""
        async with stream:
            try:
                with anyio.fail_after(_READ_TIMEOUT_S):
                    head = await _read_head(stream)
                status, ctype, body = await self._route(head)
            except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError,
                    ConnectionError):
                return
            except _BadRequest as exc:
                status, ctype, body = 400, "text/plain; charset=utf-8", f"{exc}\n".encode()
            except Exception as exc:
                # A bug in a collector must cost one scrape, never the process.
                log.exception("metrics.request_failed")
                status, ctype, body = (500, "text/plain; charset=utf-8",
                                       f"internal error: {type(exc).__name__}\n".encode())
            self.requests += 1
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found",
                      405: "Method Not Allowed", 500: "Internal Server Error",
                      503: "Service Unavailable"}[status]
            header = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                      f"Content-Length: {len(body)}\r\nConnection: close\r\n"
                      "Cache-Control: no-store\r\n\r\n").encode()
            method = head.split(b" ", 1)[0] if head else b""
            try:
                await stream.send(header + (b"" if method == b"HEAD" else body))
            except (anyio.BrokenResourceError, ConnectionError):
                return

    async def _route(self, head: bytes) -> tuple[int, str, bytes]:
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(f"not an HTTP/1.x request line: {line[:80]!r}")
        method, target = parts[0], parts[1].split("?", 1)[0]
        text = "text/plain; charset=utf-8"
        if target not in ("/metrics", "/healthz", "/readyz"):
            return 404, text, b"not found; try /metrics, /healthz or /readyz\n"
        if method not in ("GET", "HEAD"):
            return 405, text, b"only GET and HEAD\n"
        m = self.metrics
        if target == "/metrics":
            return 200, CONTENT_TYPE_LATEST, m.exposition()
        if target == "/healthz":
            # Answering at all is the proof the loop runs; the lag says how well.
            return 200, text, f"ok loop_lag_s={m.lag.last_s:.6f}\n".encode()
        problems = await m.readiness()
        if problems:
            return 503, text, ("not ready: " + "; ".join(problems) + "\n").encode()
        return 200, text, b"ready\n"


class _BadRequest(Exception):
    pass


async def _close_now(stream: anyio.abc.SocketStream) -> None:
    with anyio.CancelScope(shield=True):
        try:
            await stream.aclose()
        except (OSError, anyio.BrokenResourceError):
            pass


async def _read_head(stream: anyio.abc.ByteReceiveStream) -> bytes:
    """The request line and headers (a GET has no body worth reading)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive(4096)
        data += chunk
        if len(data) > _MAX_REQUEST:
            raise _BadRequest(f"request head larger than {_MAX_REQUEST} bytes")
    return data.split(b"\r\n\r\n", 1)[0]
