"""The PostgreSQL store's tables, layout version and migrations, and its URL rules.

The layout version lives in the table ``miku_store`` (``name = 'layout'``); a database without
it gets the tables (under an advisory lock, so processes starting together create them once),
an older layout is upgraded in place in one transaction, a newer one is refused. The columns
are typed (BIGINT, BYTEA, DOUBLE PRECISION) and guild ids checked by the database, so the
hand-edited rows of SQLite cannot happen here.

``snapshots`` leaves half of each page free (fillfactor 50): a periodic batch rewrites most
rows, and a new row version that fits on its page is a HOT update (no index write). It halved
the upsert of 100,000 updated rows (4.4 s to 2.0 s on the shared test machine), for twice the
table's pages.

A password never travels in the URL: it would end up in config files, process listings and
error messages. libpq reads it from ``PGPASSWORD``, ``PGPASSFILE`` / ``~/.pgpass`` or the URL's
``passfile=`` parameter; a URL carrying one is refused, and shown redacted.
"""

from __future__ import annotations

import re
from typing import Any

from runtime.store.contract import NotAStoreError, StoreError

__all__ = ["PG_SCHEMA_VERSION", "check_url", "ensure_schema", "redact_url"]

#: The layout of the PostgreSQL tables (its own numbering; SQLite's is ``user_version``).
PG_SCHEMA_VERSION = 2
#: Any constant of our own: serialises creation and migration across processes.
_LOCK_KEY = 0x4D696B75

_V1 = """
CREATE TABLE miku_store (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE snapshots (
    guild_id BIGINT PRIMARY KEY CHECK (guild_id > 0),
    data BYTEA NOT NULL,
    saved_at DOUBLE PRECISION NOT NULL,
    wake_at DOUBLE PRECISION,
    removed_at DOUBLE PRECISION
) WITH (fillfactor = 50);
CREATE INDEX snapshots_removed ON snapshots (removed_at) WHERE removed_at IS NOT NULL;
CREATE TABLE put_aside (
    id BIGSERIAL PRIMARY KEY,
    guild_id BIGINT NOT NULL,
    data BYTEA NOT NULL,
    error TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX put_aside_guild ON put_aside (guild_id);
CREATE TABLE dead_letters (
    id BIGSERIAL PRIMARY KEY,
    guild_id BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    traceback TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX dead_letters_guild ON dead_letters (guild_id);
CREATE TABLE settings (
    guild_id BIGINT PRIMARY KEY CHECK (guild_id > 0),
    data BYTEA NOT NULL,
    saved_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE optouts (
    user_id BIGINT PRIMARY KEY CHECK (user_id > 0),
    at DOUBLE PRECISION NOT NULL
);
CREATE TABLE leases (
    shard_id INTEGER PRIMARY KEY,
    shard_count INTEGER NOT NULL,
    owner TEXT NOT NULL,
    fence BIGINT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
INSERT INTO miku_store (name, version) VALUES ('layout', 1);
"""

#: Version N-1 -> N, in order. Each runs in the transaction that sets the version.
MIGRATIONS: dict[int, str] = {
    # 2: what the processes of one bot do once between them (``pg_once``): the command
    # tree's hash and who is syncing it, the last IDENTIFY per max_concurrency bucket.
    2: """
CREATE TABLE once_rows (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    done BOOLEAN NOT NULL,
    at DOUBLE PRECISION NOT NULL
)
""",
}

_PASSWORD_IN_NETLOC = re.compile(r"^(?P<scheme>postgres(?:ql)?://)(?P<user>[^:@/]*):[^@/]*@")
_PASSWORD_PARAM = re.compile(r"(?i)([?&]password=)[^&]*")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for every message that shows it)."""
    url = _PASSWORD_IN_NETLOC.sub(r"\g<scheme>\g<user>:***@", url)
    return _PASSWORD_PARAM.sub(r"\1***", url)


def check_url(url: str) -> str:
    """``url`` if it is a PostgreSQL URL without a password; raises ``StoreError`` otherwise
    (the message shows the URL redacted)."""
    import psycopg.conninfo

    shown = redact_url(url)
    if not url.startswith(("postgresql://", "postgres://")):
        raise StoreError(shown, "not a PostgreSQL URL (postgresql://user@host/dbname)")
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreError(shown, f"invalid PostgreSQL URL: {redact_url(str(exc))}") from None
    if params.get("password"):
        raise StoreError(shown, "the URL carries a password: remove it and give it to libpq "
                                "in PGPASSWORD, or a password file (PGPASSFILE, ~/.pgpass, "
                                "or ?passfile=PATH)")
    return url


def ensure_schema(conn: Any, shown: str) -> int:
    """Create the tables in a database without them, or upgrade an older layout, in one
    transaction under an advisory lock. Returns the layout version. Raises
    ``NotAStoreError`` for a newer layout or foreign tables of our names."""
    import psycopg

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        exists = conn.execute("SELECT to_regclass('miku_store') IS NOT NULL").fetchone()[0]
        if not exists:
            try:
                with conn.transaction():  # a savepoint: a foreign table keeps its own error
                    for stmt in _V1.split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
            except psycopg.errors.DuplicateTable as exc:
                raise NotAStoreError(shown, f"the database has tables of our names but no "
                                            f"miku_store marker ({exc.diag.message_primary})"
                                     ) from None
            return 1 if not MIGRATIONS else _migrate(conn, 1)
        row = conn.execute("SELECT version FROM miku_store WHERE name = 'layout'").fetchone()
        if row is None:
            raise NotAStoreError(shown, "miku_store has no layout row")
        version = int(row[0])
        if version > PG_SCHEMA_VERSION:
            raise NotAStoreError(
                shown, f"store layout version {version} is newer than this build's "
                       f"{PG_SCHEMA_VERSION}: run the newer build, or restore an older copy")
        return _migrate(conn, version)


def _migrate(conn: Any, version: int) -> int:
    while version < PG_SCHEMA_VERSION:
        for stmt in MIGRATIONS[version + 1].split(";"):
            if stmt.strip():
                conn.execute(stmt)
        version += 1
        conn.execute("UPDATE miku_store SET version = %s WHERE name = 'layout'", (version,))
    return version
