"""A runtime killed with SIGKILL while it snapshots comes back from an intact store, having
lost at most one snapshot interval."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from actors.actor import ActorSettings
from engine import GuildConfig, decode_state
from runtime.store import SQLiteStore
from runtime.supervisor import Supervisor, SupervisorConfig
from tests.kit.actors import RecordingSink

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys, anyio, structlog
    from actors.actor import ActorSettings
    from actors.events import MessageSeen
    from engine import GuildConfig
    from runtime.store import SQLiteStore
    from runtime.supervisor import Supervisor, SupervisorConfig

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    class Sink:
        def submit(self, request):
            raise RuntimeError("no pool in this test")

    async def main(path):
        settings = ActorSettings(config=GuildConfig(quiet_hours=None, rotate_moods=False))
        async with SQLiteStore(path) as store:
            sup = Supervisor(store=store, settings_for=lambda g: settings, seed=1,
                             config=SupervisorConfig(snapshot_interval_s=3600))
            async with anyio.create_task_group() as tg:
                await tg.start(sup.run, Sink())
                sent = 0
                while True:
                    for _ in range(200):
                        g = 1 + sent % 50
                        sup.deliver(MessageSeen(g, 1, 7, sup.clock.now()))
                        sent += 1
                    await anyio.wait_all_tasks_blocked()
                    await sup.snapshot()  # a snapshot interval, back to back
                    # Everything up to here is in the store: tell the parent.
                    print(sent, flush=True)

    anyio.run(main, sys.argv[1])
""")


@pytest.mark.parametrize("kill_after", [3, 25])
def test_sigkill_while_snapshotting_leaves_an_intact_store(tmp_path: Path,
                                                          kill_after: int) -> None:
    """Kill -9 mid-snapshot; a new supervisor restores every guild without error, and the
    messages counted are at least those of the last snapshot reported before the kill."""
    path = tmp_path / "kill.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    reported = 0
    try:
        for _ in range(kill_after):
            line = proc.stdout.readline()
            assert line, "the child died before it was killed"
            reported = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    async def restore() -> int:
        async with SQLiteStore(path) as store:
            settings = ActorSettings(config=GuildConfig(quiet_hours=None, rotate_moods=False))
            sup = Supervisor(store=store, seed=1,
                             settings_for=lambda g: settings, config=SupervisorConfig())
            async with anyio.create_task_group() as tg:
                await tg.start(sup.run, RecordingSink())
                total = 0
                for g in range(1, 51):
                    detail = await sup.guild_detail(g)
                    assert detail is not None
                    total += detail["state"]["human_messages"]
                tg.cancel_scope.cancel()
            rows = {g: await store.load(g) for g in range(1, 51)}
            assert all(decode_state(d) for d in rows.values() if d is not None)
            return total

    counted = anyio.run(restore)
    # Everything reported was committed; at most the batch in progress (one interval) is lost.
    assert reported <= counted <= reported + 200
