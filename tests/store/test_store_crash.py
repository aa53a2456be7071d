"""A real process killed with SIGKILL in the middle of snapshotting leaves an intact store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from engine import decode_state
from runtime.store import SQLiteStore, read_snapshots

WRITER = Path(__file__).with_name("crash_writer.py")
GUILDS = 3000


@pytest.mark.parametrize("kill_after", [1, 4, 9])
def test_sigkill_while_snapshotting(tmp_path: Path, kill_after: int) -> None:
    """After SIGKILL, the store opens intact and holds exactly one whole batch: the last one
    reported committed, or the one after it (committed, killed before it could say so)."""
    path = tmp_path / "crash.db"
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(GUILDS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert child.stdout is not None
    reported = 0
    try:
        for line in child.stdout:  # the child's own signal: a batch is committed
            reported = int(line)
            if reported >= kill_after:
                break
        else:
            pytest.fail(f"writer exited early: {child.stderr.read() if child.stderr else ''}")
        child.send_signal(signal.SIGKILL)
        rest, err = child.communicate()
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == -signal.SIGKILL, err
    reported = max([reported, *(int(x) for x in rest.split())])

    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        check.close()
    rows = read_snapshots(path)
    assert len(rows) == GUILDS
    batches = {decode_state(r.data).human_messages for r in rows}
    assert len(batches) == 1, f"a torn batch: {sorted(batches)[:5]}"
    (batch,) = batches
    assert batch in (reported, reported + 1)

    async def reopen() -> None:  # and it takes writes again, on either backend
        async with SQLiteStore(path) as store:
            await store.save_many([(1, rows[0].data)])
            assert len(await store.load_all_ids()) == GUILDS

    for backend in ("asyncio", "trio"):
        anyio.run(reopen, backend=backend)
