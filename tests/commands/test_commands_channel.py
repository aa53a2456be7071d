"""``/miku channel``: admins set or clear her autonomous channel; the answer shows whether she
can speak there."""

from __future__ import annotations

from pathlib import Path

import pytest
from cmdkit import MEMBER, running_bot
from discord_payloads import BOB, CHANNEL, GUILD, OTHER_CHANNEL
from fake_interactions import text_channel_option
from settings_store import SettingsMemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

NO_CHANNEL = "[defaults]\nquiet_hours = []\n"


async def test_admin_sets_the_channel_and_she_can_speak(tmp_path: Path) -> None:
    """An admin's /miku channel sets the channel at once (the gateway reports the guild from
    then on) and the ephemeral answer says she can speak there."""
    store = SettingsMemoryStore()
    async with running_bot(tmp_path, NO_CHANNEL, store=store) as bot:
        assert bot.runtime.settings.channel_of(GUILD) is None
        cb = await bot.command("channel", channels={"channel": text_channel_option(CHANNEL)})
        assert cb.type == 4 and cb.ephemeral
        assert f"<#{CHANNEL}>" in cb.content and "can read and speak" in cb.content
        assert cb.body["data"]["allowed_mentions"] == {"parse": []}
        assert bot.runtime.settings.channel_of(GUILD) == CHANNEL
    assert GUILD in store.settings


async def test_member_without_manage_server_is_refused(tmp_path: Path) -> None:
    """A member without Manage Server is told the permission it needs; nothing changes."""
    store = SettingsMemoryStore()
    async with running_bot(tmp_path, NO_CHANNEL, store=store) as bot:
        cb = await bot.command("channel", user_id=BOB, permissions=MEMBER,
                               channels={"channel": text_channel_option(OTHER_CHANNEL)})
        assert cb.ephemeral and "Manage Server" in cb.content
        assert bot.runtime.settings.channel_of(GUILD) is None
    assert store.settings == {}
