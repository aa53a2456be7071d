"""The control socket: look inside the running process, and steer it a little.

A Unix socket (owner-only, mode 0600; never a network listener) speaking newline-delimited
msgspec JSON: one request per line, one reply per line, in order::

    {"type": "list"}                          -> every guild, one summary each
    {"type": "guild", "guild_id": N}          -> one guild in full
    {"type": "stats"}                         -> runtime statistics
    {"type": "snapshot"}                      -> snapshot every dirty actor now
    {"type": "set_mood", "guild_id": N, "mood": "shy"}

    {"ok": true, "result": ...}   or   {"ok": false, "error": "..."}

The server decodes and validates; what a request means is the handler's (the supervisor's).
A malformed, unknown or oversized request, or an id outside ``0 < id < 2**63``, gets an error
reply naming what was wrong, and the connection goes on; a client hanging up, or the handler
raising, never stops the server. It holds at most ``max_clients`` connections (one more gets
"too many connections" and is closed), closes a connection idle for ``idle_timeout_s``, and
an accept error (out of file descriptors: EMFILE) is logged and waited out, never raised:
the control socket can never take the runtime down.

``request`` is the blocking client ``ops/inspect.py`` uses.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio
import anyio.abc
import msgspec
import structlog
from anyio import TASK_STATUS_IGNORED

__all__ = [
    "IDLE_TIMEOUT_S",
    "MAX_CLIENTS",
    "MAX_LINE_BYTES",
    "ControlError",
    "ControlServer",
    "ControlStatistics",
    "ControlUnavailableError",
    "GuildId",
    "GuildRequest",
    "ListRequest",
    "Request",
    "RequestError",
    "SetMoodRequest",
    "SnapshotRequest",
    "StatsRequest",
    "request",
    "serve_control",
]

#: The longest request line accepted (bytes, without the newline).
MAX_LINE_BYTES = 64 * 1024
#: Connections served at once; one more is told so and closed.
MAX_CLIENTS = 64
#: A connection with no request for this long is closed.
IDLE_TIMEOUT_S = 60.0
_ACCEPT_BACKOFF_S = (0.05, 1.0)  # first and longest wait after an accept error

#: A Discord id as the store holds it (a signed 64-bit integer, and never 0).
GuildId = Annotated[int, msgspec.Meta(gt=0, le=2**63 - 1)]

_log = structlog.get_logger("runtime.ops.control")


class ListRequest(msgspec.Struct, frozen=True, tag="list", forbid_unknown_fields=True):
    """Every guild the process knows, one summary each."""


class GuildRequest(msgspec.Struct, frozen=True, tag="guild", forbid_unknown_fields=True):
    """One guild in full."""

    guild_id: GuildId


class StatsRequest(msgspec.Struct, frozen=True, tag="stats", forbid_unknown_fields=True):
    """The runtime's statistics."""


class SnapshotRequest(msgspec.Struct, frozen=True, tag="snapshot", forbid_unknown_fields=True):
    """Snapshot now."""


class SetMoodRequest(msgspec.Struct, frozen=True, tag="set_mood", forbid_unknown_fields=True):
    """Set a guild's mood by hand (a guild the process runs; the answer says how long the
    mood holds)."""

    guild_id: GuildId
    mood: str


Request = ListRequest | GuildRequest | StatsRequest | SnapshotRequest | SetMoodRequest
Handler = Callable[[Request], Awaitable[Any]]

_decoder = msgspec.json.Decoder(Request)
_encoder = msgspec.json.Encoder()


class _Ok(msgspec.Struct, frozen=True):
    result: Any
    ok: bool = True


class _Failed(msgspec.Struct, frozen=True):
    error: str
    ok: bool = False


class RequestError(Exception):
    """Raised by a handler for a request it cannot serve (an unknown guild, a bad mood):
    the client gets the message as its error, and nothing is logged as a failure."""


class ControlError(RuntimeError):
    """The server answered with an error (``request``)."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(error)


class ControlUnavailableError(ControlError):
    """No server could be reached at the path (``request``)."""

    def __init__(self, path: object, detail: str) -> None:
        self.path = os.fspath(path) if isinstance(path, str | os.PathLike) else str(path)
        super().__init__(f"control socket {self.path}: {detail}")


class ControlStatistics(msgspec.Struct, frozen=True, gc=False):
    """Clients connected now, and totals since the server started: connections served,
    requests, error replies, connections refused past ``max_clients``, connections closed
    idle, and accept errors waited out."""

    clients: int
    connections: int
    requests: int
    errors: int
    refused: int = 0
    idle_closed: int = 0
    accept_errors: int = 0


def _reply_bytes(reply: _Failed) -> bytes:
    return _encoder.encode(reply) + b"\n"


def _describe(exc: msgspec.DecodeError) -> str:
    if isinstance(exc, msgspec.ValidationError):
        text = str(exc)
        if "guild_id" in text and ("<" in text or ">" in text):
            text += " (a guild id is 0 < id < 2**63)"
        return f"invalid request: {text}"
    return f"malformed request: {exc}"


class ControlServer:
    """Serves the control socket at ``path`` with ``handler`` until cancelled.

    Args:
        path: the socket file. A stale one (nothing listening) is replaced; a live server's
            socket, or any other kind of file, is refused with ``OSError``.
        handler: ``async handler(request) -> result``; the result must be msgspec-encodable.
            Raise ``RequestError`` for a request that cannot be served.
        max_line_bytes: the longest request line.
    """

    def __init__(self, path: str | os.PathLike[str], handler: Handler, *,
                 max_line_bytes: int = MAX_LINE_BYTES, max_clients: int = MAX_CLIENTS,
                 idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.path = os.fspath(path)
        self._handler = handler
        self._max_line = max_line_bytes
        self._max_clients = max_clients
        self._idle_s = idle_timeout_s
        self._too_long = f"request too long: over {max_line_bytes} bytes in a line"
        self._clients = self._connections = self._requests = self._errors = 0
        self._refused = self._idle_closed = self._accept_errors = 0

    def statistics(self) -> ControlStatistics:
        return ControlStatistics(self._clients, self._connections, self._requests, self._errors,
                                 self._refused, self._idle_closed, self._accept_errors)

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None] = TASK_STATUS_IGNORED
                    ) -> None:
        """Listen and serve until cancelled; the socket file is removed on the way out.
        With ``await task_group.start(server.serve)`` it returns once clients can connect."""
        await anyio.to_thread.run_sync(_refuse_live_or_foreign, self.path)
        listener = await self._open_listener()
        try:
            async with listener, anyio.create_task_group() as tg:
                task_status.started()
                await self._accept_loop(listener, tg)
        finally:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    async def _open_listener(self) -> anyio.abc.Listener[anyio.abc.SocketStream]:
        return await anyio.create_unix_listener(self.path, mode=0o600)

    async def _accept_loop(self, listener: anyio.abc.Listener[anyio.abc.SocketStream],
                           tg: anyio.abc.TaskGroup) -> None:
        # Our own loop rather than ``listener.serve``: there, one accept error (EMFILE when
        # the process is out of descriptors) ends the server and the runtime with it.
        backoff = _ACCEPT_BACKOFF_S[0]
        accept = getattr(listener, "accept")  # noqa: B009 (every socket listener has it)
        while True:
            try:
                stream = await accept()
            except (OSError, anyio.BrokenResourceError) as exc:
                # anyio reports the OSError as BrokenResourceError, caused by it.
                cause = exc if isinstance(exc, OSError) else exc.__cause__
                if not isinstance(cause, OSError):
                    raise
                self._accept_errors += 1
                if self._accept_errors <= 10 or self._accept_errors % 1000 == 0:
                    _log.warning("control_accept_failed", error=cause.strerror or repr(cause),
                                 errno=cause.errno, retry_in_s=backoff,
                                 count=self._accept_errors)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, _ACCEPT_BACKOFF_S[1])
                continue
            backoff = _ACCEPT_BACKOFF_S[0]
            if self._clients >= self._max_clients:
                self._refused += 1
                tg.start_soon(self._refuse, stream)
            else:
                self._clients += 1  # counted here: the cap holds before the task starts
                tg.start_soon(self._serve_client, stream)

    async def _refuse(self, stream: anyio.abc.SocketStream) -> None:
        with anyio.move_on_after(1.0):
            try:
                async with stream:
                    await stream.send(_reply_bytes(_Failed(
                        f"too many connections ({self._max_clients} open); try again later")))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass

    async def _serve_client(self, stream: anyio.abc.SocketStream) -> None:
        self._connections += 1
        try:
            async with stream:
                await self._converse(stream)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass  # the client hung up; nothing to answer
        except Exception:
            # A bug here must cost one connection, never the server.
            self._errors += 1
            _log.exception("control connection failed")
        finally:
            self._clients -= 1

    async def _converse(self, stream: anyio.abc.SocketStream) -> None:
        buf = bytearray()
        skipping = False  # inside an oversized line: drop bytes up to its newline
        while True:
            chunk = b""
            with anyio.move_on_after(self._idle_s):
                try:
                    chunk = await stream.receive(65536)
                except anyio.EndOfStream:
                    return  # a partial last line (a client hanging up mid-request) is dropped
            if not chunk:
                self._idle_closed += 1
                return  # idle: its descriptor is worth more to the next client
            buf += chunk
            while True:
                end = buf.find(b"\n")
                if end < 0:
                    if not skipping and len(buf) > self._max_line:
                        skipping = True
                        await self._send_error(stream, self._too_long)
                    if skipping:
                        buf.clear()
                    break
                line = bytes(buf[:end])
                del buf[:end + 1]
                if skipping:
                    skipping = False
                    continue
                if len(line) > self._max_line:
                    await self._send_error(stream, self._too_long)
                    continue
                if line.strip():
                    await stream.send(await self._answer(line))

    async def _send_error(self, stream: anyio.abc.SocketStream, error: str) -> None:
        self._errors += 1
        await stream.send(_reply_bytes(_Failed(error)))

    async def _answer(self, line: bytes) -> bytes:
        self._requests += 1
        try:
            req = _decoder.decode(line)
        except msgspec.DecodeError as exc:
            self._errors += 1
            return _reply_bytes(_Failed(_describe(exc)))
        try:
            result = await self._handler(req)
        except RequestError as exc:
            self._errors += 1
            return _reply_bytes(_Failed(str(exc)))
        except Exception as exc:
            self._errors += 1
            _log.exception("control handler failed", request=type(req).__name__)
            return _reply_bytes(_Failed(f"internal error: {type(exc).__name__}: {exc}"))
        try:
            return _encoder.encode(_Ok(result)) + b"\n"
        except (TypeError, ValueError, OverflowError) as exc:
            # The handler's bug, but the client still gets its line.
            self._errors += 1
            return _reply_bytes(_Failed(f"internal error: result not encodable ({exc})"))


def _refuse_live_or_foreign(path: str) -> None:
    """Raise if ``path`` is a socket something listens on, or a file that is not a socket.
    A stale socket (nothing listening) is left for the listener to replace."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(errno.EEXIST, "exists and is not a socket; not replacing it", path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return  # stale: its process is gone
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, "another process serves this control socket", path)


async def serve_control(path: str | os.PathLike[str], handler: Handler, *,
                        max_line_bytes: int = MAX_LINE_BYTES, max_clients: int = MAX_CLIENTS,
                        idle_timeout_s: float = IDLE_TIMEOUT_S,
                        task_status: anyio.abc.TaskStatus[None] = TASK_STATUS_IGNORED
                        ) -> None:
    """Serve the control socket until cancelled (see ``ControlServer``)."""
    server = ControlServer(path, handler, max_line_bytes=max_line_bytes,
                           max_clients=max_clients, idle_timeout_s=idle_timeout_s)
    await server.serve(task_status=task_status)


def request(path: str | os.PathLike[str], payload: dict[str, Any] | Request,
            timeout: float = 5.0) -> Any:
    """Send one request and return its result (blocking; for ``ops/inspect.py``).

    Args:
        path: the control socket.
        payload: a request Struct or its dict form (``{"type": "list"}``).
        timeout: seconds allowed for each socket operation (connect, send, each receive).

    Returns:
        The reply's ``result``.

    Raises:
        ControlUnavailableError: no socket at ``path``, nothing listening, or no reply in time.
        ControlError: the server answered with an error.
    """
    data = _encoder.encode(payload) + b"\n"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except FileNotFoundError:
            raise ControlUnavailableError(path, "no such socket (is the bot running?)") from None
        except ConnectionRefusedError:
            raise ControlUnavailableError(path, "nothing is listening (stale socket)") from None
        except PermissionError:
            raise ControlUnavailableError(path, "permission denied (owner only)") from None
        except OSError as exc:
            raise ControlUnavailableError(path, f"cannot connect ({exc.strerror or exc})") \
                from None
        sock.sendall(data)
        chunks: list[bytes] = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise ControlUnavailableError(path, "the server closed the connection")
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                break
    except TimeoutError:
        raise ControlUnavailableError(path, f"no reply within {timeout:g} s") from None
    finally:
        sock.close()
    try:
        reply = msgspec.json.decode(b"".join(chunks))
    except msgspec.DecodeError as exc:
        raise ControlError(f"unreadable reply ({exc})") from None
    if not isinstance(reply, dict) or not reply.get("ok"):
        error = reply.get("error") if isinstance(reply, dict) else None
        raise ControlError(str(error or "unknown error"))
    return reply.get("result")
