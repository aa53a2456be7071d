"""``/miku status``, start-up answers, and syncing the command tree only when it changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.gateway.commands import STARTING
from tests.kit.cmdkit import MEMBER, running_bot
from tests.kit.discord_payloads import BOB, CHANNEL, GUILD, UNCONFIGURED_GUILD
from tests.kit.fake_interactions import FakeCommands

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

FILE = f"""
[defaults]
quiet_hours = []
rotate_moods = false
[guilds.{GUILD}]
autonomous_channel_id = {CHANNEL}
timezone = "Europe/Berlin"
locked = ["timezone"]
"""


async def test_status_shows_mood_sources_locks_and_right_now(tmp_path: Path) -> None:
    """Status (admins only) gives her mood, each setting with where it comes from (file
    table, defaults, command; locked), and what she would do now with what holds it back."""
    async with running_bot(tmp_path, FILE) as bot:
        cb = await bot.command("status", user_id=BOB, permissions=MEMBER)
        assert cb.content == "This needs the Manage Server permission."
        await bot.command("chattiness", {"level": 0.5})
        await bot.command("pause", {"hours": 1.0})
        cb = await bot.command("status")
        assert cb.ephemeral
        lines = cb.content.splitlines()
        assert lines[0].startswith("**Mood**: ")
        assert f"- channel: <#{CHANNEL}> (file: guilds.{GUILD})" in lines
        assert f"- timezone: Europe/Berlin (file: guilds.{GUILD}, locked)" in lines
        assert "- chattiness: 0.5 (command)" in lines
        assert "- quiet hours: off (file: defaults)" in lines
        assert any(line.startswith("- pause: until <t:") and line.endswith("(command)")
                   for line in lines)
        right_now = lines[-1]
        assert right_now.startswith("**Right now**: nothing (held back by ")


async def test_a_guild_that_is_not_ready_is_told_to_try_again(tmp_path: Path) -> None:
    """A command from a guild the gateway has not made available yet is answered "starting"
    and changes nothing."""
    async with running_bot(tmp_path, FILE) as bot:
        cb = await bot.command("pause", {"hours": 1.0}, guild_id=UNCONFIGURED_GUILD)
        assert cb.ephemeral and cb.content == STARTING
        assert bot.runtime.settings.effective(UNCONFIGURED_GUILD).paused_until is None


async def test_the_tree_is_synced_once_and_again_only_when_it_changes(tmp_path: Path) -> None:
    """The first start registers /miku globally with every subcommand; a restart with the
    same tree syncs nothing; a new command_name syncs again."""
    routes = FakeCommands()
    async with running_bot(tmp_path, FILE, routes=routes) as bot:
        [body] = routes.syncs
        group, members = body
        assert (group["name"], members["name"]) == ("miku", "miku-me")
        assert sorted(o["name"] for o in group["options"]) == sorted(
            ["channel", "pause", "resume", "chattiness", "quiet-hours", "timezone", "mood",
             "policy", "status"])
        assert sorted(o["name"] for o in members["options"]) == ["optin", "optout"]
        fetched = await bot.commands.tree.fetch_commands()
        assert [c.name for c in fetched] == ["miku", "miku-me"]
    async with running_bot(tmp_path, FILE, routes=routes):
        assert len(routes.syncs) == 1
    async with running_bot(tmp_path, FILE, routes=routes,
                           discord_keys='command_name = "rin"') as bot:
        assert [g["name"] for g in routes.syncs[-1]] == ["rin", "rin-me"]
        cb = await bot.command("resume")
        assert cb.content == "She was not paused; nothing changed."
