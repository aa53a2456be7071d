"""The metrics port can never end the process (issue 19): connections past the cap are
closed at once, and running out of file descriptors (EMFILE on accept) is waited out."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import anyio
import httpx
import pytest

from runtime.ops.metrics import MetricsServer, RuntimeMetrics
from tests.kit.bot_process import REPO


class NoParts:
    """A runtime with no part started yet: the metrics read nothing but themselves."""

    supervisor = pool = store = gateway = None


@pytest.mark.anyio
async def test_connections_past_the_cap_are_closed_and_the_port_still_answers() -> None:
    """Ten idle connections to a server capped at four: four are held (until their read
    deadline), six are closed at once; once the idle ones leave, /healthz answers."""
    server = MetricsServer(RuntimeMetrics(NoParts()), "127.0.0.1:0", max_connections=4)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        idle = [await anyio.connect_tcp("127.0.0.1", server.port) for _ in range(10)]
        closed = 0
        for conn in idle:
            with anyio.move_on_after(0.5):  # a held one never answers; a refused one ends
                try:
                    await conn.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    closed += 1
        assert closed == 6 and server.refused == 6 and server.connections == 4
        for conn in idle:
            await conn.aclose()
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(10):
                while True:  # the held ones end as the server sees them close
                    try:
                        r = await http.get(f"http://127.0.0.1:{server.port}/healthz")
                    except httpx.TransportError:
                        await anyio.sleep(0.05)
                        continue
                    break
        assert r.status_code == 200
        tg.cancel_scope.cancel()


CHILD = textwrap.dedent("""
    import resource, sys, anyio
    from runtime.ops.metrics import MetricsServer, RuntimeMetrics

    class NoParts:
        supervisor = pool = store = gateway = None

    async def main():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, hard))
        srv = MetricsServer(RuntimeMetrics(NoParts()), "127.0.0.1:0",
                            max_connections=10_000)
        async with anyio.create_task_group() as tg:
            await tg.start(srv.serve)
            print("ready", srv.port, flush=True)
            while True:
                await anyio.sleep(0.05)
                print(srv.connections, srv.accept_errors, flush=True)

    anyio.run(main)
""")


def test_running_out_of_file_descriptors_does_not_end_the_process() -> None:
    """A metrics server in a process limited to 48 descriptors, sent 100 idle connections,
    hits EMFILE on accept and keeps running; once they leave, /healthz answers (was: the
    OSError ended the process, exit 1)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO)
    conns: list[socket.socket] = []
    try:
        assert child.stdout is not None
        first = [""]
        while first[0] != "ready":  # its log lines come first, on stdout too
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else ""
            first = line.split() or [""]
        port = int(first[1])
        for _ in range(100):
            conns.append(socket.create_connection(("127.0.0.1", port)))
        errors = 0
        while errors == 0:  # the child reports its counters every 50 ms
            line = child.stdout.readline()
            assert line, f"the server process died: {child.stderr.read() if child.stderr else ''}"
            fields = line.split()
            if len(fields) == 2 and all(f.isdigit() for f in fields):
                errors = int(fields[1])
        for c in conns:
            c.close()
        conns.clear()
        answered = None
        for _ in range(100):
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10.0)
                break
            except httpx.TransportError:  # its held connections are still closing
                child.stdout.readline()  # the next report: 50 ms on
        assert answered is not None and answered.status_code == 200
        assert child.poll() is None
    finally:
        for c in conns:
            c.close()
        child.kill()
        child.communicate()
