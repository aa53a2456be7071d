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

import os
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TextIO

import anyio
import msgspec

from runtime.config import Config, load_config
from runtime.config.paths import path_problems
from runtime.config.secrets import TOKEN_ENV
from runtime.errors import ConfigError
from runtime.pool.server import check_server
from runtime.settings import guild_settings
from runtime.store import StoreError, shard_of

__all__ = ["Finding", "check", "describe_guilds", "main_check_config", "probe_store"]

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


def _pg_line(exc: BaseException) -> str:
    from runtime.store.pg_schema import redact_url

    first = (str(exc).strip().splitlines() or [""])[0]
    return redact_url(f"{type(exc).__name__}: {first}")


def probe_store(config: Config, *, timeout: float = 5.0) -> Finding:
    """Reach the store ``config`` names, read-only: a SQLite file is opened read-only (a
    missing one is reported as to be created), a PostgreSQL database is connected to and
    asked whether the tables exist. Never creates, migrates or writes anything."""
    url = config.store.url
    if url is not None:
        import psycopg

        from runtime.store.pg_schema import redact_url

        shown = redact_url(url)
        try:
            with psycopg.connect(url, connect_timeout=max(1, round(timeout)),
                                 autocommit=True) as pg:
                row = pg.execute("SELECT to_regclass('miku_store') IS NOT NULL").fetchone()
        except psycopg.Error as exc:
            return Finding("problem", "store.url", f"{shown}: cannot connect: {_pg_line(exc)}")
        tables = ("its tables are there" if row and row[0]
                  else "no tables yet: the first start creates them")
        return Finding("ok", "store.url", f"{shown}: connected; {tables}")
    path = Path(config.store.path)
    if not path.exists():
        return Finding("ok", "store.path", f"{path}: not there yet: the first start creates it")
    from runtime.store.sqlite_schema import open_ro

    try:
        conn, version = open_ro(path)
    except (StoreError, sqlite3.Error) as exc:
        return Finding("problem", "store.path", str(exc))
    count: int | None = None
    try:
        count = conn.execute("SELECT count(*) FROM snapshots").fetchone()[0]
    except sqlite3.Error:
        pass
    finally:
        conn.close()
    held = "" if count is None else f", {count} guild snapshot{'s' * (count != 1)}"
    return Finding("ok", "store.path", f"{path}: a store of layout {version}{held}")


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


def _guild_line(config: Config, guild_id: int | None) -> tuple[Level, str]:
    """What she will do in one guild (None: a guild without a table of its own)."""
    settings, channel, policy = guild_settings(config, guild_id or 0)
    d = config.discord
    if guild_id is not None and d.shard_ids is not None and d.shard_count is not None:
        shard = shard_of(guild_id, d.shard_count)
        if shard not in d.shard_ids:
            return "ok", (f"shard {shard}, not this process's "
                          f"({', '.join(map(str, d.shard_ids))} of {d.shard_count}): "
                          "another process runs it")
    cap = settings.max_actions_per_day
    facts = [_POLICIES.get(policy, policy), _hours(settings.quiet_hours, settings.timezone),
             f"chattiness {settings.chattiness:g}" + (" (the default)"
                                                      if settings.chattiness == 1 else ""),
             "no daily cap" if cap is None else f"at most {cap} actions a day"]
    missing: list[str] = []
    if not settings.enabled:
        missing.append("disabled (enabled = false): she neither acts nor answers")
    if channel is None:
        admin = f"an admin picks one with /{config.discord.command_name} channel"
        missing.append("no autonomous channel: she only answers when spoken to " + (
            f"until {admin}" if guild_id is None
            else f"(set [guilds.{guild_id}] autonomous_channel_id, or {admin})"))
    elif settings.chattiness == 0:
        missing.append("chattiness 0: no autonomous action")
    elif cap == 0:
        missing.append("max_actions_per_day = 0: no autonomous action")
    head = f"channel {channel}" if channel is not None else "no channel"
    level: Level = "warning" if missing else "ok"
    return level, "; ".join([head, *facts, *missing])


def describe_guilds(config: Config) -> list[Finding]:
    """Per guild of the file, then for any other guild: what she will do there."""
    out = []
    for gid in sorted(config.guilds):
        level, text = _guild_line(config, gid)
        out.append(Finding(level, f"guilds.{gid}", text))
    level, text = _guild_line(config, None)
    out.append(Finding("ok" if config.guilds else level, "any other guild", text))
    return out


def check(config: Config, *, environ: Mapping[str, str] | None = None,
          timeout: float = 5.0) -> list[Finding]:
    """Every finding for a loaded ``config``, in the order they are printed (guilds last).

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
    found.append(probe_store(config, timeout=timeout))
    found.append(anyio.run(_probe_llm, config, timeout))
    if config.llm.api_key_env is not None and not env.get(config.llm.api_key_env):
        found.append(Finding("warning", "llm.api_key_env",
                             f"{config.llm.api_key_env} is not set in this environment"))
    if not env.get(TOKEN_ENV, "").strip():
        found.append(Finding("warning", TOKEN_ENV, "not set in this environment; `run` needs "
                             "it (under systemd it comes from the unit's EnvironmentFile)"))
    return found + describe_guilds(config)


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
