"""The fault suite's fixtures: a fresh database on the session's PostgreSQL server, and the
config files of real ``run`` processes pointed at the loopback Discord and at that database
(directly, or through a ``FaultProxy``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.kit.discord_payloads import guild_create, text_channel

#: Two guilds on shard 0 of 1: (n << 22) + 5.
GUILDS = [(n << 22) + 5 for n in (2000, 2001)]


def channel_of(guild_id: int) -> int:
    return guild_id + 1


def guild(guild_id: int) -> dict[str, Any]:
    """The stand-in's GUILD_CREATE for one test guild, with its autonomous channel."""
    d = guild_create(guild_id)
    d["channels"] = [text_channel(channel_of(guild_id), "miku-chat", guild_id)]
    return d


def write_config(path: Path, fake: Any, store_url: str, *, lease_ttl_s: float = 30.0,
                 shutdown_timeout_s: float = 5.0, extra: str = "",
                 shards: tuple[list[int], int] = ([0], 1),
                 guilds_of: list[int] | None = None) -> Path:
    """A config of one process running ``shards`` (ids, count; every shard of 1 by
    default), on ``store_url``."""
    guilds = "".join(f"[guilds.{g}]\nautonomous_channel_id = {channel_of(g)}\n"
                     for g in (GUILDS if guilds_of is None else guilds_of))
    path.write_text(f"""
[defaults]
quiet_hours = []
rotate_moods = false
{guilds}
[discord]
shard_ids = {shards[0]}
shard_count = {shards[1]}
api_base_url = "{fake.api_base}"
gateway_url = "{fake.gateway_url}"
[store]
url = "{store_url}"
lease_ttl_s = {lease_ttl_s}
[runtime]
control_socket = "{path.with_suffix(".sock")}"
shutdown_timeout_s = {shutdown_timeout_s}
reply_cooldown_s = 0
log_level = "info"
{extra}
""")
    return path

