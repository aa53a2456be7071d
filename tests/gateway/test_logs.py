"""Structured logging: JSON lines, redaction, discord.py's logs routed, per-guild files."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from runtime.ops.logs import REDACTED, GuildFiles, configure_logging, redact, register_secret

FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog and the root logger back as they were after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    discord_level = logging.getLogger("discord").level
    yield
    structlog.reset_defaults()
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    logging.getLogger("discord").setLevel(discord_level)


def _lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_redact_drops_content_and_masks_tokens() -> None:
    """Keys named content/text/token vanish; a token-shaped string is masked anywhere."""
    ev = redact(None, "info", {
        "event": f"login with {FAKE_TOKEN}", "content": "hello", "text": "hi", "Token": "x",
        "extra": {"nested": [FAKE_TOKEN], "content": "secret words"}, "guild_id": 5,
    })
    assert ev == {"event": f"login with {REDACTED}", "guild_id": 5,
                  "extra": {"nested": [REDACTED], "content": REDACTED}}


def test_registered_secret_is_masked() -> None:
    """An API key registered as a secret is masked even though it has no token shape."""
    register_secret("sk-local-0123456789")
    ev = redact(None, "info", {"event": "calling with sk-local-0123456789"})
    assert ev["event"] == f"calling with {REDACTED}"


def test_json_lines_with_float_timestamps_and_levels(restore_logging: None) -> None:
    """Each line is one JSON object with a float timestamp; below-level calls are dropped."""
    buf = io.StringIO()
    setup = configure_logging("info", renderer="json", stream=buf, cache=False)
    try:
        log = structlog.get_logger()
        log.debug("hidden")
        with structlog.contextvars.bound_contextvars(guild_id=7, shard_id=0):
            log.info("decided", action="break_silence", content="never", token=FAKE_TOKEN)
    finally:
        setup.close()
    (line,) = _lines(buf)
    assert line["event"] == "decided"
    assert line["guild_id"] == 7 and line["shard_id"] == 0
    assert line["level"] == "info"
    assert isinstance(line["timestamp"], float)
    assert "content" not in line and "token" not in line
    assert FAKE_TOKEN not in buf.getvalue()


def test_discord_stdlib_logs_go_through_structlog(restore_logging: None) -> None:
    """discord.py logs with stdlib logging; those lines come out as redacted JSON too,
    and its DEBUG lines (which carry request bodies) are held back."""
    buf = io.StringIO()
    setup = configure_logging("debug", renderer="json", stream=buf, cache=False)
    try:
        logging.getLogger("discord.gateway").info("Shard ID %s identified with %s", 0, FAKE_TOKEN)
        logging.getLogger("discord.http").debug("POST with {'content': 'hello'}")
        logging.getLogger("discord.client").warning("PyNaCl is not installed, voice will NOT "
                                                    "be supported")
    finally:
        setup.close()
    (line,) = _lines(buf)
    assert line["logger"] == "discord.gateway"
    assert line["event"] == f"Shard ID 0 identified with {REDACTED}"


def test_guild_files_are_bounded(tmp_path: Path, restore_logging: None) -> None:
    """Lines with a guild_id are tee'd to that guild's file; at most N files stay open."""
    buf = io.StringIO()
    setup = configure_logging("info", renderer="json", stream=buf, log_dir=tmp_path,
                              max_open_files=2, cache=False)
    try:
        log = structlog.get_logger()
        for gid in (1, 2, 3, 1):
            log.info("tick", guild_id=gid)
        log.info("no guild")
        assert setup.guild_files is not None and setup.guild_files.open_count == 2
    finally:
        setup.close()
    assert len(_lines(buf)) == 5
    one = (tmp_path / "guild-1.jsonl").read_text().splitlines()
    assert [json.loads(x)["guild_id"] for x in one] == [1, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "guild-1.jsonl", "guild-2.jsonl", "guild-3.jsonl"]


def test_guild_files_reject_zero_capacity(tmp_path: Path) -> None:
    """A GuildFiles that could hold no file open is a configuration mistake."""
    with pytest.raises(ValueError, match="max_open"):
        GuildFiles(tmp_path, 0)


def test_console_renderer_when_asked(restore_logging: None) -> None:
    """The console renderer writes readable text, still redacted."""
    buf = io.StringIO()
    setup = configure_logging("info", renderer="console", stream=buf, cache=False)
    try:
        structlog.get_logger().info("hello", token=FAKE_TOKEN, note=FAKE_TOKEN)
    finally:
        setup.close()
    assert "hello" in buf.getvalue()
    assert FAKE_TOKEN not in buf.getvalue()


def test_console_renderer_redacts_exception_text(restore_logging: None) -> None:
    """A token inside an exception's message is masked on the console too, not only in
    JSON mode (the console renderer used to format tracebacks after redaction)."""
    buf = io.StringIO()
    setup = configure_logging("info", renderer="console", stream=buf, cache=False)
    try:
        try:
            raise RuntimeError(f"login with {FAKE_TOKEN} failed")
        except RuntimeError:
            structlog.get_logger().exception("login_failed")
    finally:
        setup.close()
    text = buf.getvalue()
    assert "login_failed" in text and "RuntimeError" in text
    assert FAKE_TOKEN not in text and REDACTED in text
