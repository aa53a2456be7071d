"""``inspect`` shows a guild's settings with their sources, and the opted-out user ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from anyio import create_task_group, wait_all_tasks_blocked

from actors.events import GuildReady
from runtime.config import decode_config
from runtime.core import Runtime
from runtime.ops.control import GuildRequest, StatsRequest
from runtime.store import MemoryStore
from runtime.supervisor import SupervisorConfig


@pytest.mark.anyio
async def test_inspect_shows_settings_sources_and_opt_outs(tmp_path: Path) -> None:
    """The control socket's guild reply carries each setting with its source; its stats
    list the user ids that opted out."""
    config = decode_config(f"""
[guilds.42]
autonomous_channel_id = 4200
locked = ["policy"]
[runtime]
control_socket = "{tmp_path / 'ctl.sock'}"
""")

    async def sender(request: object, text: str) -> None:
        pass

    rt = Runtime(config, sender=sender, store=MemoryStore(), seed=1, control_socket=False,
                 supervisor_config=SupervisorConfig(startup_grace_s=0, gc_freeze=False))
    async with create_task_group() as tg:
        await tg.start(rt.run)
        assert rt.clock is not None
        rt.deliver(GuildReady(42, rt.clock.now(), ()))
        await wait_all_tasks_blocked()
        await rt.settings.set_timezone(42, "Asia/Tokyo")
        await rt.settings.set_optout(7, True)
        detail = await rt.handle_control(GuildRequest(42))
        settings = detail["settings"]
        assert settings["timezone"] == {"value": "Asia/Tokyo", "source": "command",
                                        "locked": False}
        assert settings["policy"] == {"value": "v2", "source": "file: defaults",
                                      "locked": True}
        assert settings["channel"]["source"] == "file: guilds.42"
        stats = await rt.handle_control(StatsRequest())
        assert stats["opted_out_users"] == [7]
        rt.stop()
