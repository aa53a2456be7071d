"""/metrics, /healthz and /readyz of a running runtime, scraped over real HTTP (httpx)."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors.events import GuildReady, MessageSeen, MoodSet, PresenceChanged
from runtime.config import decode_config
from runtime.core import Runtime
from runtime.errors import ConfigError, StartupError
from runtime.store import MemoryStore
from runtime.supervisor import SupervisorConfig

CONFIG = """
[defaults]
quiet_hours = []
rotate_moods = false
[guilds.42]
autonomous_channel_id = 4200
[runtime]
shutdown_timeout_s = 5
metrics_address = "127.0.0.1:0"
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, keyed by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def runtime(tmp_path: Path, store: object | None = None,
            sent_event: anyio.Event | None = None) -> tuple[Runtime, list]:
    """A runtime serving metrics on a free port; its sends are recorded (and signalled)."""
    config = decode_config(CONFIG.replace("[runtime]", f'[runtime]\ncontrol_socket = '
                                          f'"{tmp_path / "ctl.sock"}"'))
    sent: list = []

    async def sender(req: object, text: str) -> None:
        sent.append(req)
        if sent_event is not None:
            sent_event.set()

    async def names(guild_id: int, user_id: int) -> str:
        return "Rin"

    rt = Runtime(config, sender=sender, names=names, store=store or MemoryStore(), seed=3,
                 supervisor_config=SupervisorConfig(startup_grace_s=0, gc_freeze=False))
    return rt, sent


@pytest.mark.anyio
async def test_metrics_move_after_events(tmp_path: Path) -> None:
    """A scrape lists the families; after a game start becomes words, the guild, event,
    decision, request and action-result numbers have moved by exactly what happened."""
    got_send = anyio.Event()
    rt, _ = runtime(tmp_path, sent_event=got_send)
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        assert rt.metrics_server is not None and rt.metrics_server.port > 0
        base = f"http://127.0.0.1:{rt.metrics_server.port}"
        async with httpx.AsyncClient(base_url=base) as http:
            before = await http.get("/metrics")
            assert before.status_code == 200
            assert before.headers["content-type"].startswith("text/plain; version=")
            s0 = samples(before.text)
            assert s0[("miku_guilds", (("state", "live"),))] == 0
            assert s0[("miku_pool_queue_depth", ())] == 0
            assert s0[("miku_pool_breaker_state", (("state", "closed"),))] == 1
            assert s0[("miku_runtime_running", ())] == 1
            assert ("miku_event_loop_lag_last_seconds", ()) in s0
            assert not any(dict(labels).get("guild_id") for _, labels in s0)

            assert rt.clock is not None
            now = rt.clock.now()
            rt.deliver(GuildReady(42, now, (7,)))
            rt.deliver(MoodSet(42, "bubbly", now))
            rt.deliver(PresenceChanged(42, 7, now, activity="Project DIVA Mega Mix"))
            rt.deliver(MessageSeen(42, 4200, 7, now, message_id=99))
            with anyio.fail_after(10):
                await got_send.wait()
            await anyio.wait_all_tasks_blocked()  # the worker records the result
            s1 = samples((await http.get("/metrics")).text)
            rt.stop()
    assert s1[("miku_guilds", (("state", "live"),))] == 1
    assert s1[("miku_supervisor_delivered_total", ())] >= s0.get(
        ("miku_supervisor_delivered_total", ()), 0) + 4
    assert s1[("miku_guilds", (("state", "ready"),))] == 1
    assert s1[("miku_events_total", (("type", "PresenceChanged"),))] == 1
    assert s1[("miku_events_total", (("type", "MessageSeen"),))] == 1
    assert s0.get(("miku_events_total", (("type", "MessageSeen"),)), 0) == 0
    assert s1[("miku_decisions_total", (("action", "engage_user"), ("policy", "v2")))] == 1
    assert s1[("miku_pool_requests_total", (("result", "sent"),))] == 1
    assert s1[("miku_actions_total", (("action", "engage_user"), ("result", "sent")))] == 1
    assert s1[("miku_action_seconds_count", (("action", "engage_user"),))] == 1


@pytest.mark.anyio
async def test_health_and_readiness(tmp_path: Path) -> None:
    """/healthz answers with the loop's lag, /readyz is 200 while the store answers and 503
    naming the store once it does not; unknown paths are 404, other methods 405."""
    store = MemoryStore()
    rt, _ = runtime(tmp_path, store=store)
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        assert rt.metrics_server is not None
        async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{rt.metrics_server.port}") as http:
            health = await http.get("/healthz")
            assert health.status_code == 200 and health.text.startswith("ok loop_lag_s=")
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.text) == (200, "ready\n")
            assert (await http.get("/nope")).status_code == 404
            assert (await http.post("/metrics")).status_code == 405
            assert (await http.head("/metrics")).content == b""

            async def broken(guild_id: int) -> bytes | None:
                raise OSError("connection refused")

            store.load = broken  # type: ignore[method-assign]  # the store goes away
            down = await http.get("/readyz")
            assert down.status_code == 503
            assert "store unreachable: OSError: connection refused" in down.text
            rt.stop()
            assert "shutting down" in await rt.metrics.readiness()
    assert rt.metrics.running is False


@pytest.mark.anyio
async def test_a_bad_request_gets_400_and_the_server_goes_on(tmp_path: Path) -> None:
    """Garbage on the socket gets a 400 and does not stop the next scrape."""
    rt, _ = runtime(tmp_path)
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        assert rt.metrics_server is not None
        port = rt.metrics_server.port
        async with await anyio.connect_tcp("127.0.0.1", port) as sock:
            await sock.send(b"hello\r\n\r\n")
            reply = b""
            try:
                while True:
                    reply += await sock.receive()
            except anyio.EndOfStream:
                pass
        assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
        rt.stop()


@pytest.mark.anyio
async def test_a_taken_port_is_a_startup_error(tmp_path: Path) -> None:
    """Listening on a port another socket holds fails the start naming the config key."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0) as taken:
        port = taken.extra(anyio.abc.SocketAttribute.local_port)
        rt, _ = runtime(tmp_path)
        with pytest.raises(ExceptionGroup) as info:
            await rt.serve_metrics(f"127.0.0.1:{port}")
    (leaf,) = info.value.exceptions
    assert isinstance(leaf, StartupError)
    assert str(leaf).startswith(f"runtime.metrics_address: cannot listen on 127.0.0.1:{port}")


@pytest.mark.anyio
async def test_a_failing_part_costs_one_scrape_not_the_process(tmp_path: Path) -> None:
    """A statistics() that raises gives a 500 for that scrape; an oversized request a 400;
    the server and the runtime go on (the next /healthz is 200)."""
    rt, _ = runtime(tmp_path)
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        assert rt.metrics_server is not None and rt.supervisor is not None
        port = rt.metrics_server.port

        def broken() -> object:
            raise RuntimeError("a bug")

        rt.supervisor.statistics = broken  # type: ignore[method-assign]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            failed = await http.get("/metrics")
            assert (failed.status_code, failed.text) == (500, "internal error: RuntimeError\n")
            huge = await http.get("/metrics", headers={"X-Padding": "x" * 10_000})
            assert huge.status_code == 400
            assert (await http.get("/healthz")).status_code == 200
        rt.stop()


@pytest.mark.parametrize("address", ["9108", "localhost", "127.0.0.1:70000", "[::1:9108",
                                     "host name:1"])
def test_bad_address_is_a_clear_config_error(address: str) -> None:
    """A metrics address that is not host:port is refused naming the key and the form."""
    with pytest.raises(ConfigError, match=r'^runtime.metrics_address: expected "host:port"'):
        decode_config(f'[runtime]\nmetrics_address = "{address}"\n')


def test_metrics_are_off_by_default() -> None:
    """Without the key nothing listens."""
    assert decode_config("").runtime.metrics_address is None
