"""The whole bot against the loopback Discord: the runtime, the gateway client, the command
tree, a real SQLite store file. ``running_bot`` starts it; ``Bot.command`` sends one
INTERACTION_CREATE through the gateway and returns Discord's recorded answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from runtime.bot import point_discord_at
from runtime.config import decode_config
from runtime.core import Runtime
from runtime.gateway import PersonaClient
from runtime.gateway._discord import discord
from runtime.gateway.commands import Commands, install_commands, member_roles
from runtime.router import Router
from runtime.supervisor import SupervisorConfig
from tests.kit.discord_payloads import ALICE, CHANNEL, GUILD, guild_create
from tests.kit.fake_discord import FakeDiscord
from tests.kit.fake_interactions import MANAGE_GUILD, MEMBER_PERMISSIONS, Answer, FakeCommands

__all__ = ["ADMIN", "MEMBER", "Bot", "running_bot"]

TOKEN = "test-token-not-real"
ADMIN = MEMBER_PERMISSIONS | MANAGE_GUILD
MEMBER = MEMBER_PERMISSIONS


class Bot:
    """One running bot and its stand-in Discord."""

    def __init__(self, fake: FakeDiscord, routes: FakeCommands, runtime: Runtime,
                 client: PersonaClient, commands: Commands, config_path: Path) -> None:
        self.fake = fake
        self.routes = routes
        self.runtime = runtime
        self.client = client
        self.commands = commands
        self.config_path = config_path

    async def command(self, sub: str, options: dict[str, Any] | None = None, *,
                      user_id: int = ALICE, permissions: int = ADMIN,
                      channels: dict[str, dict[str, Any]] | None = None,
                      guild_id: int = GUILD) -> Answer:
        """``/miku <sub> ...`` (``/miku-me <sub>`` for the members' subcommands) from
        ``user_id`` with ``permissions``; what the member is shown (the immediate answer,
        or the follow-up after a deferral)."""
        members = self.commands.member_group
        group = members.name if members.get_command(sub) is not None else self.commands.name
        d = self.routes.interaction(sub, options, user_id=user_id, permissions=permissions,
                                    channel_id=CHANNEL, channels=channels, guild_id=guild_id,
                                    group=group)
        await self.fake.dispatch("INTERACTION_CREATE", d)
        with anyio.fail_after(10):
            answer = await self.routes.next_answer()
        assert answer.interaction_id == int(d["id"]), answer
        return answer

    async def autocomplete(self, sub: str, option: str, typed: str) -> list[str]:
        """The choices offered while ``typed`` is in ``option``."""
        d = self.routes.autocomplete(sub, option, typed, user_id=ALICE, channel_id=CHANNEL,
                                     permissions=ADMIN, group=self.commands.name)
        await self.fake.dispatch("INTERACTION_CREATE", d)
        with anyio.fail_after(10):
            answer = await self.routes.next_answer()
        assert not answer.deferred
        return answer.choices


def write_config(tmp_path: Path, text: str, fake: FakeDiscord, discord_keys: str = "") -> Path:
    """``bot.toml`` in ``tmp_path``: ``text`` plus the stand-in's URLs and a store file."""
    path = tmp_path / "bot.toml"
    path.write_text(text + f"""
[store]
path = "{tmp_path / 'store.sqlite3'}"
[discord]
api_base_url = "{fake.api_base}"
gateway_url = "{fake.gateway_url}"
{discord_keys}
""")
    return path


@asynccontextmanager
async def running_bot(tmp_path: Path, config_text: str, *, store: Any = None,
                      guilds: list[dict[str, Any]] | None = None,
                      routes: FakeCommands | None = None,
                      backend: Any = None, discord_keys: str = "") -> AsyncIterator[Bot]:
    """Run the bot on asyncio until the block ends, then shut it down in order.

    Args:
        tmp_path: where ``bot.toml``, the store file and the commands' hash live.
        config_text: the config's guild part (no ``[store]`` or ``[discord]`` table).
        store: a store to use instead of the SQLite file.
        guilds: GUILD_CREATE payloads (default: guild 1000).
        routes: the command routes (to see syncs across two runs).
        backend: the content backend (default: the offline persona).
        discord_keys: more lines for the ``[discord]`` table.
    """
    routes = routes or FakeCommands()
    async with FakeDiscord(mounts=(routes.mount,),
                           guilds=guilds or [guild_create(GUILD)]) as fake:
        old = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        path = write_config(tmp_path, config_text, fake, discord_keys)
        config = decode_config(path.read_text(), base_dir=tmp_path)
        point_discord_at(config)
        router = Router()
        client = PersonaClient(deliver=router.deliver, channel_of=router.channel_of,
                               exclude=router.excluded,
                               shard_count=1, guild_ready_timeout=0.01)
        runtime = Runtime(config, sender=client.send, context=client.fetch_context,
                          names=client.display_name, store=store, seed=5, backend=backend,
                          supervisor_config=SupervisorConfig(startup_grace_s=0,
                                                             gc_freeze=False),
                          control_socket=False, config_path=str(path),
                          router=router, roles_of=member_roles(client))
        commands = install_commands(client, runtime, name=config.discord.command_name,
                                    hash_path=tmp_path / "commands.sha256")
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(runtime.run)
                async with client:
                    runner = asyncio.create_task(client.start(TOKEN))
                    with anyio.fail_after(10):
                        await client.wait_until_ready()
                    try:
                        yield Bot(fake, routes, runtime, client, commands, path)
                    finally:
                        runtime.stop()
                        await runtime.stopped.wait()
                        await client.close()
                        await runner
        finally:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old
