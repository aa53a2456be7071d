"""SIGHUP re-reads ``bot.toml``: changed guild settings reach the live actor; a bad file is one
log line and the old settings stay."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from structlog.testing import capture_logs

from actors.events import GuildReady
from runtime.config import load_config
from runtime.core import Runtime
from runtime.store import MemoryStore
from runtime.supervisor import SupervisorConfig

FILE = """
[defaults]
quiet_hours = []
[guilds.42]
autonomous_channel_id = 4200
timezone = "UTC"
"""


@pytest.mark.anyio
async def test_sighup_reloads_live_guilds_and_a_bad_file_keeps_the_old(tmp_path: Path) -> None:
    """After SIGHUP with a new time zone in the file the live actor runs with it; after
    SIGHUP with a broken file there is one error line and the actor keeps it."""
    path = tmp_path / "bot.toml"
    path.write_text(FILE + f'[runtime]\ncontrol_socket = "{tmp_path / "ctl.sock"}"\n')

    async def sender(request: object, text: str) -> None:
        pass

    rt = Runtime(load_config(path), sender=sender, store=MemoryStore(), seed=1,
                 supervisor_config=SupervisorConfig(startup_grace_s=0, gc_freeze=False),
                 control_socket=False, config_path=str(path))
    reloaded = anyio.Event()
    reload_file = rt.settings.reload_file

    def spy(p: str) -> list[int] | None:
        nonlocal reloaded
        try:
            return reload_file(p)
        finally:
            reloaded.set()

    rt.settings.reload_file = spy  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        assert rt.clock is not None and rt.supervisor is not None
        rt.deliver(GuildReady(42, rt.clock.now(), ()))
        await wait_all_tasks_blocked()
        [actor] = rt.supervisor.live_actors()
        assert actor.settings.config.timezone == "UTC"

        path.write_text(path.read_text().replace('"UTC"', '"Asia/Tokyo"'))
        os.kill(os.getpid(), signal.SIGHUP)
        with anyio.fail_after(10):
            await reloaded.wait()
        await wait_all_tasks_blocked()
        assert actor.settings.config.timezone == "Asia/Tokyo"

        reloaded = anyio.Event()
        path.write_text("[guilds.42]\ntimezone = 'Mars/Olympus'\n")
        with capture_logs() as logs:
            os.kill(os.getpid(), signal.SIGHUP)
            with anyio.fail_after(10):
                await reloaded.wait()
            await wait_all_tasks_blocked()
        errors = [e for e in logs if e["log_level"] == "error"]
        assert [e["event"] for e in errors] == ["settings.reload_failed"]
        assert "Mars/Olympus" in errors[0]["error"]
        assert actor.settings.config.timezone == "Asia/Tokyo"
        assert rt.settings.channel_of(42) == 4200
        rt.stop()
