"""Fatal and start-up errors of the bot, in a real subprocess against the loopback Discord:
each is one line on stderr saying what to do, exit status 2, no traceback; no network at
start is retried with back-off instead."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import discord
import pytest

from runtime.bot import fatal_gateway_message
from tests.kit.bot_process import FAKE_TOKEN, REPO, RUN
from tests.kit.bot_process import bot_env as _env
from tests.kit.discord_payloads import CHANNEL, GUILD
from tests.kit.fake_discord import MEMBERS, MESSAGE_CONTENT, FakeDiscord

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]


def _config(tmp_path: Path, api_base: str, gateway_url: str, extra: str = "") -> Path:
    conf = tmp_path / "bot.toml"
    conf.write_text(
        f"[guilds.{GUILD}]\nautonomous_channel_id = {CHANNEL}\n"
        f'[discord]\napi_base_url = "{api_base}"\ngateway_url = "{gateway_url}"\n{extra}'
        f'[store]\npath = "{tmp_path / "bot.sqlite3"}"\n'
        f'[runtime]\ncontrol_socket = "{tmp_path / "bot.sock"}"\n')
    return conf


async def _run_against(fake: FakeDiscord, conf: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN, str(conf), cwd=REPO, env=_env(DISCORD_TOKEN=FAKE_TOKEN),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(60):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def _error_line(stderr: str) -> str:
    """The last line, which must be the one error line; every line before it is a JSON log
    line (no traceback)."""
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    for line in lines[:-1]:
        json.loads(line)
    return lines[-1]


async def test_refused_token_is_one_line(tmp_path: Path) -> None:
    """A token Discord answers 401 to: one line naming DISCORD_TOKEN and where to get a
    new one, exit 2."""
    async with FakeDiscord(token="another-bots-token") as fake:
        status, err = await _run_against(fake, _config(tmp_path, fake.api_base,
                                                       fake.gateway_url))
    assert status == 2
    line = _error_line(err)
    assert line.startswith("error: Discord refused the token in DISCORD_TOKEN (401")
    assert "Developer Portal" in line and FAKE_TOKEN not in err


async def test_token_reset_before_identify_is_4004(tmp_path: Path) -> None:
    """IDENTIFY closed with 4004 (the token was reset after login): one line, exit 2."""
    async with FakeDiscord(token=FAKE_TOKEN, gateway_token="reset-token") as fake:
        status, err = await _run_against(fake, _config(tmp_path, fake.api_base,
                                                       fake.gateway_url))
    assert fake.closed_with == [4004]
    assert status == 2
    assert _error_line(err).startswith(
        "error: Discord closed the gateway with 4004 (authentication failed")


async def test_disallowed_intents_name_the_intent_to_enable(tmp_path: Path) -> None:
    """Presence Intent not enabled in the portal: 4014, one line naming it and where, exit 2."""
    async with FakeDiscord(privileged_intents=MEMBERS | MESSAGE_CONTENT) as fake:
        status, err = await _run_against(fake, _config(tmp_path, fake.api_base,
                                                       fake.gateway_url))
    assert fake.closed_with == [4014]
    assert status == 2
    line = _error_line(err)
    assert line.startswith("error: Discord closed the gateway with 4014")
    assert "'Presence Intent'" in line and "Privileged Gateway Intents" in line


async def test_sharding_required_is_4011(tmp_path: Path) -> None:
    """More guilds than a shard may hold: 4011, one line saying to raise shard_count."""
    async with FakeDiscord(max_guilds_per_shard=0) as fake:
        status, err = await _run_against(fake, _config(tmp_path, fake.api_base,
                                                       fake.gateway_url))
    assert fake.closed_with == [4011]
    assert status == 2
    assert "shard_count" in _error_line(err)


async def test_no_network_at_start_is_retried_with_back_off(tmp_path: Path) -> None:
    """Discord unreachable at start: one warning line per attempt with the wait before the
    next (no traceback, no blame on another field); SIGTERM still ends it cleanly."""
    async with FakeDiscord() as fake:
        api_base, gateway_url = fake.api_base, fake.gateway_url
    # The stand-in is closed: its port refuses connections, as a host with no network does.
    conf = _config(tmp_path, api_base, gateway_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN, str(conf), cwd=REPO, env=_env(DISCORD_TOKEN=FAKE_TOKEN),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    attempts: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(60):
            while len(attempts) < 2:
                line = await proc.stderr.readline()
                assert line, "the bot exited instead of retrying"
                record = json.loads(line)
                if record["event"] == "bot.connect_failed":
                    attempts.append(record)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, rest = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert all(a["level"] == "warning" and a["step"] == "login" for a in attempts)
    assert float(attempts[1]["retry_in_s"]) > float(attempts[0]["retry_in_s"])  # type: ignore[arg-type]
    assert proc.returncode == 0
    assert "Traceback" not in rest.decode()


class _Socket:
    close_code = None


@pytest.mark.parametrize(("code", "words"), [
    (4010, "shard_ids entry must be below shard_count"),
    (4012, "upgrade"),
    (4013, "invalid intents"),
])
async def test_other_fatal_close_codes_have_their_line(code: int, words: str) -> None:
    """Every close code Discord documents as fatal maps to a line saying what to do."""
    client = discord.Client(intents=discord.Intents.none())
    exc = discord.ConnectionClosed(_Socket(), shard_id=0, code=code)  # type: ignore[arg-type]
    message = fatal_gateway_message(exc, client)  # type: ignore[arg-type]
    assert message is not None and message.startswith(f"Discord closed the gateway with {code}")
    assert words in message
    assert fatal_gateway_message(RuntimeError("a bug"), client) is None  # type: ignore[arg-type]
