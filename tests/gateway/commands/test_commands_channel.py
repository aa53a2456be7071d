"""``/miku channel``: admins set or clear her autonomous channel; the answer shows at once
whether she can speak there; the choice survives a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import pytest

from actors.events import ChannelAccess, GuildReady
from tests.kit.cmdkit import MEMBER, running_bot
from tests.kit.discord_payloads import (
    BOB,
    CHANNEL,
    GUILD,
    OTHER_CHANNEL,
    guild_create,
    text_channel,
)
from tests.kit.fake_interactions import text_channel_option

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

NO_CHANNEL = "[defaults]\nquiet_hours = []\n"
SEND_MESSAGES = 1 << 11


def guild_denying_send_in_other_channel() -> dict:
    g = guild_create(GUILD)
    for ch in g["channels"]:
        if ch["id"] == str(OTHER_CHANNEL):
            ch["permission_overwrites"] = [{"id": str(GUILD), "type": 0, "allow": "0",
                                            "deny": str(SEND_MESSAGES)}]
    return g


async def test_admin_sets_the_channel_she_can_speak_and_it_survives_a_restart(
        tmp_path: Path) -> None:
    """An admin's /miku channel sets the channel at once (the gateway reports the guild from
    then on, its actor is told the guild is ready), the ephemeral answer says she can speak
    there, and after a restart the channel is still hers, from the SQLite file."""
    async with running_bot(tmp_path, NO_CHANNEL) as bot:
        assert bot.runtime.settings.channel_of(GUILD) is None
        delivered: list[object] = []
        deliver = bot.client._deliver  # what the gateway delivers to: the router
        bot.client._deliver = lambda e: (delivered.append(e), deliver(e))[1]
        cb = await bot.command("channel", channels={"channel": text_channel_option(CHANNEL)})
        assert cb.deferred and cb.ephemeral
        assert f"Channel set to <#{CHANNEL}> (was none)" in cb.content
        assert "can read and speak" in cb.content
        assert cb.data["allowed_mentions"] == {"parse": []}
        assert bot.runtime.settings.channel_of(GUILD) == CHANNEL
        [ready] = [e for e in delivered if isinstance(e, GuildReady)]
        assert ready.guild_id == GUILD and ready.can_speak
    async with running_bot(tmp_path, NO_CHANNEL) as bot:
        assert bot.runtime.settings.channel_of(GUILD) == CHANNEL
        assert bot.runtime.settings.describe(GUILD)["channel"]["source"] == "command"


async def test_the_answer_names_a_missing_permission(tmp_path: Path) -> None:
    """A channel where she may not send is set, and the answer says Send Messages is missing
    (the same check the gateway runs on ready)."""
    async with running_bot(tmp_path, NO_CHANNEL,
                           guilds=[guild_denying_send_in_other_channel()]) as bot:
        cb = await bot.command("channel",
                               channels={"channel": text_channel_option(OTHER_CHANNEL)})
        assert "missing Send Messages" in cb.content
        assert bot.runtime.settings.channel_of(GUILD) == OTHER_CHANNEL


async def test_an_admin_fixing_the_overwrite_lets_her_speak(tmp_path: Path) -> None:
    """The guild had no channel at its GUILD_CREATE; after /miku channel names one where
    she cannot send, an admin's fix of the overwrite (CHANNEL_UPDATE) reaches her actor as
    ChannelAccess(can_speak=True): she does not stay silent."""
    async with running_bot(tmp_path, NO_CHANNEL,
                           guilds=[guild_denying_send_in_other_channel()]) as bot:
        got = asyncio.Event()
        delivered: list[object] = []
        deliver = bot.client._deliver  # what the gateway delivers to: the router

        def spy(e: object) -> bool:
            delivered.append(e)
            if isinstance(e, ChannelAccess):
                got.set()
            return deliver(e)

        bot.client._deliver = spy
        await bot.command("channel", channels={"channel": text_channel_option(OTHER_CHANNEL)})
        [ready] = [e for e in delivered if isinstance(e, GuildReady)]
        assert not ready.can_speak
        await bot.fake.dispatch("CHANNEL_UPDATE", text_channel(OTHER_CHANNEL, "general", GUILD))
        with anyio.fail_after(10):
            await got.wait()
        [access] = [e for e in delivered if isinstance(e, ChannelAccess)]
        assert access.guild_id == GUILD and access.can_speak


async def test_no_option_clears_even_the_files_channel(tmp_path: Path) -> None:
    """/miku channel with no option clears the channel, overriding the file's."""
    text = NO_CHANNEL + f"[guilds.{GUILD}]\nautonomous_channel_id = {CHANNEL}\n"
    async with running_bot(tmp_path, text) as bot:
        assert bot.runtime.settings.channel_of(GUILD) == CHANNEL
        cb = await bot.command("channel")
        assert f"Channel cleared (was <#{CHANNEL}>)" in cb.content
        assert bot.runtime.settings.channel_of(GUILD) is None


async def test_member_without_manage_server_is_refused(tmp_path: Path) -> None:
    """A member without Manage Server is told the permission it needs; nothing changes."""
    async with running_bot(tmp_path, NO_CHANNEL) as bot:
        cb = await bot.command("channel", user_id=BOB, permissions=MEMBER,
                               channels={"channel": text_channel_option(OTHER_CHANNEL)})
        assert cb.ephemeral and cb.content == "This needs the Manage Server permission."
        assert bot.runtime.settings.channel_of(GUILD) is None
        assert await bot.runtime.store.load_settings() == {}


async def test_a_channel_she_cannot_see_is_a_clear_refusal(tmp_path: Path) -> None:
    """A channel that is not in her view of the guild (unknown to the cache) is refused with
    what to pick instead; nothing changes."""
    async with running_bot(tmp_path, NO_CHANNEL) as bot:
        cb = await bot.command("channel", channels={"channel": text_channel_option(99_999)})
        assert cb.ephemeral and "pick a text channel" in cb.content
        assert bot.runtime.settings.channel_of(GUILD) is None


async def test_a_locked_channel_says_where_it_is_locked(tmp_path: Path) -> None:
    """A guild table locking ``channel`` refuses the command, naming the file's key."""
    text = NO_CHANNEL + f"[guilds.{GUILD}]\nautonomous_channel_id = {CHANNEL}\n" \
        'locked = ["channel"]\n'
    async with running_bot(tmp_path, text) as bot:
        cb = await bot.command("channel",
                               channels={"channel": text_channel_option(OTHER_CHANNEL)})
        assert "locked" in cb.content and f"guilds.{GUILD}.locked" in cb.content
        assert bot.runtime.settings.channel_of(GUILD) == CHANNEL
