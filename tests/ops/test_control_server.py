"""The control socket: typed requests in, one reply line out, and it survives anything."""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec
import pytest
from structlog.testing import capture_logs

from runtime.ops.control import (
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

REPO = Path(__file__).resolve().parents[2]


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
    import runtime.ops.control as mod

    assert all(hasattr(mod, name) for name in mod.__all__)


# --- limits: ids, connections, idleness, accept errors ---------------------------------------

@pytest.mark.anyio
async def test_ids_out_of_range_get_a_clear_error(server: ControlServer) -> None:
    """A guild id of 0, of 2**63 or past 2**64 is refused by the server with the valid
    range, before any handler sees it (today one >= 2**64 killed the process later)."""
    async with await anyio.connect_unix(server.path) as s:
        for gid in (0, 2**63, 2**64 + 5):
            for line in (msgspec.json.encode({"type": "guild", "guild_id": gid}),
                         msgspec.json.encode({"type": "set_mood", "guild_id": gid,
                                              "mood": "shy"})):
                (reply,) = await exchange(s, line + b"\n")
                assert reply["ok"] is False
                assert "at `$.guild_id`" in reply["error"]
                assert "0 < id < 2**63" in reply["error"]
        (reply,) = await exchange(s, b'{"type": "guild", "guild_id": 9223372036854775807}\n')
        assert reply["ok"] is True


@pytest.mark.anyio
async def test_connections_past_the_cap_are_told_and_closed(sock_dir: Path) -> None:
    """With a cap of 3, a fourth connection gets "too many connections" and is closed; once
    one closes, a new one is served."""
    srv = ControlServer(sock_dir / "c.sock", fake_handler, max_clients=3)
    async with anyio.create_task_group() as tg:
        await tg.start(srv.serve)
        held = [await anyio.connect_unix(srv.path) for _ in range(3)]
        for s in held:  # each is being served
            assert (await exchange(s, b'{"type": "stats"}\n'))[0]["ok"]
        async with await anyio.connect_unix(srv.path) as extra:
            (reply,) = await exchange(extra, b"")  # told at once, before asking anything
            assert reply == {"error": "too many connections (3 open); try again later",
                             "ok": False}
            with pytest.raises(anyio.EndOfStream):
                await extra.receive()
        await held.pop().aclose()
        while srv.statistics().clients > 2:
            await anyio.wait_all_tasks_blocked()
        assert await ask(srv.path, {"type": "snapshot"}) == {"saved": 2}
        for s in held:
            await s.aclose()
        # Cancel only once the server saw them leave: anyio's asyncio socket receive can
        # call set_result on a future cancelled in the same loop step (InvalidStateError).
        while srv.statistics().clients:
            await anyio.wait_all_tasks_blocked()
        assert srv.statistics().refused == 1
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_idle_connection_is_closed(sock_dir: Path) -> None:
    """A connection that sends nothing for idle_timeout_s is closed by the server; one that
    keeps asking is not."""
    srv = ControlServer(sock_dir / "c.sock", fake_handler, idle_timeout_s=0.3)
    async with anyio.create_task_group() as tg:
        await tg.start(srv.serve)
        async with await anyio.connect_unix(srv.path) as s:
            assert (await exchange(s, b'{"type": "stats"}\n'))[0]["ok"]
            with anyio.fail_after(5), pytest.raises(anyio.EndOfStream):
                await s.receive()  # the server hangs up on the idle client
        assert srv.statistics().idle_closed == 1
        tg.cancel_scope.cancel()


class _FailingListener:
    """A listener whose first ``fail`` accepts raise EMFILE, as a process out of file
    descriptors sees them."""

    def __init__(self, inner: Any, fail: int) -> None:
        self.inner = inner
        self.fail = fail

    async def accept(self) -> Any:
        if self.fail:
            self.fail -= 1
            await anyio.lowlevel.checkpoint()
            try:
                raise OSError(errno.EMFILE, "Too many open files")
            except OSError as exc:  # as anyio's listeners report it
                raise anyio.BrokenResourceError from exc
        return await self.inner.accept()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> _FailingListener:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _EMFILEServer(ControlServer):
    async def _open_listener(self) -> Any:
        return _FailingListener(await super()._open_listener(), fail=3)


@pytest.mark.anyio
async def test_accept_errors_are_waited_out_never_raised(sock_dir: Path) -> None:
    """EMFILE from accept is logged and retried with back-off; the server (and whatever
    runs it) goes on and serves the client once it can."""
    srv = _EMFILEServer(sock_dir / "c.sock", fake_handler)
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            await tg.start(srv.serve)
            assert await ask(srv.path, {"type": "snapshot"}) == {"saved": 2}
            tg.cancel_scope.cancel()
    assert srv.statistics().accept_errors == 3
    failed = [x for x in logs if x["event"] == "control_accept_failed"]
    assert len(failed) == 3 and failed[0]["errno"] == errno.EMFILE


CHILD = textwrap.dedent("""
    import resource, sys, anyio
    from runtime.ops.control import ControlServer

    async def handler(req):
        return {"alive": True}

    async def main(path):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, hard))
        srv = ControlServer(path, handler, max_clients=10_000)
        async with anyio.create_task_group() as tg:
            await tg.start(srv.serve)
            print("ready", flush=True)
            while True:
                await anyio.sleep(0.05)
                st = srv.statistics()
                print(st.clients, st.accept_errors, flush=True)

    anyio.run(main, sys.argv[1])
""")


def test_running_out_of_file_descriptors_does_not_end_the_process(sock_dir: Path) -> None:
    """A server in a process limited to 48 descriptors, sent 100 idle connections, hits
    EMFILE on accept and keeps running; once clients leave it answers a new one."""
    path = str(sock_dir / "c.sock")
    child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO)
    conns: list[socket.socket] = []
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        for _ in range(100):
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            conns.append(c)
        errors, logged = 0, False
        while errors == 0 or not logged:  # the child reports its counters every 50 ms
            line = child.stdout.readline()
            assert line, f"the server process died: {child.stderr.read() if child.stderr else ''}"
            logged = logged or "control_accept_failed" in line  # its log goes to stdout too
            fields = line.split()
            if len(fields) == 2 and all(f.isdigit() for f in fields):
                errors = int(fields[1])
        for c in conns:
            c.close()
        conns.clear()
        assert request(path, {"type": "stats"}, timeout=10.0) == {"alive": True}
        assert child.poll() is None
    finally:
        for c in conns:
            c.close()
        child.kill()
        child.communicate()  # reaps it and closes its pipes
