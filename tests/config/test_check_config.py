"""``python -m runtime check-config FILE`` in a real subprocess, against a real loopback LLM
server, a real SQLite file and a real PostgreSQL: it validates, probes, says per guild what
she will do, and exits 0 or 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from engine import encode_state, new_state
from runtime.settings.stored import StoredSettings, encode_settings
from runtime.store import open_store
from tests.kit.bot_process import FAKE_TOKEN, REPO, bot_env
from tests.kit.fakeserver import open_fake_server, refused_url
from tests.kit.pg_server import create_database, drop_database

GUILD = 123456789012345678
CHANNEL = 234567890123456789
QUIET_GUILD = 345678901234567890


async def check_config(conf: Path, **env: str) -> tuple[int, str, str]:
    """Run ``python -m runtime check-config`` without blocking the loop (the fake LLM server
    answers from it)."""
    proc = await anyio.run_process(
        [sys.executable, "-m", "runtime", "check-config", str(conf), "--timeout", "5"],
        cwd=REPO, env=bot_env(**env), check=False)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def line_of(out: str, subject: str) -> str:
    (line,) = [ln for ln in out.splitlines() if ln.split()[1:2] == [subject + ":"]]
    return line


def write_config(tmp_path: Path, base_url: str, *, extra: str = "") -> Path:
    conf = tmp_path / "bot.toml"
    conf.write_text(
        f'[llm]\nbackend = "openai"\nbase_url = "{base_url}"\nmodel = "miku-small"\n'
        f'[store]\npath = "bot.sqlite3"\n'
        f"[defaults]\ntimezone = \"Europe/Berlin\"\nquiet_hours = [23, 7]\n"
        f"[guilds.{GUILD}]\nautonomous_channel_id = {CHANNEL}\nchattiness = 0.5\n"
        f"[guilds.{QUIET_GUILD}]\npolicy = \"shadow\"\n" + extra)
    return conf


@pytest.mark.anyio
async def test_a_good_config_says_what_she_will_do_and_exits_0(tmp_path: Path) -> None:
    """The server serves the model, the SQLite store holds snapshots: every check is ok,
    each guild gets its channel, policy, quiet hours and chattiness, a guild without a
    channel is told what is missing, and the exit status is 0."""
    async with open_fake_server() as server, \
            open_store(str(tmp_path / "bot.sqlite3")) as store:
        server.models = [{"id": "miku-small", "owned_by": "me"}]
        await store.save_many([(GUILD, encode_state(new_state(GUILD, 1_800_000_000.0)))])
        conf = write_config(tmp_path, server.base_url)
        code, out, err = await check_config(conf, DISCORD_TOKEN=FAKE_TOKEN)
    assert code == 0, out + err
    assert "serves model 'miku-small'" in line_of(out, "llm.base_url")
    store_line = line_of(out, "store.path")
    assert store_line.split()[0] == "ok" and "1 guild snapshot" in store_line
    guild = line_of(out, f"guilds.{GUILD}")
    assert guild.split()[0] == "ok"
    for fact in (f"channel {CHANNEL}", "v2", "quiet hours 23:00-07:00 Europe/Berlin",
                 "chattiness 0.5"):
        assert fact in guild, guild
    quiet = line_of(out, f"guilds.{QUIET_GUILD}")
    assert quiet.split()[0] == "warning" and "no autonomous channel" in quiet
    assert "shadow" in quiet and f"[guilds.{QUIET_GUILD}] autonomous_channel_id" in quiet
    assert "DISCORD_TOKEN" not in out  # set: nothing to say
    assert out.strip().splitlines()[-1].startswith("0 problems, 1 warning")


@pytest.mark.anyio
async def test_settings_set_from_discord_are_shown_as_such(tmp_path: Path) -> None:
    """What admins set with slash commands (kept in the store) overrides the file: the guild
    line shows the stored chattiness marked as set from Discord, and a guild that only has
    a channel picked from Discord is listed too."""
    picked = 567890123456789012
    async with open_fake_server() as server, \
            open_store(str(tmp_path / "bot.sqlite3")) as store:
        server.models = [{"id": "miku-small", "owned_by": "me"}]
        await store.save_settings(GUILD, encode_settings(StoredSettings(chattiness=0.25)))
        await store.save_settings(picked, encode_settings(StoredSettings(channel_id=42)))
        code, out, err = await check_config(write_config(tmp_path, server.base_url),
                                            DISCORD_TOKEN=FAKE_TOKEN)
    assert code == 0, out + err
    assert "chattiness 0.25 (set from Discord)" in line_of(out, f"guilds.{GUILD}")
    only_stored = line_of(out, f"guilds.{picked}")
    assert only_stored.split()[0] == "ok"
    assert "channel 42 (set from Discord)" in only_stored


@pytest.mark.anyio
async def test_a_server_that_is_down_or_lacks_the_model_exits_2(tmp_path: Path) -> None:
    """No server at base_url, or one that does not serve the model: a problem line naming
    llm.base_url and the cause, exit status 2; a missing token is only a warning."""
    conf = write_config(tmp_path, await refused_url())
    code, out, _ = await check_config(conf)
    assert code == 2
    down = line_of(out, "llm.base_url")
    assert down.split()[0] == "problem" and "server down" in down
    assert line_of(out, "DISCORD_TOKEN").split()[0] == "warning"
    async with open_fake_server() as server:
        server.models = [{"id": "another-model", "owned_by": "me"}]
        code, out, _ = await check_config(write_config(tmp_path, server.base_url))
    assert code == 2
    assert "another-model" in line_of(out, "llm.base_url")


@pytest.mark.anyio
async def test_a_file_that_is_not_a_store_and_an_unwritable_log_dir_are_problems(
        tmp_path: Path) -> None:
    """A store path holding something else, a log_dir that is a file: each a problem line
    naming its field; the file is left as it was (the check opens the store read-only)."""
    (tmp_path / "bot.sqlite3").write_bytes(b"not a database" * 100)
    (tmp_path / "logs").write_text("")
    async with open_fake_server() as server:
        server.models = [{"id": "miku-small", "owned_by": "me"}]
        conf = write_config(tmp_path, server.base_url,
                            extra='[runtime]\nlog_dir = "logs"\n')
        code, out, _ = await check_config(conf, DISCORD_TOKEN=FAKE_TOKEN)
    assert code == 2
    assert line_of(out, "store.path").split()[0] == "problem"
    assert "is a file, not a directory" in line_of(out, "runtime.log_dir")
    assert (tmp_path / "bot.sqlite3").read_bytes() == b"not a database" * 100


@pytest.mark.anyio
async def test_a_missing_store_is_not_created(tmp_path: Path) -> None:
    """A SQLite store that is not there yet is reported as created at the first start,
    and the check does not create it."""
    async with open_fake_server() as server:
        server.models = [{"id": "miku-small", "owned_by": "me"}]
        code, out, _ = await check_config(write_config(tmp_path, server.base_url),
                                          DISCORD_TOKEN=FAKE_TOKEN)
    assert code == 0, out
    assert "the first start creates it" in line_of(out, "store.path")
    assert not (tmp_path / "bot.sqlite3").exists()


@pytest.mark.anyio
async def test_a_running_bots_port_and_socket_are_warned_about(tmp_path: Path) -> None:
    """A metrics port and a control socket something listens on now (this bot, running):
    warnings naming each field, since run would stop on either."""
    import socket

    sock_path = tmp_path / "bot.sock"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as control:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        control.bind(str(sock_path))
        control.listen(1)
        port = taken.getsockname()[1]
        async with open_fake_server() as server:
            server.models = [{"id": "miku-small", "owned_by": "me"}]
            conf = write_config(tmp_path, server.base_url, extra=(
                f'[runtime]\nmetrics_address = "127.0.0.1:{port}"\n'
                f'control_socket = "{sock_path}"\n'))
            code, out, _ = await check_config(conf, DISCORD_TOKEN=FAKE_TOKEN)
    assert code == 0, out
    metrics = line_of(out, "runtime.metrics_address")
    assert metrics.split()[0] == "warning" and f"127.0.0.1:{port}" in metrics
    assert line_of(out, "runtime.control_socket").split()[0] == "warning"


def test_an_invalid_file_is_one_error_line() -> None:
    """A file that does not validate: one line naming the file and the dotted path, exit 2,
    exactly as ``run`` says it."""
    proc = subprocess.run([sys.executable, "-m", "runtime", "check-config",
                           str(REPO / "tests" / "config" / "absent.toml")],
                          cwd=REPO, env=bot_env(), capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "cannot read the config file" in line


@pytest.mark.anyio
async def test_postgresql_store_is_probed_read_only(tmp_path: Path, pg_admin_url: str) -> None:
    """With [store] url: an empty database is reachable and left empty (no tables created);
    an unreachable one is a problem naming store.url."""
    import psycopg

    url = create_database(pg_admin_url, "miku_check_config")
    try:
        async with open_fake_server() as server:
            server.models = [{"id": "miku-small", "owned_by": "me"}]
            conf = write_config(tmp_path, server.base_url).read_text()
            old_base = server.base_url
            conf_path = tmp_path / "pg.toml"
            conf_path.write_text(conf.replace('path = "bot.sqlite3"', f'url = "{url}"'))
            code, out, _ = await check_config(conf_path, DISCORD_TOKEN=FAKE_TOKEN)
        assert code == 0, out
        assert "no tables yet" in line_of(out, "store.url")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('miku_store')").fetchone() == (None,)
        async with open_store(url) as store:  # now the bot's tables, and a setting
            await store.save_settings(GUILD, encode_settings(StoredSettings(policy="v1")))
        async with open_fake_server() as server:
            server.models = [{"id": "miku-small", "owned_by": "me"}]
            conf_path.write_text(conf.replace('path = "bot.sqlite3"', f'url = "{url}"')
                                 .replace(f'base_url = "{old_base}"',
                                          f'base_url = "{server.base_url}"'))
            code, out, _ = await check_config(conf_path, DISCORD_TOKEN=FAKE_TOKEN)
        assert code == 0, out
        assert "connected; 0 guild snapshots" in line_of(out, "store.url")
        assert "v1 (the old timer) (set from Discord)" in line_of(out, f"guilds.{GUILD}")
    finally:
        drop_database(pg_admin_url, "miku_check_config")
    bad = tmp_path / "bad.toml"
    bad.write_text(conf.replace('path = "bot.sqlite3"',
                                'url = "postgresql://miku@127.0.0.1:9/miku"'))
    code, out, _ = await check_config(bad, DISCORD_TOKEN=FAKE_TOKEN)
    assert code == 2
    assert line_of(out, "store.url").split()[0] == "problem"
