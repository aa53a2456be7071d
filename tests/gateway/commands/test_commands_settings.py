"""Each admin setting from Discord: the admin path, the refused member, a bad value named
with the valid ones, and the value still there after a restart (the same SQLite file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.kit.cmdkit import MEMBER, running_bot
from tests.kit.discord_payloads import BOB, CHANNEL, GUILD

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

FILE = f"""
[defaults]
quiet_hours = []
[guilds.{GUILD}]
autonomous_channel_id = {CHANNEL}
"""

# (subcommand, good options, answer pattern, (key, value) in describe(), bad options,
#  bad answer pattern)
CASES: list[tuple[str, dict[str, Any], str, tuple[str, Any], dict[str, Any], str]] = [
    ("chattiness", {"level": 1.5}, r"Chattiness set to 1\.5 \(was 1\)\.",
     ("chattiness", 1.5), {"level": 3.0}, r"a number from 0 to 2"),
    ("quiet-hours", {"start": 23, "end": 7}, r"Quiet hours set to 23:00–07:00 \(UTC\); "
     r"were off\.", ("quiet_hours", [23, 7]), {"start": 5, "end": 5},
     r"two different hours"),
    ("timezone", {"name": "Europe/Berlin"}, r"Time zone set to Europe/Berlin \(was UTC\)\.",
     ("timezone", "Europe/Berlin"), {"name": "Mars/Olympus"}, r"IANA name such as 'UTC'"),
    ("policy", {"name": "shadow"}, r"Policy set to shadow \(was v2\)\.",
     ("policy", "shadow"), {"name": "v3"}, r"valid: v2, v1, shadow"),
    ("mood", {"name": "bubbly", "hours": 2.0}, r"Mood set to bubbly until <t:.*, for 2 hours; then",
     ("mood", "bubbly"), {"name": "grumpy", "hours": 1.0}, r"unknown mood 'grumpy'; valid: "),
    ("pause", {"hours": 2.0}, r"Paused for 2 hours: no messages of her own until <t:\d+:f>"
     r".*She still answers", ("pause", "set"), {"hours": 0.0}, r"above 0 and at most 720"),
]


@pytest.mark.parametrize(("sub", "good", "answer", "expect", "bad", "refusal"), CASES,
                         ids=[c[0] for c in CASES])
async def test_admin_sets_member_is_refused_bad_value_named_and_it_persists(
        tmp_path: Path, sub: str, good: dict[str, Any], answer: str, expect: tuple[str, Any],
        bad: dict[str, Any], refusal: str) -> None:
    """A member is refused (Manage Server), a bad value changes nothing and names the valid
    ones, the admin's value applies at once with source "command", and a restart keeps it."""
    key, value = expect
    async with running_bot(tmp_path, FILE) as bot:
        settings = bot.runtime.settings
        before = settings.describe(GUILD)[key]
        cb = await bot.command(sub, good, user_id=BOB, permissions=MEMBER)
        assert cb.ephemeral and cb.content == "This needs the Manage Server permission."
        cb = await bot.command(sub, bad)
        assert cb.ephemeral and cb.content.startswith("Nothing changed: ")
        assert re.search(refusal, cb.content), cb.content
        assert settings.describe(GUILD)[key] == before
        cb = await bot.command(sub, good)
        assert cb.ephemeral and re.search(answer, cb.content), cb.content
        after = settings.describe(GUILD)[key]
        assert after["source"] == "command"
        assert after["value"] is not None if value == "set" else after["value"] == value
        actor = settings.settings_for(GUILD)
        if sub == "pause":
            assert not actor.config.enabled
        if sub == "mood":
            assert not actor.config.rotate_moods
            detail = await bot.runtime.supervisor.guild_detail(GUILD)
            assert detail is not None and detail["mood"] == "bubbly"
    async with running_bot(tmp_path, FILE) as bot:
        again = bot.runtime.settings.describe(GUILD)[key]
        assert again == after


async def test_resume_ends_a_pause_and_says_so(tmp_path: Path) -> None:
    """/miku resume after a pause lets her act again; a second resume says nothing changed;
    a member may not resume."""
    async with running_bot(tmp_path, FILE) as bot:
        await bot.command("pause", {"hours": 5.0})
        cb = await bot.command("resume", user_id=BOB, permissions=MEMBER)
        assert "Manage Server" in cb.content
        assert bot.runtime.settings.effective(GUILD).paused_until is not None
        cb = await bot.command("resume")
        assert cb.content == "Resumed: she may speak on her own again."
        assert bot.runtime.settings.settings_for(GUILD).config.enabled
        cb = await bot.command("resume")
        assert cb.content == "She was not paused; nothing changed."
    async with running_bot(tmp_path, FILE) as bot:
        assert bot.runtime.settings.effective(GUILD).paused_until is None


async def test_quiet_hours_off_and_half_given_hours(tmp_path: Path) -> None:
    """``off: True`` removes quiet hours; a start without an end is refused saying what to
    give."""
    async with running_bot(tmp_path, FILE) as bot:
        cb = await bot.command("quiet-hours", {"start": 22})
        assert cb.content.startswith("Nothing changed: give start and end")
        cb = await bot.command("quiet-hours", {"off": True})
        assert cb.content.startswith("Quiet hours set to off")
        assert bot.runtime.settings.settings_for(GUILD).config.quiet_hours is None


async def test_timezone_autocomplete(tmp_path: Path) -> None:
    """Autocomplete offers matching IANA zones (at most 25); moods and policies are static
    choices instead (tests/gateway/commands/test_commands_tree.py)."""
    async with running_bot(tmp_path, FILE) as bot:
        zones = await bot.autocomplete("timezone", "name", "europe/ber")
        assert zones == ["Europe/Berlin"]
        assert len(await bot.autocomplete("timezone", "name", "a")) == 25


async def test_a_locked_key_is_refused_and_status_says_locked(tmp_path: Path) -> None:
    """A key the guild table locks cannot be changed from Discord; the answer names the file
    key, and status shows it as locked."""
    async with running_bot(tmp_path, FILE + 'locked = ["policy"]\n') as bot:
        cb = await bot.command("policy", {"name": "v1"})
        assert cb.content == ("Nothing changed: policy is locked by the bot's config file "
                              f"(guilds.{GUILD}.locked); the bot's operator can change it "
                              "there.")
        assert bot.runtime.settings.effective(GUILD).policy == "v2"
        cb = await bot.command("status")
        assert "- policy: v2 (file: defaults, locked)" in cb.content


async def test_an_absurd_time_zone_is_a_clear_answer(tmp_path: Path) -> None:
    """A 100,000-character time zone (a tree registered before the option had a maximum
    length) is answered with what a time zone looks like, not "Something went wrong"; the
    option now has Discord enforce 64 characters."""
    async with running_bot(tmp_path, FILE) as bot:
        cb = await bot.command("timezone", {"name": "x" * 100_000})
        assert cb.content == ("Nothing changed: a time zone is an IANA name of at most 64 "
                              "characters, such as 'Europe/Berlin'.")
        assert bot.runtime.settings.effective(GUILD).timezone == "UTC"
        [group] = [c for c in bot.commands.payload() if c["name"] == "miku"]
        [tz] = [o for o in group["options"] if o["name"] == "timezone"]
        assert tz["options"][0]["max_length"] == 64
