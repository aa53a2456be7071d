"""The bot's entry point in a real subprocess: clear one-line errors, and a clean SIGTERM
against the loopback Discord."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine import decode_state
from runtime.store import read_snapshots
from tests.kit.bot_process import FAKE_TOKEN, REPO, RUN
from tests.kit.bot_process import bot_env as _env
from tests.kit.discord_payloads import ALICE, CHANNEL, GUILD, message_create
from tests.kit.fake_discord import FakeDiscord


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_missing_token_is_one_line_and_exit_2() -> None:
    """No DISCORD_TOKEN: one line on stderr naming it, exit status 2, no traceback."""
    proc = _run(["-c", RUN, "bot.example.toml"], _env())
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A bad value: one line naming the file and the dotted path, exit status 2."""
    bad = tmp_path / "bot.toml"
    bad.write_text('[guilds.123]\ntimezone = "Mars/Base"\n')
    proc = _run(["-c", RUN, str(bad)], _env(DISCORD_TOKEN=FAKE_TOKEN))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {bad}: guilds.123.timezone: unknown time zone 'Mars/Base'")


def test_python_m_runtime_run_without_token() -> None:
    """The same through ``python -m runtime run --config bot.example.toml``."""
    pytest.importorskip("runtime.simulate.cli")
    proc = _run(["-m", "runtime", "run", "--config", "bot.example.toml"], _env())
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "DISCORD_TOKEN" in proc.stderr


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_sigterm_against_loopback_discord(tmp_path: Path) -> None:
    """The bot logs in and identifies to the loopback Discord, takes a message, and on
    SIGTERM snapshots every live guild, closes the gateway and exits 0 within the deadline;
    its logs are JSON lines without the token or the message's words."""
    async with FakeDiscord() as fake:
        conf = tmp_path / "bot.toml"
        conf.write_text(
            f"[guilds.{GUILD}]\nautonomous_channel_id = {CHANNEL}\n"
            f'[discord]\napi_base_url = "{fake.api_base}"\ngateway_url = "{fake.gateway_url}"\n'
            f'[store]\npath = "{tmp_path / "bot.sqlite3"}"\n'
            f'[runtime]\nlog_level = "debug"\ncontrol_socket = "{tmp_path / "bot.sock"}"\n'
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", RUN, str(conf), cwd=REPO,
            env=_env(DISCORD_TOKEN=FAKE_TOKEN),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(60):
                await fake.ready.wait()
                await fake.dispatch("MESSAGE_CREATE",
                                    message_create(9100, ALICE, content="secret words"))
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert fake.identifies[0]["token"] == FAKE_TOKEN
    text = out.decode() + err.decode()
    assert FAKE_TOKEN not in text and "secret words" not in text
    events = [json.loads(line)["event"] for line in err.decode().splitlines()]
    assert "bot.signal" in events and events[-1] == "bot.stopped"
    assert events.index("runtime.stopped") < events.index("bot.stopped")
    [row] = [r for r in read_snapshots(tmp_path / "bot.sqlite3") if r.guild_id == GUILD]
    assert decode_state(row.data).human_messages == 1  # the message was counted, then saved


def _conf(tmp_path: Path, body: str) -> Path:
    conf = tmp_path / "bot.toml"
    conf.write_text(body + f'\n[store]\npath = "{tmp_path / "bot.sqlite3"}"\n')
    return conf


@pytest.mark.parametrize(("body", "field"), [
    ('[persona]\npath = "missing-persona.toml"', "persona.path"),
    ('[feeds]\nitems_file = "missing-items.json"', "feeds.items_file"),
])
def test_missing_persona_or_items_file_is_one_line(tmp_path: Path, body: str,
                                                   field: str) -> None:
    """A persona or items file that is not there: one line naming its field, exit 2."""
    conf = _conf(tmp_path, body)
    proc = _run(["-c", RUN, str(conf)], _env(DISCORD_TOKEN=FAKE_TOKEN))
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {conf}: {field}: ") and "missing-" in line


def test_unusable_log_dir_names_its_field(tmp_path: Path) -> None:
    """A log directory that cannot be created is blamed on runtime.log_dir (it used to be
    reported as a control-socket error)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    conf = _conf(tmp_path, f'[runtime]\nlog_dir = "{blocker / "logs"}"')
    proc = _run(["-c", RUN, str(conf)], _env(DISCORD_TOKEN=FAKE_TOKEN))
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: runtime.log_dir: ") and "Traceback" not in proc.stderr


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_taken_control_socket_names_its_field(tmp_path: Path) -> None:
    """A control socket another process serves: one line naming runtime.control_socket."""
    import socket

    path = tmp_path / "bot.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    try:
        conf = _conf(tmp_path, f'[runtime]\ncontrol_socket = "{path}"\n'
                               '[discord]\napi_base_url = "http://127.0.0.1:9/api/v10"')
        proc = await asyncio.to_thread(_run, ["-c", RUN, str(conf)],
                                       _env(DISCORD_TOKEN=FAKE_TOKEN))
    finally:
        server.close()
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: runtime.control_socket: ") and "another process" in line
    assert "Traceback" not in proc.stderr


def test_no_autonomous_channel_is_warned_at_start(tmp_path: Path) -> None:
    """A config where no guild has an autonomous channel gets a warning at start that she
    will never act on her own; one with a channel gets none."""
    from structlog.testing import capture_logs

    from runtime.bot import warn_if_silent
    from runtime.config import load_config

    conf = _conf(tmp_path, "[defaults]\ntimezone = \"UTC\"")
    with capture_logs() as logs:
        warn_if_silent(load_config(conf))
    [warning] = [e for e in logs if e["event"] == "bot.no_autonomous_channel"]
    assert warning["log_level"] == "warning" and "never act on her own" in warning["hint"]
    with capture_logs() as logs:
        warn_if_silent(load_config(_conf(tmp_path, f"[guilds.{GUILD}]\n"
                                                   f"autonomous_channel_id = {CHANNEL}")))
    assert not logs
