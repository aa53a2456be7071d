"""The runtime's core, shared by the bot and the simulator: store, supervisor, LLM pool and
control socket, started and stopped in order.

``Runtime`` knows nothing of Discord: the bot gives it a sender and a context fetcher backed
by discord.py, the simulator gives it simulated ones. Shutdown order (DESIGN.md): stop
admitting events, let the pool finish or cancel within its deadline (every result still
reaches its actor), final snapshots of every live guild, close the store.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import anyio
import anyio.abc
import httpx
import msgspec
import structlog

from actors.actor import ActorSettings
from actors.clock import LoopClock
from runtime.config import Config
from runtime.errors import SendRejected, StartupError
from runtime.ops.control import (
    ControlServer,
    GuildRequest,
    ListRequest,
    RequestError,
    SetMoodRequest,
    SnapshotRequest,
    StatsRequest,
)
from runtime.ops.metrics import MetricsServer, RuntimeMetrics
from runtime.pool import (
    Backend,
    ContextFn,
    FeedItems,
    ItemSource,
    LLMPool,
    NamesFn,
    OfflineBackend,
    OpenAIBackend,
    SenderFn,
    Timeouts,
    TypingFn,
    check_server,
    load_items,
    load_persona,
)
from runtime.router import Router
from runtime.settings import RolesFn, Settings
from runtime.settings.sync import follow_store
from runtime.store import (
    LeaseHolder,
    LeaseLostError,
    LeaseWatch,
    SnapshotStore,
    open_leases,
)
from runtime.store.opening import open_with_retries
from runtime.supervisor import Supervisor, SupervisorConfig

__all__ = ["Gateway", "Runtime", "actor_settings_for", "make_backend"]


class Gateway(Protocol):
    """What the runtime reads of the gateway client (``runtime.gateway.PersonaClient``): its
    statistics, for the control socket's ``stats``; metrics and ``/readyz`` also read its
    shards (``runtime.ops.metrics.shard_states``)."""

    def statistics(self) -> Any:
        """A frozen record of counters (msgspec Struct)."""
        ...

log = structlog.get_logger("runtime.core")


def actor_settings_for(config: Config) -> Callable[[int], ActorSettings]:
    """``guild_id -> ActorSettings`` from the file's layers alone (no store, no commands).
    Guilds without a table of their own share one settings object."""
    return Settings(config, clock=time.time).settings_for


def make_backend(config: Config, *, seed: int, url: str | None = None) -> Backend:
    """The content backend the config (or ``url``, overriding it) asks for."""
    llm = config.llm
    persona = load_persona(config.persona.path) if config.persona.path else None
    if url is None and llm.backend == "offline":
        return OfflineBackend(persona, seed=seed)
    base = url or llm.base_url
    if not base:
        raise ValueError("llm.base_url: required when llm.backend = 'openai'")
    return OpenAIBackend(base, llm.model or "default", api_key_env=llm.api_key_env,
                         max_tokens=llm.max_tokens, temperature=llm.temperature,
                         top_p=llm.top_p,
                         timeouts=Timeouts(connect=llm.connect_timeout_s,
                                           first_byte=llm.first_byte_timeout_s,
                                           total=llm.timeout_s))


class Runtime:
    """Store + supervisor + pool + control socket, for one process.

    Args:
        config: the decoded configuration.
        sender: ``async (request, text)``: sends the words (Discord, or the simulator).
        context: ``async (guild_id, channel_id, limit)``: recent messages, fetched on demand.
        names: ``async (guild_id, user_id) -> display name``.
        items: what ``share_tweet`` shares; None for nothing.
        backend: the content backend; None builds it from ``config.llm``.
        store: a store to use instead of the SQLite file of ``config.store.path``.
        seed: the engine seed.
        clock: the loop clock; None pins it to the wall clock at start.
        supervisor_config: overrides the supervisor flags derived from the config.
        control_socket: serve the control socket (``config.runtime.control_socket``).
        typing: ``(request) -> async context manager`` held while words are written (the
            pool's ``typing``: Discord shows her typing); None for none.
        gateway: the gateway client (``statistics()``, discord.py's shards): its statistics
            are shown under ``"gateway"`` in the control socket's ``stats``, and feed metrics
            and ``/readyz``; None when there is none (the simulator).
        config_path: the file ``config`` came from; given, SIGHUP re-reads it (guild
            settings reach live actors; a bad file is logged and changes nothing).
        leases: hold a lease per shard of ``config.discord`` in the store while running
            (``runtime.store.open_leases``); None: only when the runtime opens the store
            itself (``run``), not for a store handed in (tests, the simulator).

        router: the router the gateway delivers to (``runtime.router.Router``); the runtime
            opens it while its supervisor runs. None: a router of its own.
        roles_of: ``(guild_id, user_id) -> role ids`` from the gateway's member cache, so
            ``ignore_role_ids`` can be honoured; None: roles are not known here.

    ``settings`` (``runtime.settings.Settings``) exists from the start; the store's layer
    joins it when ``run`` opens the store.
    """

    def __init__(self, config: Config, *, sender: SenderFn,
                 context: ContextFn | None = None, names: NamesFn | None = None,
                 items: ItemSource | None = None, backend: Backend | None = None,
                 store: SnapshotStore | None = None, seed: int = 0,
                 clock: LoopClock | None = None,
                 supervisor_config: SupervisorConfig | None = None,
                 control_socket: bool = True, gateway: Gateway | None = None,
                 typing: TypingFn | None = None,
                 config_path: str | None = None, leases: bool | None = None,
                 router: Router | None = None, roles_of: RolesFn | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.settings = Settings(config, clock=time.time, roles_of=roles_of)
        self.router = router or Router()
        #: The router's ``deliver``: what the gateway (and tests) hand events to.
        self.deliver = self.router.deliver
        self.seed = seed
        self.clock = clock
        self._sender = sender
        self._context = context
        self._names = names
        self.items = items
        self._backend = backend
        self._store = store
        rt = config.runtime
        self.supervisor_config = supervisor_config or SupervisorConfig(
            snapshot_interval_s=rt.snapshot_interval_s, startup_grace_s=rt.startup_grace_s,
            shard_ids=config.discord.shard_ids, shard_count=config.discord.shard_count)
        self._control = control_socket
        self.gateway = gateway
        self._typing = typing
        self._leases = store is None if leases is None else leases
        #: Whether this process's shard leases surely hold now: nothing is sent otherwise.
        self.lease_watch = LeaseWatch(config.store.lease_ttl_s)
        #: The lost lease that stopped the runtime, if one did (the bot exits non-zero).
        self.lease_lost: LeaseLostError | None = None
        #: This process run's lease owner name (host, pid, a random part).
        self.lease_owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.supervisor: Supervisor | None = None
        self.pool: LLMPool | None = None
        self.control: ControlServer | None = None
        self.store: SnapshotStore | None = None
        self._stop = anyio.Event()
        self._on_stop: Callable[[], None] | None = None
        self.stopped = anyio.Event()
        #: Always kept (the pool's on_finished hook feeds it); served only when configured.
        #: It reads the parts (supervisor, pool, store, gateway) from this runtime.
        self.metrics = RuntimeMetrics(self)
        self.metrics_server: MetricsServer | None = None

    def stop(self) -> None:
        """Ask ``run`` to shut down in order (idempotent; safe from a signal handler task).
        Before the runtime runs (waiting for the store or a lease) it ends the wait."""
        self.metrics.stopping = True
        self._stop.set()
        if self._on_stop is not None:
            self._on_stop()

    async def _send(self, request: Any, text: str) -> None:
        """The sender, only while this process's leases surely hold (``LeaseWatch``):
        another process may run the shard once they may have expired."""
        if not self.lease_watch.holds():
            raise SendRejected("the shard lease may have expired (no renewal got through "
                               "in time): not sent")
        await self._sender(request, text)

    def _stopped_early(self, task_status: anyio.abc.TaskStatus[Runtime]) -> None:
        """Stopped before it ran (waiting for the store or a lease): says so, and lets the
        caller go on to its own exit (``stopped`` is set on the way out)."""
        log.info("runtime.stopped_before_running")
        task_status.started(self)

    async def serve_metrics(self, address: str, *,
                            task_status: anyio.abc.TaskStatus[MetricsServer]
                            = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``address`` with the loop-lag
        probe, until cancelled (``run`` starts it when ``runtime.metrics_address`` is set).

        Raises:
            StartupError: the address cannot be listened on.
        """
        server = MetricsServer(self.metrics, address)
        async with anyio.create_task_group() as tg:
            await tg.start(self.metrics.lag.run)
            self.metrics_server = await tg.start(server.serve)
            task_status.started(self.metrics_server)

    async def run(self, *, task_status: anyio.abc.TaskStatus[Runtime] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Run until ``stop()``; then shut down in order and return."""
        if self.clock is None:
            self.clock = LoopClock()
        clock = self.clock
        config = self.config
        store = self._store
        feeds: FeedItems | None = None
        if self.items is None:
            self.items = feeds = FeedItems(
                load_items(config.feeds.items_file) if config.feeds.items_file else (),
                urls=config.feeds.urls, refresh_s=config.feeds.refresh_s,
                client=httpx.AsyncClient(timeout=30.0, follow_redirects=True)
                if config.feeds.urls else None)
        if store is None:
            # An unreachable store is waited for (back-off, said once); a stop ends the wait.
            with anyio.CancelScope() as opening:
                self._on_stop = opening.cancel
                store = await open_with_retries(config.store.url or config.store.path,
                                                clock=clock.now)
            self._on_stop = None
            if store is None:
                self._stopped_early(task_status)
                log.info("runtime.stopped")
                self.stopped.set()
                return
        self.store = store
        settings = self.settings
        backend = None
        try:
            backend = self._backend or make_backend(config, seed=self.seed)
            await settings.open(store, clock=clock.now, loop_time=clock.loop_time)
            sup = Supervisor(store=store, settings_for=settings.settings_for,
                             seed=self.seed, config=self.supervisor_config, clock=clock)
            pool = LLMPool(backend, workers=config.llm.workers, queue_size=config.llm.queue_size,
                           deadlines=config.llm.deadlines,
                           deliver=sup.deliver, sender=self._send, context=self._context,
                           items=self.items, clock=clock, names=self._names, seed=self.seed,
                           shutdown_timeout=config.runtime.shutdown_timeout_s,
                           exclude_user=settings.excluded, typing=self._typing,
                           on_finished=self.metrics.on_finished)
            self.supervisor, self.pool = sup, pool
            if isinstance(backend, OpenAIBackend) and self._backend is None:
                # Before anything is decided, so the first failures already have a reason.
                await _warn_about_server(backend, config.llm.api_key_env)
            # Only a store the runtime opened itself holds leases (``leases``), and every store
            # ``open_store`` opens is a lease holder.
            async with self._hold_leases(cast(LeaseHolder, store)), \
                    anyio.create_task_group() as tg:
                if self._stop.is_set():  # stopped while waiting for a lease
                    self._stopped_early(task_status)
                    return
                if config.runtime.metrics_address is not None:
                    # First: a taken port fails the start before anything else runs.
                    await tg.start(self.serve_metrics, config.runtime.metrics_address)
                await tg.start(sup.run, settings.guard(pool))
                await tg.start(settings.run, sup)
                if self._store is None:
                    # The store's settings as they are now that the shards are ours, then
                    # whatever any process changes (runtime.settings.sync). Not for a
                    # store handed in (the simulator's clock is virtual).
                    await tg.start(follow_store, settings, store)
                if self.config_path is not None:
                    await tg.start(self._reload_on_sighup)
                with self.router.serving(settings, sup):
                    async with pool:
                        if self._control:
                            self.control = ControlServer(config.runtime.control_socket,
                                                         self.handle_control)
                            try:
                                await tg.start(self.control.serve)
                            except OSError as exc:
                                raise StartupError("runtime.control_socket", _os_detail(
                                    exc, config.runtime.control_socket)) from None
                        log.info("runtime.started", pid=os.getpid())
                        self.metrics.running = True
                        task_status.started(self)
                        await self._stop.wait()
                        log.info("runtime.stopping")
                        sup.stop_admitting()
                # The pool is drained or cancelled here: every result reached its actor.
                await sup.shutdown(deadline_s=config.runtime.shutdown_timeout_s)
                tg.cancel_scope.cancel()
        finally:
            # What the runtime opened, it closes: an OpenAIBackend's HTTP connections.
            aclose = getattr(backend, "aclose", None) if self._backend is None else None
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
            if feeds is not None and feeds.client is not None:
                with anyio.CancelScope(shield=True):
                    await feeds.client.aclose()
            if self._store is None:
                with anyio.CancelScope(shield=True):
                    await store.close()
            log.info("runtime.stopped")
            self.metrics.running = False
            self.stopped.set()

    @asynccontextmanager
    async def _hold_leases(self, store: LeaseHolder) -> AsyncIterator[None]:
        """Hold this process's shard leases around the supervisor: acquired (waiting for a
        live holder, said once) before it starts, renewed meanwhile, released after the final
        snapshots. A lost lease stops the runtime: another process runs those shards now."""
        if not self._leases:
            yield
            return
        ids, count = self.config.discord.shard_set()

        def lost(exc: LeaseLostError) -> None:
            log.error("runtime.lease_lost", shards=list(exc.shard_ids),
                      shard_count=exc.shard_count, detail="stopping: another process runs "
                      "these shards now")
            self.lease_lost = exc
            self.stop()

        async with open_leases(store, self.lease_owner, ids, count,
                               self.config.store.lease_ttl_s, on_lost=lost,
                               watch=self.lease_watch, stop=self._stop):
            yield

    async def handle_control(self, request: Any) -> Any:
        """Serve one control-socket request."""
        sup, pool = self.supervisor, self.pool
        assert sup is not None and pool is not None
        if isinstance(request, ListRequest):
            return sup.list_guilds()
        if isinstance(request, GuildRequest):
            detail = await sup.guild_detail(request.guild_id)
            if detail is None:
                raise RequestError(f"unknown guild {request.guild_id}")
            detail["settings"] = self.settings.describe(request.guild_id)
            return detail
        if isinstance(request, StatsRequest):
            return {"supervisor": msgspec.to_builtins(sup.statistics()),
                    "pool": msgspec.to_builtins(pool.statistics()),
                    "control": msgspec.to_builtins(self.control.statistics())
                    if self.control is not None else None,
                    "gateway": msgspec.to_builtins(self.gateway.statistics())
                    if self.gateway is not None else None,
                    "opted_out_users": self.settings.opted_out_ids()}
        if isinstance(request, SnapshotRequest):
            return {"written": await sup.snapshot_now()}
        if isinstance(request, SetMoodRequest):
            try:
                return sup.set_mood(request.guild_id, request.mood)
            except ValueError as exc:  # an unknown mood, or a guild it does not run
                raise RequestError(str(exc)) from None
        raise RequestError(f"unsupported request {type(request).__name__}")


    async def _reload_on_sighup(self, *, task_status: anyio.abc.TaskStatus[None]
                                = anyio.TASK_STATUS_IGNORED) -> None:
        """SIGHUP: re-read the config file; changed guild settings reach live actors."""
        assert self.config_path is not None
        with anyio.open_signal_receiver(signal.SIGHUP) as signals:
            task_status.started()
            async for _ in signals:
                log.info("runtime.sighup", path=self.config_path)
                self.settings.reload_file(self.config_path)


async def _warn_about_server(backend: OpenAIBackend, api_key_env: str | None) -> None:
    """Ask the inference server once (5 s at most) whether it serves the model; a problem is
    one warning line (the bot runs on: the pool retries and its breaker probes the server)."""
    base_url = backend.url.removesuffix("/chat/completions")
    problem = await check_server(base_url, backend.model, api_key_env=api_key_env)
    if problem is not None:
        log.warning("runtime.llm_server_problem", problem=problem, base_url=base_url)


def _os_detail(exc: OSError, path: str | None = None) -> str:
    """``'path': reason`` for an OSError, without errno noise (``path`` when the error
    names none: a socket's bind does not)."""
    reason = exc.strerror or str(exc)
    name = exc.filename or path
    return f"{name!r}: {reason}" if name else reason
