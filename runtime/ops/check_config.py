"""``miku-autonomy check-config FILE``: what ``run`` would make of a config, without starting.

It reads and validates the file (as ``run`` does), checks the persona and items files and
every directory the bot writes to, asks the LLM server whether it serves the model, probes
the store (read-only: nothing is created or migrated), and prints per guild what she will
do there: her channel, policy, quiet hours, chattiness, and what is missing for her to act.

Each finding is one line: ``ok``, ``warning`` (she runs, but you may not want this) or
``problem`` (``run`` would stop, or she could not act). Exit status 0 without problems, 2
with any (a file that does not validate is one ``error:`` line, as with ``run``).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TextIO

import anyio
import msgspec

from runtime.config import TOKEN_ENV, Config, load_config, path_problems, split_address
from runtime.errors import ConfigError
from runtime.pool.server import check_server
from runtime.settings import Effective, effective
from runtime.settings.stored import SettingsDecodeError, SettingsVersionError, decode_settings
from runtime.store import StoreError, shard_of

__all__ = ["Finding", "StoreProbe", "check", "describe_guilds", "main_check_config",
           "probe_store"]

Level = Literal["ok", "warning", "problem"]

_POLICIES = {
    "v2": "v2 (decides from the room)",
    "v1": "v1 (the old timer)",
    "shadow": "shadow (v1 acts; v2 is only logged beside it)",
}


class Finding(msgspec.Struct, frozen=True):
    """One line of the report: its level, what it is about (a dotted field, or a name)
    and what was found."""

    level: Level
    subject: str
    text: str


class StoreProbe(msgspec.Struct, frozen=True):
    """What probing the store found, and the guild settings admins set from Discord that it
    holds (guild id -> the stored bytes; empty when there are none or it cannot be read)."""

    finding: Finding
    settings: dict[int, bytes] = msgspec.field(default_factory=dict)


def _pg_line(exc: BaseException) -> str:
    from runtime.store.pg_schema import redact_url

    first = (str(exc).strip().splitlines() or [""])[0]
    return redact_url(f"{type(exc).__name__}: {first}")


def _probe_postgres(url: str, timeout: float) -> StoreProbe:
    import psycopg

    from runtime.store.pg_schema import redact_url

    shown = redact_url(url)
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout)),
                             autocommit=True) as pg:
            row = pg.execute("SELECT to_regclass('miku_store') IS NOT NULL").fetchone()
            if not (row and row[0]):
                return StoreProbe(Finding("ok", "store.url", f"{shown}: connected; no tables "
                                          "yet: the first start creates them"))
            pg.execute("SET default_transaction_read_only = on")
            (count,) = pg.execute("SELECT count(*) FROM snapshots").fetchone() or (0,)
            rows = pg.execute("SELECT guild_id, data FROM settings").fetchall()
    except psycopg.Error as exc:
        return StoreProbe(Finding("problem", "store.url",
                                  f"{shown}: cannot connect: {_pg_line(exc)}"))
    return StoreProbe(Finding("ok", "store.url", f"{shown}: connected; {_held(count)}"),
                      {int(g): bytes(d) for g, d in rows})


def _held(count: int) -> str:
    return f"{count} guild snapshot{'s' * (count != 1)}"


def probe_store(config: Config, *, timeout: float = 5.0) -> StoreProbe:
    """Reach the store ``config`` names, read-only: a SQLite file is opened read-only (a
    missing one is reported as to be created), a PostgreSQL database is connected to and
    asked whether the tables exist. Either way the guild settings set from Discord are read.
    Never creates, migrates or writes anything."""
    if config.store.url is not None:
        return _probe_postgres(config.store.url, timeout)
    path = Path(config.store.path)
    if not path.exists():
        return StoreProbe(Finding("ok", "store.path",
                                  f"{path}: not there yet: the first start creates it"))
    from runtime.store.sqlite_schema import open_ro

    try:
        conn, version = open_ro(path)
    except (StoreError, sqlite3.Error) as exc:
        return StoreProbe(Finding("problem", "store.path", str(exc)))
    try:
        count = conn.execute("SELECT count(*) FROM snapshots").fetchone()[0]
        # Layout 1 had no settings table: nothing was set from Discord then.
        rows = (conn.execute("SELECT guild_id, data FROM settings").fetchall()
                if version >= 2 else [])
    except sqlite3.Error as exc:
        return StoreProbe(Finding("problem", "store.path", f"{path}: cannot read ({exc})"))
    finally:
        conn.close()
    return StoreProbe(Finding("ok", "store.path", f"{path}: a store of layout {version}, "
                              f"{_held(count)}"), {int(g): bytes(d) for g, d in rows})


async def _probe_llm(config: Config, seconds: float) -> Finding:
    llm = config.llm
    if llm.backend == "offline":
        return Finding("ok", "llm.backend", "offline: built-in lines, no server asked")
    assert llm.base_url is not None and llm.model is not None  # load_config checked both
    problem = await check_server(llm.base_url, llm.model, api_key_env=llm.api_key_env,
                                 timeout=seconds)
    if problem is not None:
        return Finding("problem", "llm.base_url", problem)
    return Finding("ok", "llm.base_url", f"{llm.base_url} serves model {llm.model!r}")


def _hours(quiet: tuple[int, int] | None, tz: str) -> str:
    if quiet is None:
        return "no quiet hours"
    return f"quiet hours {quiet[0]:02d}:00-{quiet[1]:02d}:00 {tz}"


def _utc(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _other_shard(config: Config, guild_id: int) -> str | None:
    d = config.discord
    if d.shard_ids is None or d.shard_count is None:
        return None
    shard = shard_of(guild_id, d.shard_count)
    if shard in d.shard_ids:
        return None
    return (f"shard {shard}, not this process's ({', '.join(map(str, d.shard_ids))} of "
            f"{d.shard_count}): another process runs it")


def _guild_line(config: Config, eff: Effective, *, in_file: bool) -> tuple[Level, str]:
    """What she will do in one guild, from its effective settings (``sources`` says which
    came from Discord's slash commands: marked so)."""
    def mark(key: str, text: str) -> str:
        return text + " (set from Discord)" if eff.sources.get(key) == "command" else text

    cfg = eff.actor.config
    cap = cfg.max_actions_per_day
    facts = [mark("channel", f"channel {eff.channel_id}" if eff.channel_id is not None
                  else "no channel"),
             mark("policy", _POLICIES.get(eff.policy, eff.policy)),
             mark("quiet_hours", _hours(eff.quiet_hours, eff.timezone)),
             mark("chattiness", f"chattiness {eff.chattiness:g}"
                  + (" (the default)" if eff.chattiness == 1 else "")),
             "no daily cap" if cap is None else f"at most {cap} actions a day"]
    admin = f"an admin picks one with /{config.discord.command_name} channel"
    missing: list[str] = []
    if not eff.enabled:
        missing.append("disabled (enabled = false): she neither acts nor answers")
    if eff.paused_until is not None:
        missing.append(f"paused from Discord until {_utc(eff.paused_until)}")
    if eff.channel_id is None:
        missing.append("no autonomous channel: she only answers when spoken to " + (
            f"(set [guilds.{eff.guild_id}] autonomous_channel_id, or {admin})" if in_file
            else f"until {admin}"))
    elif eff.chattiness == 0:
        missing.append("chattiness 0: no autonomous action")
    elif cap == 0:
        missing.append("max_actions_per_day = 0: no autonomous action")
    return ("warning" if missing else "ok"), "; ".join(facts + missing)


def describe_guilds(config: Config, stored: Mapping[int, bytes] | None = None, *,
                    now: float | None = None) -> list[Finding]:
    """Per guild of the file or of the store's Discord-set settings, then for any other
    guild: what she will do there (``now``: epoch seconds a pause is compared with)."""
    stored = stored or {}
    now = time.time() if now is None else now
    out = []
    for gid in sorted(set(config.guilds) | set(stored)):
        subject = f"guilds.{gid}"
        other = _other_shard(config, gid)
        if other is not None:
            out.append(Finding("ok", subject, other))
            continue
        try:
            from_discord = decode_settings(gid, stored[gid]) if gid in stored else None
        except (SettingsDecodeError, SettingsVersionError) as exc:
            out.append(Finding("problem", subject, f"its settings from Discord: {exc}"))
            from_discord = None
        level, text = _guild_line(config, effective(config, from_discord, gid, now),
                                  in_file=gid in config.guilds)
        out.append(Finding(level, subject, text))
    level, text = _guild_line(config, effective(config, None, 0, now), in_file=False)
    out.append(Finding("ok" if out else level, "any other guild", text))
    return out


def _in_use(config: Config) -> list[Finding]:
    """The metrics port and the control socket, if something holds them now (``run`` would
    stop on either; often it is this bot, already running)."""
    found = []
    rt = config.runtime
    if rt.metrics_address is not None:
        host, port = split_address(rt.metrics_address)
        if port != 0:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
                    # As asyncio's and trio's listeners do: a port in TIME_WAIT is free.
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind(infos[0][4])
            except OSError as exc:
                found.append(Finding("warning", "runtime.metrics_address",
                                     f"{rt.metrics_address}: {exc.strerror or exc} now (this "
                                     "bot already running?): run stops while it is"))
    path = rt.control_socket
    if os.path.exists(path):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
            except OSError:
                pass  # a stale socket or another file: run replaces the one, names the other
            else:
                found.append(Finding("warning", "runtime.control_socket",
                                     f"'{path}': a process serves it now (this bot already "
                                     "running?): run stops while it does"))
    return found


def check(config: Config, *, environ: Mapping[str, str] | None = None,
          timeout: float = 5.0) -> list[Finding]:
    """Every finding for a loaded ``config``, in the order they are printed (guilds last).
    Blocking: it runs its own event loop for the LLM probe, so call it from none.

    Args:
        config: from ``load_config``.
        environ: where ``DISCORD_TOKEN`` and the API key are looked for (default: os.environ).
        timeout: seconds for each probe (the LLM server, the store).
    """
    from runtime.bot import check_files

    env = os.environ if environ is None else environ
    found: list[Finding] = []
    try:
        check_files(config)
    except ConfigError as exc:
        found.append(Finding("problem", exc.path, exc.detail))
    for field, problem in path_problems(config).items():
        found.append(Finding("problem", field, problem))
    found += _in_use(config)
    store = probe_store(config, timeout=timeout)
    found.append(store.finding)
    found.append(anyio.run(_probe_llm, config, timeout))
    if config.llm.api_key_env is not None and not env.get(config.llm.api_key_env):
        found.append(Finding("warning", "llm.api_key_env",
                             f"{config.llm.api_key_env} is not set in this environment"))
    if not env.get(TOKEN_ENV, "").strip():
        found.append(Finding("warning", TOKEN_ENV, "not set in this environment; `run` needs "
                             "it (under systemd it comes from the unit's EnvironmentFile)"))
    return found + describe_guilds(config, store.settings)


def main_check_config(path: str, *, prog: str = "miku-autonomy", timeout: float = 5.0,
                      out: TextIO | None = None) -> int:
    """Print the report for the config file at ``path``; returns the exit status (0, or 2
    with any problem; a file that does not load is one ``error:`` line on stderr)."""
    out = sys.stdout if out is None else out
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    found = check(config, timeout=timeout)
    print(f"{prog} check-config {path}", file=out)
    print(f"  ok       file: valid; {len(config.guilds)} guild table"
          f"{'s' * (len(config.guilds) != 1)}; state_dir {config.runtime.state_dir}",
          file=out)
    for f in found:
        print(f"  {f.level:<8} {f.subject}: {f.text}", file=out)
    problems = sum(f.level == "problem" for f in found)
    warnings = sum(f.level == "warning" for f in found)
    print(f"{problems} problem{'s' * (problems != 1)}, {warnings} warning"
          f"{'s' * (warnings != 1)}: " + ("run would start" if not problems else
                                          "fix the problems above (exit status 2)"), file=out)
    return 2 if problems else 0
