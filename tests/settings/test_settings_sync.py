"""Settings and opt-outs are the store's truth for every process (issue 19): a change made
through one process reaches another within seconds (PostgreSQL LISTEN/NOTIFY; a periodic
re-read elsewhere), and a change writes only the keys it changes. Two ``Settings`` on two
``PostgresStore`` of one real database are two processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from runtime.config import decode_config
from runtime.settings import Settings
from runtime.settings.sync import follow_store
from runtime.store.postgres import PostgresStore
from tests.kit.settings_store import Live

pytestmark = pytest.mark.anyio

FILE = """
[defaults]
quiet_hours = []
"""
NOW = 1_764_600_000.0



@pytest.fixture
async def two(store_url: str) -> AsyncIterator[tuple[Settings, Settings]]:
    """Two processes' settings on one database (each its own store)."""
    async with PostgresStore(store_url) as a_store, PostgresStore(store_url) as b_store:
        a = Settings(decode_config(FILE), clock=lambda: NOW)
        b = Settings(decode_config(FILE), clock=lambda: NOW)
        await a.open(a_store)
        await b.open(b_store)
        yield a, b


async def test_an_opt_out_made_through_one_process_reaches_the_other(
        two: tuple[Settings, Settings]) -> None:
    """An opt-out and a channel set through process A are honoured by process B within
    seconds (it follows the store: LISTEN/NOTIFY), and B's live actor hears of the channel."""
    a, b = two
    live = Live()
    synced = anyio.Event()

    def on_synced(changed: list[int]) -> None:
        if b.opted_out(4242) and b.channel_of(20) == 200:
            synced.set()

    async with anyio.create_task_group() as tg:
        await tg.start(b.run, live)
        await tg.start(lambda task_status: follow_store(b, b.store, period_s=60.0,
                                                        on_synced=on_synced,
                                                        task_status=task_status))
        assert not b.opted_out(4242)
        await a.set_optout(4242, True)
        await a.set_channel(20, 200)
        with anyio.fail_after(10):  # the period is 60 s: only a notification is this quick
            await synced.wait()
        tg.cancel_scope.cancel()
    assert [e.guild_id for e in live.pushed] == [20]


async def test_a_change_writes_only_the_key_it_changes(two: tuple[Settings, Settings]) -> None:
    """Process A sets the chattiness; process B, which has not heard of it, sets the
    channel: the store keeps both (B's write does not put back its stale whole row)."""
    a, b = two
    await a.set_chattiness(20, 1.5)
    await b.set_channel(20, 200)
    fresh = Settings(decode_config(FILE), clock=lambda: NOW)
    await fresh.open(b.store)
    assert fresh.channel_of(20) == 200
    assert fresh.stored(20).chattiness == 1.5
