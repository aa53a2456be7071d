"""Two runtimes (two processes' worth) on one store: the second waits for the first's shard
lease, says so once, and goes on from the state the first wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from actors.events import GuildReady, MoodSet
from runtime.config import decode_config
from runtime.core import Runtime
from runtime.supervisor import SupervisorConfig

pytestmark = pytest.mark.anyio

CONFIG = """
[defaults]
quiet_hours = []
[guilds.42]
autonomous_channel_id = 4200
[store]
{where}
lease_ttl_s = 1.0
[runtime]
shutdown_timeout_s = 5
"""


class LogEvents:
    """Every log line as a dict, and an anyio Event per event name, set when it is logged."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.events: dict[str, anyio.Event] = {}

    def seen(self, name: str) -> anyio.Event:
        return self.events.setdefault(name, anyio.Event())

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> Any:
        self.lines.append(dict(event))
        self.seen(event["event"]).set()
        raise structlog.DropEvent


@pytest.fixture
def log_events() -> Iterator[LogEvents]:
    old = structlog.get_config()
    events = LogEvents()
    structlog.configure(processors=[events], cache_logger_on_first_use=False)
    try:
        yield events
    finally:
        structlog.configure(**old)


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f'path = "{tmp_path / "shared.sqlite3"}"'
    return f'url = "{request.getfixturevalue("pg_url")}"'


async def test_second_runtime_waits_for_the_first(where: str, log_events: LogEvents) -> None:
    """The second runtime does not start while the first holds the lease; it says so once,
    starts when the first stops (released), and finds the first one's final snapshot."""
    config = decode_config(CONFIG.format(where=where))

    async def sender(req: Any, text: str) -> None:
        pass

    def runtime() -> Runtime:
        return Runtime(config, sender=sender, control_socket=False, seed=1,
                       supervisor_config=SupervisorConfig(startup_grace_s=0, gc_freeze=False))

    first, second = runtime(), runtime()
    assert first.lease_owner != second.lease_owner
    second_up = anyio.Event()

    async def run_second() -> None:
        await tg.start(second.run)
        second_up.set()

    async with anyio.create_task_group() as tg:
        await tg.start(first.run)
        assert first.clock is not None
        now = first.clock.now()
        first.deliver(GuildReady(42, now, (7,)))
        first.deliver(MoodSet(42, "shy", now))
        tg.start_soon(run_second)
        with anyio.fail_after(10):
            await log_events.seen("store.lease_wait").wait()
        assert not second_up.is_set()
        first.stop()
        with anyio.fail_after(10):
            await first.stopped.wait()
            await second_up.wait()
        waits = [e for e in log_events.lines if e["event"] == "store.lease_wait"]
        assert len(waits) == 1 and waits[0]["holders"] == [first.lease_owner]
        assert second.supervisor is not None
        assert await second.store.load(42) is not None  # the first's final snapshot
        second.stop()
