"""The PostgreSQL store's own behaviour on a real server: URLs and passwords, layout versions,
the offline readers, a server that is not there."""

from __future__ import annotations

import psycopg
import pytest
from structlog.testing import capture_logs

from runtime.config import decode_config
from runtime.errors import ConfigError
from runtime.store import (
    NotAStoreError,
    StoreError,
    iter_snapshots,
    open_store,
    pg_schema,
    read_dead_letters,
    read_put_aside,
    read_snapshots,
)
from runtime.store.postgres import PostgresStore
from runtime.store.sqlite import SQLiteStore
from tests.kit.store import NOW

pytestmark = pytest.mark.anyio


def test_a_password_in_the_url_is_refused_and_never_shown() -> None:
    """A URL carrying a password is refused by the store and the config, and every message
    shows it redacted."""
    for url in ("postgresql://miku:s3cret@db:5432/miku",
                "postgresql://db/miku?user=miku&password=s3cret"):
        with pytest.raises(StoreError) as info:
            PostgresStore(url)
        assert "s3cret" not in str(info.value) and "PGPASSWORD" in str(info.value)
        with pytest.raises(ConfigError) as cfg:
            decode_config(f'[store]\nurl = "{url}"\n')
        assert "s3cret" not in str(cfg.value) and "store.url" in str(cfg.value)
    assert pg_schema.redact_url("postgresql://a:b@h/d") == "postgresql://a:***@h/d"
    with pytest.raises(ConfigError, match=r"store\.path"):
        decode_config('[store]\nurl = "/var/lib/miku.sqlite3"\n')


def test_open_store_picks_the_store_by_its_name(tmp_path: object) -> None:
    """A postgresql:// URL opens the PostgreSQL store, anything else a SQLite file."""
    assert isinstance(open_store("postgresql://miku@db/miku"), PostgresStore)
    assert isinstance(open_store(f"{tmp_path}/s.db"), SQLiteStore)


async def test_no_server_is_one_clear_error(tmp_path: object) -> None:
    """A server that is not there is one StoreError with libpq's reason, no password.
    (No socket in the folder: every connection attempt fails at once, so the pool's wait is
    all this costs; 0.2 s of it, not the 2 s this test used to wait.)"""
    store = PostgresStore(f"postgresql://nobody@/miku?host={tmp_path}", connect_timeout_s=0.2)
    with pytest.raises(StoreError, match="cannot connect") as info:
        await store.open()
    assert "No such file" in str(info.value) or "connect" in str(info.value)


async def test_a_newer_layout_is_refused(pg_url: str) -> None:
    """A database of a newer layout is refused with both versions named, and left alone."""
    async with PostgresStore(pg_url):
        pass
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE miku_store SET version = 99")
    with pytest.raises(NotAStoreError, match=r"version 99 is newer than this build's 2"):
        await PostgresStore(pg_url).open()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM miku_store").fetchone()[0] == 99


async def test_an_older_layout_is_upgraded_in_place(pg_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A database written by an older layout is upgraded by the next build's migration, in
    place, its rows kept (a migration 3 stands in for the next one)."""
    async with PostgresStore(pg_url, clock=lambda: NOW) as store:
        await store.save_many([(5, b"five")])
    monkeypatch.setattr(pg_schema, "PG_SCHEMA_VERSION", 3)
    monkeypatch.setattr(pg_schema, "MIGRATIONS",
                        {**pg_schema.MIGRATIONS, 3: "ALTER TABLE snapshots ADD COLUMN note TEXT"})
    async with PostgresStore(pg_url) as store:
        assert await store.load(5) == b"five"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM miku_store").fetchone()[0] == 3
        assert conn.execute("SELECT note FROM snapshots").fetchone() == (None,)
    async with PostgresStore(pg_url) as store:  # once upgraded, nothing more to do
        assert await store.load(5) == b"five"


async def test_foreign_tables_are_refused(pg_url: str) -> None:
    """A database that has a table of our names but is not a store is refused, untouched."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE snapshots (id int)")
    with pytest.raises(NotAStoreError, match="tables of our names"):
        await PostgresStore(pg_url).open()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('miku_store')").fetchone() == (None,)


async def test_offline_readers_take_a_url(pg_url: str, pg_admin_url: str) -> None:
    """read_snapshots, iter_snapshots, read_dead_letters and read_put_aside read a
    PostgreSQL store by its URL, removed rows included."""
    async with PostgresStore(pg_url, clock=lambda: NOW) as store:
        await store.passivate_many([(g, b"s%d" % g, NOW + g) for g in range(1, 2501)])
        await store.mark_removed(3, NOW + 1)
        await store.dead_letter(2, "MessageSeen", "tb", NOW)
        await store.put_aside(1, b"s1", "corrupt")
    rows = list(iter_snapshots(pg_url))
    assert len(rows) == 2499 and rows[0].guild_id == 2 and rows[-1].wake_at == NOW + 2500
    assert read_snapshots(pg_url, 3)[0].removed_at == NOW + 1
    assert read_snapshots(pg_url, 1) == []
    assert [d.event_type for d in read_dead_letters(pg_url, 2)] == ["MessageSeen"]
    assert [(p.guild_id, p.error) for p in read_put_aside(pg_url)] == [(1, "corrupt")]
    with pytest.raises(NotAStoreError, match="no miku_store"):
        read_snapshots(pg_admin_url)  # the server's own database is no store


async def test_a_large_batch_is_one_statement(pg_url: str) -> None:
    """20,000 rows are saved in one batch and read back in order."""
    async with PostgresStore(pg_url) as store:
        await store.save_many([(g, b"x" * 100) for g in range(1, 20_001)])
        wakeups = await store.load_wakeups()
        assert len(wakeups) == 20_000 and wakeups[-1] == (20_000, None)
        assert store.statistics().batches == 1


async def test_nothing_logs_the_url_password(pg_url: str) -> None:
    """The store logs nothing of its own with the URL in it."""
    with capture_logs() as logs:
        async with PostgresStore(pg_url) as store:
            await store.save_many([(1, b"x")])
    assert all("password" not in str(e) for e in logs)


async def test_layout_1_gets_the_once_rows(pg_url: str) -> None:
    """A store written by layout 1 (before ``once_rows``) is upgraded to 2 with the table."""
    async with PostgresStore(pg_url):
        pass
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE once_rows")
        conn.execute("UPDATE miku_store SET version = 1")
    async with PostgresStore(pg_url):
        pass
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM miku_store").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM once_rows").fetchone()[0] == 0
