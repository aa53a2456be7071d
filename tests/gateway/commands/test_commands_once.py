"""With the shared PostgreSQL store, the command tree is synced once for all the processes of
the bot: two starting together send it once, a changed tree is sent again, a refused sync
leaves it to the next start, and a store that cannot be reached at that moment does not hold
the start (the process syncs anyway and says so)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import discord
import pytest
from structlog.testing import capture_logs

from runtime.gateway.commands import Commands, SharedLedger, install_commands
from runtime.store.pg_once import PgOnce
from runtime.store.postgres import PostgresStore
from tests.kit.discord_payloads import SELF_ID
from tests.kit.fake_discord import FakeDiscord
from tests.kit.fake_interactions import FakeCommands

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

#: Nothing listens on port 1: the store is unreachable.
UNREACHABLE = "postgresql://miku@127.0.0.1:1/miku"


class _Runtime:
    def __init__(self) -> None:
        self.settings = SimpleNamespace(roles_of=None)
        self.supervisor = None


@pytest.fixture
async def routes(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeCommands]:
    routes = FakeCommands()
    async with FakeDiscord(mounts=(routes.mount,)) as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        yield routes


@pytest.fixture
async def url(store_url: str) -> str:
    async with PostgresStore(store_url):  # the tables, as the runtime makes them at start
        pass
    return store_url


async def start(url: str, *, extra: str | None = None,
                description: str = "one more") -> tuple[Commands, PgOnce]:
    """One process's start up to its sync: a client logging in with the tree (and one
    more subcommand, ``extra``: a changed tree)."""
    client = discord.Client(intents=discord.Intents(guilds=True), application_id=SELF_ID)
    once = PgOnce(url)
    commands = install_commands(client, _Runtime(), ledger=SharedLedger(once, shown=once.path))
    if extra is not None:
        async def noop(interaction: discord.Interaction) -> None:
            return None

        commands.group.add_command(discord.app_commands.Command(
            name=extra, description=description, callback=noop))
    try:
        await client.login("test-token-not-real")
    finally:
        await client.close()
        await once.close()
    return commands, once


async def test_two_processes_starting_together_sync_once(url: str,
                                                         routes: FakeCommands) -> None:
    with capture_logs() as logs:
        await asyncio.gather(start(url), start(url))
    assert len(routes.syncs) == 1
    assert [e["event"] for e in logs].count("commands.synced_elsewhere") == 1
    await start(url)  # a later start with the same tree
    assert len(routes.syncs) == 1


async def test_a_changed_tree_syncs_again(url: str, routes: FakeCommands) -> None:
    await start(url)
    await asyncio.gather(start(url, extra="more"), start(url, extra="more"))
    assert len(routes.syncs) == 2
    assert "more" in [o["name"] for o in routes.syncs[-1][0]["options"]]


async def test_a_refused_sync_is_tried_again_at_the_next_start(url: str,
                                                              routes: FakeCommands) -> None:
    """Discord refuses the tree (a description too long): the claim is released, so the
    next start with that tree sends it again rather than thinking it synced."""
    await start(url, extra="wordy", description="w" * 101)  # over 100: refused
    await start(url, extra="wordy", description="w" * 101)
    assert len(routes.refused) == 2 and routes.syncs == []


async def test_an_unreachable_store_syncs_anyway_and_says_so(routes: FakeCommands) -> None:
    with capture_logs() as logs:
        await start(UNREACHABLE)
    assert len(routes.syncs) == 1
    [line] = [e for e in logs if e["event"] == "commands.sync_store_unavailable"]
    assert line["log_level"] == "warning" and "127.0.0.1:1" in line["store"]
    assert [e["event"] for e in logs].count("commands.synced") == 1
