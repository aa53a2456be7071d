"""Start-up errors name their cause: the field, the path, and what is wrong with it, on one
line with exit status 2 (``python -m runtime run`` in a real subprocess), before anything
connects anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.config import decode_config
from runtime.core import Runtime
from runtime.errors import StartupError
from runtime.store import MemoryStore
from tests.kit.bot_process import FAKE_TOKEN, REPO, bot_env

#: Nothing listens on port 9 (discard): the bot would fail to reach "Discord" if it got
#: that far, so a test that passes proves the check came first.
OFFLINE = '[discord]\napi_base_url = "http://127.0.0.1:9/api/v10"\n'


def run_bot(conf: Path) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "runtime", "run", "--config", str(conf)],
                          cwd=REPO, env=bot_env(DISCORD_TOKEN=FAKE_TOKEN),
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, proc.stderr


def one_line(stderr: str) -> str:
    """The only line on stderr that is not a JSON log line."""
    lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith("{")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def write(tmp_path: Path, body: str) -> Path:
    conf = tmp_path / "bot.toml"
    conf.write_text(OFFLINE + body)
    return conf


def test_store_in_a_missing_directory_names_the_directory(tmp_path: Path) -> None:
    """A SQLite file under a directory that does not exist: the field and that directory
    (it used to be SQLite's "unable to open database file")."""
    code, err = run_bot(write(tmp_path, '[store]\npath = "nodir/bot.sqlite3"\n'))
    line = one_line(err)
    assert code == 2
    assert line.startswith("error: store.path: ")
    assert f"directory '{tmp_path / 'nodir'}' does not exist" in line


def test_store_under_a_file_says_so(tmp_path: Path) -> None:
    """A store path whose directory is a file: says it is a file."""
    (tmp_path / "afile").write_text("")
    code, err = run_bot(write(tmp_path, '[store]\npath = "afile/bot.sqlite3"\n'))
    line = one_line(err)
    assert code == 2 and line.startswith("error: store.path: ")
    assert f"'{tmp_path / 'afile'}' is a file, not a directory" in line


@pytest.mark.skipif(not Path("/proc/sys").is_dir(), reason="needs Linux's /proc/sys")
def test_store_in_a_read_only_directory_says_not_writable(tmp_path: Path) -> None:
    """A state directory the process cannot write (as /etc is under the unit's
    ProtectSystem=strict; /proc/sys is read-only even for root): named, with the hint to
    set runtime.state_dir."""
    code, err = run_bot(write(tmp_path, '[runtime]\nstate_dir = "/proc/sys"\n'
                                        f'control_socket = "{tmp_path}/bot.sock"\n'))
    line = one_line(err)
    assert code == 2 and line.startswith("error: store.path: ")
    assert "directory '/proc/sys' is not writable" in line and "runtime.state_dir" in line


def test_store_url_errors_say_store_url(tmp_path: Path, pg_admin_url: str) -> None:
    """With [store] url, what the owner must fix in the store (here a database of a newer
    layout) is blamed on store.url, not store.path. (A store that cannot be reached is
    waited for, not an error: tests/faults.)"""
    import uuid

    import anyio
    import psycopg

    from runtime.store import PostgresStore
    from tests.kit import pg_server

    async def make_store(url: str) -> None:
        async with PostgresStore(url):
            pass

    name = f"miku_newer_{uuid.uuid4().hex[:10]}"
    url = pg_server.create_database(pg_admin_url, name)
    try:
        anyio.run(make_store, url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE miku_store SET version = 99")
        code, err = run_bot(write(tmp_path, f'[store]\nurl = "{url}"\n'))
    finally:
        pg_server.drop_database(pg_admin_url, name)
    last = err.strip().splitlines()[-1]
    assert code == 2, err
    assert last.startswith("error: store.url: ") and "store.path" not in last, err
    assert "version 99 is newer" in last, err


def test_control_socket_in_a_missing_directory_names_its_path(tmp_path: Path) -> None:
    """The control socket's directory is missing: the field, the socket's directory."""
    code, err = run_bot(write(tmp_path, '[runtime]\ncontrol_socket = "run/bot.sock"\n'))
    line = one_line(err)
    assert code == 2 and line.startswith("error: runtime.control_socket: ")
    assert f"'{tmp_path / 'run'}' does not exist" in line


def test_control_socket_path_too_long_says_the_limit(tmp_path: Path) -> None:
    """A Unix socket path longer than the kernel takes: its length and the limit."""
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    code, err = run_bot(write(tmp_path, f'[runtime]\ncontrol_socket = "{deep}/bot.sock"\n'))
    line = one_line(err)
    assert code == 2 and line.startswith("error: runtime.control_socket: ")
    assert "107 bytes" in line


def test_log_dir_that_is_a_file_says_so(tmp_path: Path) -> None:
    """runtime.log_dir naming a file: says it is a file (it used to be "File exists")."""
    (tmp_path / "logs").write_text("")
    code, err = run_bot(write(tmp_path, '[runtime]\nlog_dir = "logs"\n'))
    line = one_line(err)
    assert code == 2
    assert line == (f"error: runtime.log_dir: '{tmp_path / 'logs'}' is a file, not a "
                    "directory")


@pytest.mark.anyio
async def test_runtime_names_the_control_sockets_path_when_it_cannot_listen(
        tmp_path: Path) -> None:
    """Past every check (a directory that vanished in between): the runtime's own error
    still names the socket's path, not only "No such file or directory"."""
    sock = tmp_path / "gone" / "bot.sock"
    config = decode_config(f'[runtime]\ncontrol_socket = "{sock}"\n')

    async def sender(*_: object) -> None:
        pass

    rt = Runtime(config, sender=sender, store=MemoryStore())
    caught: list[BaseException] = []
    try:
        await rt.run()
    except* StartupError as group:  # the runtime's task group wraps it
        caught += group.exceptions
    [error] = caught
    assert isinstance(error, StartupError) and error.field == "runtime.control_socket"
    assert str(sock) in error.detail
