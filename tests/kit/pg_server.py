"""A throwaway PostgreSQL server for the tests: Debian's binaries, a Unix socket, no TCP.

``MIKU_TEST_PG_URL`` names a server to use instead (a URL of a role that may create
databases). Otherwise ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` (or the
PATH) make a cluster in a temporary directory that listens only on a socket in that directory;
as root they run as the ``postgres`` user (PostgreSQL refuses to run as root).

When neither is there the PostgreSQL tests skip with the reason, except when
``MIKU_REQUIRE_PG=1`` or ``CI=true``: then they fail, so CI cannot pass them by skipping.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Unavailable(Exception):
    """No PostgreSQL server for the tests, and why."""


def required() -> bool:
    """Whether a missing server is a failure rather than a skip."""
    return os.environ.get("MIKU_REQUIRE_PG") == "1" or os.environ.get("CI") == "true"


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise Unavailable("no PostgreSQL binaries (initdb) in /usr/lib/postgresql/*/bin or on the "
                      "PATH: apt-get install postgresql, or set MIKU_TEST_PG_URL")


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable("running as root and there is no 'postgres' user to run the "
                          "server as") from None
    return ["runuser", "-u", "postgres", "--", *argv]


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise Unavailable(f"{what} failed ({done.returncode}): "
                          f"{(done.stderr or done.stdout).strip()[-400:]}")


@contextmanager
def server() -> Iterator[str]:
    """Yield an admin URL of a running server (the environment's, or a throwaway one that is
    stopped and deleted on the way out). Raises ``Unavailable`` with the reason."""
    given = os.environ.get("MIKU_TEST_PG_URL")
    if given:
        yield given
        return
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="miku-pg-"))
    try:
        if os.geteuid() == 0:  # the server runs as postgres: the directory must be its own
            _as_postgres([])
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
        root.chmod(0o700)
        data = root / "data"
        _run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                           "-U", "postgres", "-E", "UTF8", "--no-instructions"]), "initdb")
        # No TCP at all; fsync off: a test cluster is thrown away, and it makes CREATE
        # DATABASE (one per test) fast.
        opts = (f"-c listen_addresses='' -c unix_socket_directories='{root}' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        _run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts,
                           "-l", str(root / "server.log"), "-w", "-t", "60", "start"]),
             "pg_ctl start")
        try:
            yield f"postgresql://postgres@/postgres?host={root}"
        finally:
            subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m",
                                         "immediate", "-w", "stop"]),
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def database_url(admin_url: str, name: str) -> str:
    """The admin URL pointed at database ``name``."""
    import psycopg.conninfo

    params = psycopg.conninfo.conninfo_to_dict(admin_url)
    params["dbname"] = name
    host = params.pop("host", None)
    user = params.pop("user", "")
    port = params.pop("port", None)
    params.pop("dbname")
    netloc = f"{user}@" if user else ""
    if host and not str(host).startswith("/"):
        netloc += str(host) + (f":{port}" if port else "")
        host = None
    query = "&".join([*(f"{k}={v}" for k, v in params.items()),
                      *([f"host={host}"] if host else []),
                      *([f"port={port}"] if port and host else [])])
    return f"postgresql://{netloc}/{name}" + (f"?{query}" if query else "")


def create_database(admin_url: str, name: str) -> str:
    """Create an empty database ``name`` (dropping one of that name) and return its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` (closing its connections)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
