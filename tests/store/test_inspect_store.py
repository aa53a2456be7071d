"""ops/inspect.py run as an operator runs it, on a store with a hand-broken row and on a
PostgreSQL store by URL: a table, no traceback."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from engine import encode_state, new_state
from runtime.store import SQLiteStore
from runtime.store.postgres import PostgresStore
from tests.kit.store import NOW

ROOT = Path(__file__).parents[2]


def _inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "ops" / "inspect.py"), *args],
                          capture_output=True, text=True, timeout=60)


def test_a_row_of_wrong_types_is_shown_not_raised(tmp_path: Path) -> None:
    """A TEXT wake_at row is listed with its error beside the good rows, exit 0."""
    path = tmp_path / "s.db"

    async def fill() -> None:
        async with SQLiteStore(path) as store:
            await store.passivate_many([(g, encode_state(new_state(g, NOW)), NOW + 60)
                                        for g in (1, 2)])

    anyio.run(fill)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE snapshots SET wake_at = 'soon' WHERE guild_id = 2")
    conn.commit()
    conn.close()
    done = _inspect("--store", str(path), "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["guild_id"]: r for r in json.loads(done.stdout)["guilds"]}
    assert rows[1]["mood"] != "?" and "wake_at is text" in rows[2]["error"]
    one = _inspect("--store", str(path), "2")
    assert one.returncode == 0 and "Traceback" not in one.stderr


@pytest.mark.anyio
async def test_inspect_reads_a_postgresql_store(pg_url: str) -> None:
    """--store with a postgresql:// URL lists the guilds and shows one in full."""
    async with PostgresStore(pg_url) as store:
        await store.save_many([(g, encode_state(new_state(g, NOW))) for g in (5, 6)])
    done = await anyio.to_thread.run_sync(_inspect, "--store", pg_url, "--json")
    assert done.returncode == 0, done.stderr
    assert [r["guild_id"] for r in json.loads(done.stdout)["guilds"]] == [5, 6]
    one = await anyio.to_thread.run_sync(_inspect, "--store", pg_url, "6", "--json")
    assert json.loads(one.stdout)["guild"]["state"]["guild_id"] == 6
    bad = await anyio.to_thread.run_sync(_inspect, "--store", "postgresql://u:pw@/x")
    assert bad.returncode == 2 and "pw" not in bad.stderr.replace("PGPASSWORD", "")


def test_simulate_leaves_its_guilds_in_a_postgresql_store(pg_url: str) -> None:
    """simulate --store URL runs the V2 run against PostgreSQL and leaves every guild there."""
    from runtime.store import read_snapshots

    done = subprocess.run([sys.executable, "-m", "runtime", "simulate", "--guilds", "4",
                           "--hours", "1", "--seed", "1", "--store", pg_url, "--no-v1",
                           "--quiet"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert len(read_snapshots(pg_url)) == 4
