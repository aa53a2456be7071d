"""The control socket: typed requests in, one reply line out, and it survives anything."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec
import pytest
from structlog.testing import capture_logs

from runtime.control import (
    ControlError,
    ControlServer,
    ControlUnavailableError,
    GuildRequest,
    ListRequest,
    Request,
    RequestError,
    SetMoodRequest,
    SnapshotRequest,
    StatsRequest,
    request,
    serve_control,
)


async def fake_handler(req: Request) -> Any:
    match req:
        case ListRequest():
            return [{"guild_id": 1, "mood": "shy"}]
        case GuildRequest(guild_id=5):
            raise RequestError("unknown guild 5")
        case GuildRequest(guild_id=13):
            raise RuntimeError("boom")
        case GuildRequest(guild_id=17):
            return object()  # not encodable
        case GuildRequest(guild_id=g):
            return {"guild_id": g, "state": {"mood": "shy"}}
        case StatsRequest():
            return {"events": 3}
        case SnapshotRequest():
            return {"saved": 2}
        case SetMoodRequest(guild_id=g, mood=m):
            return {"guild_id": g, "mood": m}


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Short: a Unix socket path must fit in 108 bytes, pytest's tmp_path may not.
    with tempfile.TemporaryDirectory(prefix="ctl", dir="/tmp") as d:
        yield Path(d)


@pytest.fixture
async def server(sock_dir: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(sock_dir / "c.sock", fake_handler, max_line_bytes=1024)
    async with anyio.create_task_group() as tg:
        await tg.start(srv.serve)
        yield srv
        tg.cancel_scope.cancel()


async def ask(path: str, payload: Any) -> Any:
    return await anyio.to_thread.run_sync(request, path, payload, 5.0)


async def exchange(stream: anyio.abc.ByteStream, data: bytes, replies: int = 1) -> list[Any]:
    """Send raw bytes and read ``replies`` reply lines."""
    await stream.send(data)
    buf = b""
    while buf.count(b"\n") < replies:
        buf += await stream.receive()
    return [msgspec.json.decode(line) for line in buf.splitlines()]


@pytest.mark.anyio
async def test_round_trips(server: ControlServer) -> None:
    """Each request type reaches the handler typed, and its result comes back."""
    assert await ask(server.path, {"type": "list"}) == [{"guild_id": 1, "mood": "shy"}]
    assert await ask(server.path, {"type": "guild", "guild_id": 3}) == {
        "guild_id": 3, "state": {"mood": "shy"}}
    assert await ask(server.path, StatsRequest()) == {"events": 3}
    assert await ask(server.path, {"type": "snapshot"}) == {"saved": 2}
    assert await ask(server.path, SetMoodRequest(guild_id=2, mood="shy")) == {
        "guild_id": 2, "mood": "shy"}


@pytest.mark.anyio
async def test_bad_requests_get_errors_and_the_connection_goes_on(server: ControlServer) -> None:
    """Garbage, invalid JSON, unknown types and bad fields each get an error naming the
    problem, on the same connection, which then still serves a good request."""
    async with await anyio.connect_unix(server.path) as s:
        cases = [
            (b"\x00\xff\xfe\x80garbage\n", "malformed request"),
            (b'{"type": "list"\n', "malformed request"),
            (b'{"type": "reboot"}\n', "invalid request: Invalid value 'reboot' - at `$.type`"),
            (b'{"mood": "shy"}\n', "invalid request: Object missing required field `type`"),
            (b'{"type": "guild"}\n', "missing required field `guild_id`"),
            (b'{"type": "guild", "guild_id": "x"}\n', "at `$.guild_id`"),
            (b'{"type": "list", "extra": 1}\n', "unknown field `extra`"),
            (b"[1, 2]\n", "invalid request"),
        ]
        for data, error in cases:
            (reply,) = await exchange(s, data)
            assert reply["ok"] is False
            assert error in reply["error"], reply
        assert await exchange(s, b"\n  \n" + b'{"type": "stats"}\n') == [
            {"result": {"events": 3}, "ok": True}]


@pytest.mark.anyio
async def test_oversized_lines(server: ControlServer) -> None:
    """A line over the cap gets one error, whether it arrives whole or in pieces, and the
    next line is served."""
    async with await anyio.connect_unix(server.path) as s:
        (reply,) = await exchange(s, b'{"type": "list", "pad": "' + b"x" * 5000 + b'"}\n')
        assert reply == {"error": "request too long: over 1024 bytes in a line", "ok": False}
        await s.send(b"y" * 3000)  # no newline yet: already too long
        (reply,) = await exchange(s, b"y" * 3000)
        assert "request too long" in reply["error"]
        replies = await exchange(s, b"y" * 100 + b'\n{"type": "snapshot"}\n')
        assert replies == [{"result": {"saved": 2}, "ok": True}]


@pytest.mark.anyio
async def test_handler_errors(server: ControlServer) -> None:
    """A RequestError's message is the reply's error; any other exception is reported as an
    internal error and logged; the server goes on."""
    with pytest.raises(ControlError, match=r"^unknown guild 5$"):
        await ask(server.path, {"type": "guild", "guild_id": 5})
    with capture_logs() as logs:
        with pytest.raises(ControlError, match="internal error: RuntimeError: boom"):
            await ask(server.path, GuildRequest(guild_id=13))
    assert [e["event"] for e in logs] == ["control handler failed"]
    with pytest.raises(ControlError, match="result not encodable"):
        await ask(server.path, GuildRequest(guild_id=17))
    assert await ask(server.path, {"type": "guild", "guild_id": 1})
    stats = server.statistics()
    assert stats.requests == 4 and stats.errors == 3


@pytest.mark.anyio
async def test_client_hangs_up(server: ControlServer) -> None:
    """Clients leaving mid-request, or before reading their reply, do not hurt the server."""
    s = await anyio.connect_unix(server.path)
    await s.send(b'{"type": "gui')
    await s.aclose()
    s = await anyio.connect_unix(server.path)
    await s.send(b'{"type": "list"}\n' * 50)
    await s.aclose()
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(server.path)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    raw.sendall(b'{"type": "stats"}\n{"type": "li')
    raw.close()  # a reset rather than a clean end
    assert await ask(server.path, {"type": "list"}) == [{"guild_id": 1, "mood": "shy"}]


@pytest.mark.anyio
async def test_many_clients(server: ControlServer) -> None:
    """Fifty clients at once, twenty requests each, every reply to its own client in order."""
    async def client(n: int) -> None:
        async with await anyio.connect_unix(server.path) as s:
            batch = b"".join(msgspec.json.encode({"type": "guild", "guild_id": 1000 + 100 * n + i})
                             + b"\n" for i in range(20))
            replies = await exchange(s, batch, replies=20)
            want = [1000 + 100 * n + i for i in range(20)]
            assert [r["result"]["guild_id"] for r in replies] == want

    async with anyio.create_task_group() as tg:
        for n in range(50):
            tg.start_soon(client, n)
    assert server.statistics().connections == 50


@pytest.mark.anyio
async def test_socket_file_lifecycle(sock_dir: Path) -> None:
    """Mode 0600; a stale socket is replaced; a live server's socket and a regular file are
    refused; the socket file is removed when the server stops."""
    path = sock_dir / "c.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # leaves the file with nothing listening
    async with anyio.create_task_group() as tg:
        await tg.start(serve_control, path, fake_handler)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert await ask(str(path), {"type": "snapshot"}) == {"saved": 2}
        with pytest.raises(OSError, match="another process serves"):
            await serve_control(path, fake_handler)
        tg.cancel_scope.cancel()
    assert not path.exists()
    path.write_text("not a socket")
    with pytest.raises(FileExistsError, match="not a socket"):
        await serve_control(path, fake_handler)
    assert path.read_text() == "not a socket"


def test_client_errors(sock_dir: Path) -> None:
    """The client names what is wrong: no socket, or a stale one."""
    path = sock_dir / "c.sock"
    with pytest.raises(ControlUnavailableError, match="no such socket"):
        request(path, {"type": "list"})
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    with pytest.raises(ControlUnavailableError, match="nothing is listening"):
        request(path, {"type": "list"})


def test_public_names() -> None:
    """__all__ names exist."""
    import runtime.control as mod

    assert all(hasattr(mod, name) for name in mod.__all__)
