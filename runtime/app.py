"""The bot process: logging, the discord.py client, signals; ``python -m runtime run``.

discord.py runs only on asyncio, so this module is asyncio code (anyio's task groups run on it
too, which is how the supervisor and pool join in).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import anyio
import msgspec
import structlog
import yarl

from runtime.config import Config, autonomous_channels, load_api_key, load_config, load_token
from runtime.errors import ConfigError, MissingTokenError
from runtime.gateway import PersonaClient
from runtime.gateway._discord import discord
from runtime.logs import configure_logging, register_secret
from runtime.process import Runtime
from runtime.store import StoreError

__all__ = ["BotExit", "build_client", "main_run", "point_discord_at", "run_bot", "serve"]

log = structlog.get_logger("runtime.app")


class BotExit(Exception):
    """The bot cannot run; the CLI prints the message on one line and exits with ``status``."""

    def __init__(self, message: str, status: int = 2) -> None:
        self.status = status
        super().__init__(message)


def point_discord_at(config: Config) -> None:
    """Aim discord.py at ``[discord] api_base_url`` / ``gateway_url`` when set (a loopback
    stand-in for Discord, in tests); otherwise leave it at discord.com."""
    d = config.discord
    if d.api_base_url:
        discord.http.Route.BASE = d.api_base_url.rstrip("/")
    if d.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(d.gateway_url)


def build_client(config: Config, deliver: Callable[[Any], None], *,
                 clock: Callable[[], float] = time.time, **options: Any) -> PersonaClient:
    """The gateway client for ``config``: its shards, its guilds' autonomous channels."""
    channels = autonomous_channels(config)
    d = config.discord
    return PersonaClient(deliver=deliver, channel_of=channels.get, clock=clock,
                         shard_ids=d.shard_ids, shard_count=d.shard_count,
                         chunk_guilds_at_startup=d.chunk_guilds_at_startup, **options)


def _install_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    """First SIGTERM/SIGINT: shut down in order. Second: exit at once."""
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        if received == 1:
            log.info("bot.signal", signal=signal.Signals(signum).name, action="shutdown")
            stop()
        else:
            log.warning("bot.signal", signal=signal.Signals(signum).name, action="exit now")
            os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)


async def serve(config: Config, token: str, *, seed: int | None = None) -> None:
    """Run the bot until SIGTERM/SIGINT or the gateway ends.

    The runtime (store, supervisor, pool, control socket) starts first; the gateway client
    feeds it. On the first signal: the runtime stops admitting events, drains or cancels the
    pool within ``runtime.shutdown_timeout_s`` (sends still go out through the open
    gateway), writes the final snapshots, and only then is the gateway closed.

    Raises:
        BotExit: Discord refused the token or the privileged intents.
    """
    point_discord_at(config)
    holder: list[Runtime] = []

    def deliver(event: Any) -> None:
        holder[0].deliver(event)

    client = build_client(config, deliver)
    runtime = Runtime(config, sender=client.send, context=client.fetch_context,
                      names=client.display_name,
                      seed=random.SystemRandom().getrandbits(62) if seed is None else seed)
    holder.append(runtime)
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()

    _install_signals(asyncio.get_running_loop(), stop)
    async with anyio.create_task_group() as tg:
        await tg.start(runtime.run)
        async with client:
            runner = asyncio.create_task(client.start(token), name="discord-client")
            waiter = asyncio.create_task(stopping.wait(), name="stop-signal")
            try:
                await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                log.info("bot.stopping")
                runtime.stop()
                await runtime.stopped.wait()
                await client.close()
            try:
                await runner
            except discord.LoginFailure:
                raise BotExit("Discord refused the token in DISCORD_TOKEN (401 Unauthorized)"
                              ) from None
            except discord.PrivilegedIntentsRequired:
                raise BotExit("Discord refused the privileged intents: enable 'Presence "
                              "Intent', 'Server Members Intent' and 'Message Content Intent' "
                              "for the bot in the Developer Portal") from None
    log.info("bot.stopped", **msgspec.structs.asdict(client.statistics()))


def run_bot(config: Config, token: str) -> int:
    """Configure logging, run the bot, return the process exit status.

    Raises:
        BotExit: the bot cannot run (the message is one line for stderr).
    """
    rt = config.runtime
    setup = configure_logging(rt.log_level, log_dir=rt.log_dir,
                              max_open_files=rt.log_max_open_files)
    register_secret(token)
    register_secret(load_api_key(config))
    try:
        asyncio.run(serve(config, token))
    finally:
        setup.close()
    return 0


def main_run(config_path: str) -> int:
    """``python -m runtime run --config PATH``: load the config and the token, run the bot.

    What a user can fix (a bad config, no ``DISCORD_TOKEN``, a refused token) is one line on
    stderr and exit status 2, never a traceback.

    Returns:
        The process exit status.
    """
    try:
        config = load_config(config_path)
        token = load_token()
        return run_bot(config, token)
    except ConfigError as exc:
        print(f"error: {config_path}: {exc}", file=sys.stderr)
        return 2
    except (MissingTokenError, BotExit) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status if isinstance(exc, BotExit) else 2
    except (StoreError, OSError, ExceptionGroup) as exc:
        # The store file cannot be opened, or the control socket's path is taken: one line.
        leaf = _first_leaf(exc)
        if isinstance(leaf, StoreError):
            print(f"error: store.path: {leaf}", file=sys.stderr)
            return 2
        if isinstance(leaf, OSError):
            print(f"error: runtime.control_socket: {leaf}", file=sys.stderr)
            return 2
        raise


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
