"""A TCP fault proxy: a loopback port in front of a server (a PostgreSQL Unix socket or a
TCP address) that passes bytes through, or injects a network fault the test switches on.

Modes (``proxy.mode = ...``, for the connections open now and the ones to come):

- ``"pass"``: bytes go both ways as they come.
- ``"delay"``: each chunk waits ``delay_s`` before it is passed on (a slow link).
- ``"blackhole"``: nothing goes anywhere: bytes received are held, never passed on, and new
  connections are accepted but never reach the server (a partition: the peer is silent).
  Unlike a real partition the proxy's kernel still acknowledges what it receives, so TCP
  keepalives and ``tcp_user_timeout`` do not fire here: what ends a call is the caller's own
  deadline (and that is what the runtime must not lack).
- ``"reset"``: every connection is reset (RST, ``SO_LINGER`` 0) and new ones are reset at
  once (the server went away, or a firewall rejects).

Going back to ``"pass"`` after a blackhole lets the held bytes through (a partition healing).
``connections`` counts the connections accepted; ``resets`` those reset.
"""

from __future__ import annotations

import socket
import struct
from typing import Literal

import anyio
import anyio.abc

__all__ = ["FaultProxy", "Mode", "proxy_for", "url_through"]

Mode = Literal["pass", "delay", "blackhole", "reset"]


class FaultProxy:
    """Listen on ``127.0.0.1`` (a free port, ``port`` once started) and forward to
    ``unix_path`` or ``(host, port)`` of ``target``. Use ``async with`` inside a task group
    host: ``await tg.start(proxy.serve)``."""

    def __init__(self, *, unix_path: str | None = None,
                 target: tuple[str, int] | None = None) -> None:
        if (unix_path is None) == (target is None):
            raise ValueError("give one of unix_path or target")
        self.unix_path = unix_path
        self.target = target
        self.port = 0
        self.delay_s = 0.0
        self.connections = 0
        self.resets = 0
        self._mode: Mode = "pass"
        self._changed = anyio.Event()
        self._open: set[anyio.abc.SocketStream] = set()
        self._scopes: set[anyio.CancelScope] = set()
        #: Set at each new connection (then replaced): a test waits for a client to come.
        self.connected = anyio.Event()

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        if mode not in ("pass", "delay", "blackhole", "reset"):
            raise ValueError(f"mode must be pass, delay, blackhole or reset, got {mode!r}")
        self._mode = mode
        self._changed.set()
        self._changed = anyio.Event()
        if mode == "reset":
            for stream in list(self._open):
                _linger_zero(stream)
            for scope in list(self._scopes):
                scope.cancel()  # the streams close with linger 0: a RST each

    async def serve(self, *, task_status: anyio.abc.TaskStatus[FaultProxy]
                    = anyio.TASK_STATUS_IGNORED) -> None:
        """Accept and forward until cancelled."""
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener:
            self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
            task_status.started(self)
            await listener.serve(self._connection)

    async def _until_flowing(self) -> None:
        while self._mode == "blackhole":
            await self._changed.wait()

    async def _connection(self, client: anyio.abc.SocketStream) -> None:
        self.connections += 1
        self.connected.set()
        self.connected = anyio.Event()
        if self._mode == "reset":
            _linger_zero(client)
            self.resets += 1
            await _close(client)
            return
        self._open.add(client)
        scope = anyio.CancelScope()
        self._scopes.add(scope)
        try:
            with scope:
                await self._forward(client)
        finally:
            self._scopes.discard(scope)
            self._open.discard(client)
            if scope.cancel_called:
                self.resets += 1
            await _close(client)

    async def _forward(self, client: anyio.abc.SocketStream) -> None:
        await self._until_flowing()
        if self._mode == "reset":
            return
        try:
            server: anyio.abc.SocketStream
            # Shielded (and bounded): a connect is not left half-made by a cancellation
            # (the pumps below say why cancelled socket waits are avoided here).
            with anyio.CancelScope(shield=True), anyio.fail_after(5):
                if self.unix_path is not None:
                    server = await anyio.connect_unix(self.unix_path)
                else:
                    assert self.target is not None
                    server = await anyio.connect_tcp(*self.target)
        except (OSError, TimeoutError):
            _linger_zero(client)
            return
        self._open.add(server)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump_to_server, client, server, tg.cancel_scope)
                tg.start_soon(self._pump_from_server, server, client, tg.cancel_scope)
        finally:
            self._open.discard(server)
            await _close(server)

    # Why two pumps and no cancelled read from the server: on asyncio a Unix socket stream
    # (the PostgreSQL socket) waits for a read with a future that the selector completes.
    # Cancel that read in the loop turn in which the socket becomes readable, and the
    # selector's ``set_result`` lands on a cancelled future: ``InvalidStateError`` in a loop
    # callback, which anyio's test runner turns into a failed test. So the read from the
    # server is shielded, and it is ended by shutting the server socket down (the read then
    # sees an end of stream) whenever the client side's pump stops, for whatever reason.

    async def _pump_to_server(self, client: anyio.abc.SocketStream,
                              server: anyio.abc.SocketStream,
                              scope: anyio.CancelScope) -> None:
        try:
            await self._pump(client, server)
        finally:
            _shutdown(server)
            scope.cancel()

    async def _pump_from_server(self, server: anyio.abc.SocketStream,
                                client: anyio.abc.SocketStream,
                                scope: anyio.CancelScope) -> None:
        try:
            await self._pump(server, client, shielded_reads=True)
        finally:
            scope.cancel()

    async def _pump(self, src: anyio.abc.SocketStream, dst: anyio.abc.SocketStream, *,
                    shielded_reads: bool = False) -> None:
        try:
            while True:
                with anyio.CancelScope(shield=shielded_reads):
                    data = await src.receive(65536)
                await self._until_flowing()  # held while blackholed
                if self._mode == "reset":
                    break
                if self._mode == "delay" and self.delay_s > 0:
                    await anyio.sleep(self.delay_s)
                await dst.send(data)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError,
                OSError):
            pass


def _shutdown(stream: anyio.abc.SocketStream) -> None:
    """End both directions of ``stream`` at once, from outside any task: a read waiting on
    it returns (end of stream) instead of being cancelled."""
    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected any more: nothing is waiting on it


def _linger_zero(stream: anyio.abc.SocketStream) -> None:
    """Make closing the connection abort it with a RST (no FIN), as a peer that vanished or
    a rejecting firewall does."""
    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


async def _close(stream: anyio.abc.SocketStream) -> None:
    with anyio.CancelScope(shield=True):
        try:
            await stream.aclose()
        except (OSError, anyio.BrokenResourceError):
            pass


def proxy_for(url: str) -> FaultProxy:
    """A proxy in front of the PostgreSQL server of ``url`` (its Unix socket directory, or
    its TCP host and port)."""
    import psycopg.conninfo

    params = psycopg.conninfo.conninfo_to_dict(url)
    host = str(params.get("host") or "/var/run/postgresql")
    port = int(params.get("port") or 5432)
    if host.startswith("/"):
        return FaultProxy(unix_path=f"{host}/.s.PGSQL.{port}")
    return FaultProxy(target=(host, port))


def url_through(url: str, proxy: FaultProxy) -> str:
    """``url`` pointed at the proxy's port on 127.0.0.1 (same user and database)."""
    import psycopg.conninfo

    params = psycopg.conninfo.conninfo_to_dict(url)
    user = params.get("user") or ""
    return f"postgresql://{user}@127.0.0.1:{proxy.port}/{params.get('dbname', '')}"
