"""The runtime core end to end: events in, words out through the pool, control socket,
orderly shutdown with final snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from actors.events import ActionRequest, GuildReady, MoodSet, PresenceChanged
from engine import decode_state
from runtime.config import decode_config
from runtime.core import Runtime
from runtime.ops.control import request
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
"""


@pytest.mark.anyio
async def test_a_game_start_becomes_words_sent_without_pings(tmp_path: Path) -> None:
    """A related game starting becomes an engage_user request, offline words, one send to
    the autonomous channel, a result back at the actor, and a snapshot at shutdown."""
    config = decode_config(CONFIG.replace("[runtime]", f'[runtime]\ncontrol_socket = '
                                          f'"{tmp_path / "ctl.sock"}"'))
    sent: list[tuple[ActionRequest, str]] = []
    got_send = anyio.Event()

    async def sender(req: ActionRequest, text: str) -> None:
        sent.append((req, text))
        got_send.set()

    async def names(guild_id: int, user_id: int) -> str:
        return "Rin"

    store = MemoryStore()
    rt = Runtime(config, sender=sender, names=names, store=store, seed=3,
                 supervisor_config=SupervisorConfig(startup_grace_s=0, gc_freeze=False))
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        assert rt.clock is not None
        now = rt.clock.now()
        rt.deliver(GuildReady(42, now, (7,)))
        rt.deliver(MoodSet(42, "bubbly", now))  # sociable enough to greet for sure
        rt.deliver(PresenceChanged(42, 7, now, activity="Project DIVA Mega Mix"))
        with anyio.fail_after(10):
            await got_send.wait()
        rows: list[dict[str, Any]] = await anyio.to_thread.run_sync(
            request, str(tmp_path / "ctl.sock"), {"type": "list"})
        assert [r["guild_id"] for r in rows] == [42]
        rt.stop()
    [(req, text)] = sent
    assert (req.action, req.channel_id, req.target_user_id) == ("engage_user", 4200, 7)
    assert text and "@everyone" not in text and "<@" not in text
    data = await store.load(42)
    assert data is not None
    state = decode_state(data)
    assert state.last_action == "engage_user"  # the result reached the actor before the end
    assert not (tmp_path / "ctl.sock").exists()


def test_config_keys_reach_the_supervisor() -> None:
    """[runtime] startup_grace_s and [discord] shard_ids/shard_count become the supervisor's
    flags; debug logging turns on the actors' why-not lines; a negative grace is refused."""
    from runtime.core import actor_settings_for
    from runtime.errors import ConfigError

    config = decode_config(CONFIG + 'startup_grace_s = 5\nlog_level = "debug"\n'
                           "[discord]\nshard_ids = [1]\nshard_count = 2\n")

    async def sender(req: ActionRequest, text: str) -> None:
        raise AssertionError("not sent")

    sc = Runtime(config, sender=sender, store=MemoryStore()).supervisor_config
    assert (sc.startup_grace_s, sc.shard_ids, sc.shard_count) == (5.0, (1,), 2)
    assert actor_settings_for(config)(42).explain_idle is True
    assert actor_settings_for(decode_config(CONFIG))(42).explain_idle is False
    with pytest.raises(ConfigError, match="startup_grace_s"):
        decode_config(CONFIG + "startup_grace_s = -1\n")
