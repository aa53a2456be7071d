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
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio
import msgspec
import structlog
import yarl

from runtime.config import (
    Config,
    check_writable_paths,
    load_api_key,
    load_config,
    load_token,
)
from runtime.core import Runtime
from runtime.errors import ConfigError, MissingTokenError, StartupError
from runtime.gateway import PersonaClient
from runtime.gateway._discord import discord
from runtime.gateway.commands import (
    SharedLedger,
    commands_hash_path,
    install_commands,
    member_roles,
)
from runtime.gateway.identify import install_identify_pacing
from runtime.ops.logs import configure_logging, register_secret
from runtime.pool import load_items, load_persona
from runtime.pool.errors import ItemsFileError, PersonaError
from runtime.router import Router
from runtime.settings import autonomous_channels
from runtime.store import StoreError
from runtime.store.pg_once import PgOnce

__all__ = [
    "BotExit",
    "build_client",
    "check_files",
    "fatal_gateway_message",
    "main_run",
    "point_discord_at",
    "run_bot",
    "serve",
    "warn_if_silent",
]

log = structlog.get_logger("runtime.bot")


class BotExit(Exception):
    """The bot cannot run; the CLI prints the message on one line and exits with ``status``."""

    def __init__(self, message: str, status: int = 2) -> None:
        self.status = status
        super().__init__(message)


def point_discord_at(config: Config) -> None:
    """Aim discord.py at ``[discord] api_base_url`` (a rate-limiting proxy shared by the
    bot's processes, or a stand-in) / ``gateway_url`` (a stand-in, in tests) when set;
    otherwise leave it at discord.com."""
    d = config.discord
    if d.api_base_url:
        discord.http.Route.BASE = d.api_base_url.rstrip("/")
    if d.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(d.gateway_url)


def build_client(config: Config, deliver: Callable[[Any], object], *,
                 channel_of: Callable[[int], int | None] | None = None,
                 clock: Callable[[], float] = time.time, **options: Any) -> PersonaClient:
    """The gateway client for ``config``: its shards, its intents, its guilds' autonomous
    channels (``channel_of``: the live settings' lookup; default: the file's channels)."""
    if channel_of is None:
        channel_of = autonomous_channels(config).get
    d = config.discord
    return PersonaClient(deliver=deliver, channel_of=channel_of, clock=clock,
                         shard_ids=d.shard_ids, shard_count=d.shard_count,
                         chunk_guilds_at_startup=d.chunk_guilds_at_startup,
                         presences=d.presence_intent, members=d.members_intent, **options)


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
    # Until the runtime reads SIGHUP (it re-reads the config then), it must not end the
    # process: its default action would.
    loop.add_signal_handler(signal.SIGHUP, lambda: log.info(
        "bot.signal", signal="SIGHUP", action="ignored: the runtime is not running yet"))


#: Gateway close codes Discord documents as fatal, and what the owner does about each.
_CLOSE_CODES: dict[int, str] = {
    4004: "authentication failed: DISCORD_TOKEN is not this bot's token (it may have been "
          "reset): copy it again from the Developer Portal (Applications -> your app -> Bot "
          "-> Reset Token)",
    4010: "invalid shard: every [discord] shard_ids entry must be below shard_count",
    4011: "sharding required: the bot is in too many guilds for the shards it asked for: "
          "raise [discord] shard_count, or leave shard_ids and shard_count out to use "
          "Discord's recommended count",
    4012: "invalid API version: this discord.py is too old for Discord: upgrade it",
    4013: "invalid intents: the intents the bot asked for are not a valid bit set "
          "(a bug: please report it)",
}
#: The exit status after a lost shard lease (EX_TEMPFAIL): restarted by the service manager.
LEASE_LOST_STATUS = 75
#: Login back-off: 1 s doubling to at most a minute, for as long as it takes.
_RETRY_FIRST_S = 1.0
_RETRY_MAX_S = 60.0


def _intents_hint(client: PersonaClient) -> str:
    """The privileged intents this client asks for, by their Developer Portal names."""
    intents = client.intents
    names = [label for flag, label in (("presences", "Presence Intent"),
                                       ("members", "Server Members Intent"),
                                       ("message_content", "Message Content Intent"))
             if getattr(intents, flag)]
    return ", ".join(f"'{n}'" for n in names)


def fatal_gateway_message(exc: BaseException, client: PersonaClient) -> str | None:
    """The one line that tells the owner what to do about a fatal Discord error, or None
    when ``exc`` is not one (a bug, a network error)."""
    if isinstance(exc, discord.LoginFailure):
        return ("Discord refused the token in DISCORD_TOKEN (401 Unauthorized): copy the bot's "
                "token again from the Developer Portal (Applications -> your app -> Bot)")
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return ("Discord closed the gateway with 4014 (disallowed intents): enable "
                f"{_intents_hint(client)} for the bot in the Developer Portal (Applications -> "
                "your app -> Bot -> Privileged Gateway Intents), or turn the optional ones off "
                "in [discord] (presence_intent = false, members_intent = false)")
    if isinstance(exc, discord.ConnectionClosed) and exc.code in _CLOSE_CODES:
        return f"Discord closed the gateway with {exc.code} ({_CLOSE_CODES[exc.code]})"
    return None


def _retryable(exc: BaseException) -> bool:
    """A failure to reach Discord that a later attempt may get past (no network, DNS, a
    5xx), as opposed to Discord saying no."""
    if isinstance(exc, discord.DiscordServerError | discord.GatewayNotFound):
        return True
    return isinstance(exc, aiohttp.ClientError | OSError | TimeoutError) and not isinstance(
        exc, discord.HTTPException)


async def _with_retries(step: str, call: Callable[[], Awaitable[None]]) -> None:
    """Run ``call`` until it succeeds or fails for a reason retrying cannot fix; one log
    line per failed attempt, with the wait before the next."""
    delay = _RETRY_FIRST_S
    attempt = 1
    while True:
        try:
            await call()
            return
        except Exception as exc:
            if not _retryable(exc):
                raise
            log.warning("bot.connect_failed", step=step, attempt=attempt,
                        error=f"{type(exc).__name__}: {exc}", retry_in_s=round(delay, 1))
        await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
        delay = min(delay * 2, _RETRY_MAX_S)
        attempt += 1


async def _start_client(client: PersonaClient, token: str) -> None:
    """Log in and connect, retrying what the network gets wrong; raise what Discord refuses."""
    await _with_retries("login", lambda: client.login(token))
    await _with_retries("connect", lambda: client.connect(reconnect=True))


def warn_if_silent(config: Config) -> None:
    """One warning at start when no guild has an autonomous channel: she will never act on
    her own (she still answers when spoken to)."""
    if not autonomous_channels(config):
        log.warning("bot.no_autonomous_channel",
                    hint="no guild in the config has an autonomous channel, so she will never "
                         "act on her own until an admin picks one with /miku channel or "
                         "[guilds.<id>] autonomous_channel_id is set in the config")


async def serve(config: Config, token: str, *, seed: int | None = None,
                config_path: str | None = None) -> None:
    """Run the bot until SIGTERM/SIGINT or the gateway ends.

    The runtime (store, supervisor, pool, control socket) starts first; the gateway client
    feeds it. On the first signal: the runtime stops admitting events, drains or cancels the
    pool within ``runtime.shutdown_timeout_s`` (sends still go out through the open
    gateway), writes the final snapshots, and only then is the gateway closed.

    Raises:
        BotExit: Discord refused the token, the intents or the shards (one line saying what
            to do, from ``fatal_gateway_message``).
    """
    point_discord_at(config)
    # The object graph, built in order. The gateway delivers to the router, which the
    # runtime opens once its supervisor runs (runtime.router says why that seam is late).
    router = Router()
    client = build_client(config, router.deliver, channel_of=router.channel_of,
                          exclude=router.excluded)
    runtime = Runtime(config, sender=client.send, context=client.fetch_context,
                      names=client.display_name, typing=client.typing_for, gateway=client,
                      roles_of=member_roles(client), router=router, config_path=config_path,
                      seed=random.SystemRandom().getrandbits(62) if seed is None else seed)
    # With the shared PostgreSQL store, what the bot does once for all its processes (the
    # command sync, the IDENTIFY pacing) is agreed on there; with SQLite, per host (a file
    # beside the store) and per process (discord.py's own pacing).
    once = PgOnce(config.store.url) if config.store.url else None
    if once is not None:
        install_commands(client, runtime, name=config.discord.command_name,
                         ledger=SharedLedger(once, shown=once.path))
        # And IDENTIFY: max_concurrency per 5 s for the whole bot, not per process.
        install_identify_pacing(client, once)
    else:
        install_commands(client, runtime, name=config.discord.command_name,
                         hash_path=commands_hash_path(config))
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()
        runtime.stop()  # also ends a wait for the store or a lease

    _install_signals(asyncio.get_running_loop(), stop)
    warn_if_silent(config)
    async with anyio.create_task_group() as tg:
        await tg.start(runtime.run)
        if stopping.is_set():  # stopped while waiting for the store or a lease
            await runtime.stopped.wait()
            log.info("bot.stopped", before="login")
            return
        async with client:
            runner = asyncio.create_task(_start_client(client, token), name="discord-client")
            waiter = asyncio.create_task(stopping.wait(), name="stop-signal")
            # The runtime may stop by itself (a lost lease): the gateway goes with it.
            ended = asyncio.create_task(runtime.stopped.wait(), name="runtime-stopped")
            try:
                await asyncio.wait({runner, waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                ended.cancel()
                log.info("bot.stopping")
                runtime.stop()
                await runtime.stopped.wait()
                if not runner.done():
                    runner.cancel()
                await client.close()
                if once is not None:
                    await once.close()
            try:
                await runner
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                message = fatal_gateway_message(exc, client)
                if message is None:
                    raise
                raise BotExit(message) from None
    log.info("bot.stopped", **msgspec.structs.asdict(client.statistics()))
    if runtime.lease_lost is not None:
        # Non-zero (not 2): the service manager restarts it, and it waits for a lease.
        raise BotExit(f"stopped: {runtime.lease_lost}", status=LEASE_LOST_STATUS)


def run_bot(config: Config, token: str, *, config_path: str | None = None) -> int:
    """Configure logging, run the bot, return the process exit status.

    Raises:
        BotExit: the bot cannot run (the message is one line for stderr).
        StartupError: the log directory cannot be created.
    """
    rt = config.runtime
    try:
        setup = configure_logging(rt.log_level, log_dir=rt.log_dir,
                                  max_open_files=rt.log_max_open_files)
    except OSError as exc:
        raise StartupError("runtime.log_dir", f"{rt.log_dir!r}: {exc.strerror or exc}"
                           ) from None
    register_secret(token)
    register_secret(load_api_key(config))
    try:
        asyncio.run(serve(config, token, config_path=config_path))
    finally:
        setup.close()
    return 0


def check_files(config: Config) -> None:
    """Load the persona and items files the config names, so a missing or broken one is a
    config error at start (one line, exit 2), not a failure on the first action.

    Raises:
        ConfigError: ``persona.path`` or ``feeds.items_file`` cannot be used.
    """
    if config.persona.path:
        try:
            load_persona(config.persona.path)
        except PersonaError as exc:
            raise ConfigError("persona.path", str(exc)) from None
    if config.feeds.items_file:
        try:
            load_items(config.feeds.items_file)
        except ItemsFileError as exc:
            raise ConfigError("feeds.items_file", str(exc)) from None


def main_run(config_path: str) -> int:
    """``python -m runtime run --config PATH``: load the config and the token, run the bot.

    What a user can fix (a bad config, no ``DISCORD_TOKEN``, a refused token or intents, an
    unusable store, log directory or control socket) is one line on stderr and exit status
    2, never a traceback.

    Returns:
        The process exit status.
    """
    config: Config | None = None
    try:
        config = load_config(config_path)
        check_files(config)
        check_writable_paths(config)
        token = load_token()
        return run_bot(config, token, config_path=config_path)
    except BaseException as exc:
        leaf = _known_leaf(exc)
        if leaf is None:
            raise
        if isinstance(leaf, ConfigError):
            print(f"error: {config_path}: {leaf}", file=sys.stderr)
        elif isinstance(leaf, StoreError):
            field = "store.url" if config is not None and config.store.url else "store.path"
            print(f"error: {field}: {leaf}", file=sys.stderr)
        else:
            print(f"error: {leaf}", file=sys.stderr)
        return leaf.status if isinstance(leaf, BotExit) else 2


_KNOWN = (ConfigError, MissingTokenError, BotExit, StartupError, StoreError)


def _known_leaf(exc: BaseException) -> BaseException | None:
    """The first error a user can fix inside ``exc`` (task groups wrap what their tasks
    raise in ExceptionGroups), or None."""
    if isinstance(exc, _KNOWN):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _known_leaf(inner)
            if found is not None:
                return found
    return None
