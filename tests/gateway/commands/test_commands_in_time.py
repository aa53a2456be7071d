"""A command is acknowledged within Discord's 3 s whatever the store does: a setter defers
(ephemeral) before it writes, and the member gets the answer as the follow-up once the write
is done, even when that takes longer than 3 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import pytest

from tests.kit.cmdkit import running_bot
from tests.kit.discord_payloads import ALICE, CHANNEL, GUILD
from tests.kit.fake_interactions import ACK_WINDOW_S, FakeCommands
from tests.kit.settings_store import SettingsMemoryStore

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

FILE = f"""
[defaults]
quiet_hours = []
[guilds.{GUILD}]
autonomous_channel_id = {CHANNEL}
"""
ADMIN = (1 << 5) | (1 << 10) | (1 << 11) | (1 << 16)


class BlockedStore(SettingsMemoryStore):
    """A store whose settings writes wait until the test releases them (a locked table)."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.release = asyncio.Event()
        self.written = False

    async def save_settings(self, guild_id: int, data: bytes | None) -> None:
        self.writing.set()
        await self.release.wait()
        await super().save_settings(guild_id, data)
        self.written = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_slow_settings_write_is_acknowledged_first_and_answered_after(
        tmp_path: Path) -> None:
    """With the write blocked, Discord gets an ephemeral deferral at once; 5 s later (past
    the 3 s window) the write ends and the member is shown the answer as the follow-up; no
    acknowledgement was refused."""
    store = BlockedStore()
    clock = Clock()
    routes = FakeCommands(clock=clock)
    async with running_bot(tmp_path, FILE, store=store, routes=routes) as bot:
        d = routes.interaction("chattiness", {"level": 1.5}, user_id=ALICE,
                               permissions=ADMIN, channel_id=CHANNEL)
        await bot.fake.dispatch("INTERACTION_CREATE", d)
        with anyio.fail_after(10):
            ack = await routes.next_callback()
            await store.writing.wait()
        assert ack.type == 5 and ack.ephemeral
        assert not store.written and routes.answers == []
        clock.now += ACK_WINDOW_S + 2
        store.release.set()
        with anyio.fail_after(10):
            answer = await routes.next_answer()
        assert store.written
        assert answer.deferred and answer.ephemeral
        assert answer.content == "Chattiness set to 1.5 (was 1)."
        assert answer.data["allowed_mentions"] == {"parse": []}
        assert routes.rejected == []
        assert bot.runtime.settings.effective(GUILD).chattiness == 1.5


async def test_a_refusal_is_answered_at_once_without_a_deferral(tmp_path: Path) -> None:
    """A member without Manage Server is answered directly (one callback, type 4): nothing
    to wait for, so nothing deferred."""
    async with running_bot(tmp_path, FILE) as bot:
        answer = await bot.command("chattiness", {"level": 1.5},
                                   permissions=ADMIN & ~(1 << 5))
        assert not answer.deferred and answer.ephemeral
        assert [cb.type for cb in bot.routes.callbacks] == [4]


async def test_an_interaction_too_late_to_acknowledge_changes_nothing(tmp_path: Path) -> None:
    """An interaction that reaches her after its 3 s (Discord answers the deferral 404 10062)
    is dropped: the setting is not changed behind the member's "did not respond"."""
    clock = Clock()
    routes = FakeCommands(clock=clock)
    async with running_bot(tmp_path, FILE, routes=routes) as bot:
        d = routes.interaction("chattiness", {"level": 1.5}, user_id=ALICE,
                               permissions=ADMIN, channel_id=CHANNEL)
        clock.now += ACK_WINDOW_S + 1
        await bot.fake.dispatch("INTERACTION_CREATE", d)
        with anyio.fail_after(10):
            assert await routes.next_rejection() == (int(d["id"]), 404, 10062)
        # A timely command after it is answered, and the late one changed nothing.
        answer = await bot.command("resume")
        assert answer.content == "She was not paused; nothing changed."
        assert routes.answers == [answer]
        assert bot.runtime.settings.effective(GUILD).chattiness == 1.0
