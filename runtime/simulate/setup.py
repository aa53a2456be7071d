"""What a simulated run is: its setup, its result, and the runtime config built for it.

Without an owner's config, every simulated guild has its own time zone (from the traffic),
quiet hours 1:00-7:00 local and the engine's defaults. With ``--config bot.toml`` (the
owner's file, ``RunSetup.owner``) the simulated guilds take the file's ``[defaults]`` and its
``[guilds.<id>]`` tables in turn (guild ``i`` takes table ``i % n``; their autonomous
channels are the simulator's own), so an owner sees what she would do with their settings:
time zones, quiet hours, policies, keywords, chattiness and the rest.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from engine import GuildConfig
from runtime.config import (
    Config,
    GuildDefaults,
    GuildOverride,
    LLMConfig,
    RuntimeConfig,
    StoreConfig,
)
from runtime.settings import guild_settings
from runtime.simulate.channel import SentRecord
from runtime.simulate.people import AnswerRecord
from runtime.simulate.traffic import Traffic

__all__ = [
    "QUIET_HOURS",
    "SNAPSHOT_INTERVAL_S",
    "RunResult",
    "RunSetup",
    "build_config",
    "guild_configs",
    "guild_policies",
    "owner_zones",
]

#: Local quiet hours of every simulated guild without an owner's config (start inclusive,
#: end exclusive).
QUIET_HOURS = (1, 7)
#: 60 s plus a little, never a whole second: see ``run``'s module docstring.
SNAPSHOT_INTERVAL_S = 60.0 + math.pi * 1e-4


class RunSetup(msgspec.Struct, frozen=True):
    """How to run one policy over the traffic.

    ``store_path`` None uses a ``MemoryStore``; ``control_socket`` None serves none.
    ``pinned_moods`` (non-empty) turns rotation off and gives guild ``i`` the mood
    ``pinned_moods[i % len]``. ``owner`` is the owner's decoded config (``--config``), whose
    guild settings the simulated guilds take; ``defaults`` are ``[defaults]`` keys set on
    top (``--chattiness``: ``{"chattiness": 0.5}``).
    """

    seed: int = 0
    grace_s: float = 120.0
    pinned_moods: tuple[str, ...] = ()
    store_path: str | None = None
    control_socket: str | None = None
    llm_url: str | None = None
    llm_model: str = "default"
    llm_workers: int = 2
    #: SIGINT / SIGTERM end the traffic early (the run still shuts down in order and
    #: reports what happened until then). For wall-clock runs from the command line.
    stop_on_signals: bool = False
    owner: Config | None = None
    defaults: dict[str, Any] = msgspec.field(default_factory=dict)
    #: Keep every sent message's words (``--transcript``).
    keep_words: bool = False
    #: Simulated people answer her actions (``--reactive``, ``people``); virtual time only.
    reactive: bool = False


class RunResult(msgspec.Struct):
    """What one run did: every send, the runtime's counters, how long it took."""

    policy: str
    clock: str
    sent: list[SentRecord]
    runtime: dict[str, int]
    wall_s: float
    #: Epoch time the traffic stopped: the window's end, or earlier if interrupted.
    ended_at: float = math.inf
    #: The first messages of each action: ``{action: [transcript line, ...]}``.
    examples: dict[str, list[dict[str, Any]]] = msgspec.field(default_factory=dict)
    #: Every message sent, as transcript lines (only with ``RunSetup.keep_words``).
    words: list[dict[str, Any]] = msgspec.field(default_factory=list)
    #: ``(time, guild)`` of each example, in the same order (to merge a split run's).
    example_keys: dict[str, list[tuple[float, int]]] = msgspec.field(default_factory=dict)
    #: The simulated people's answers to her actions (only with ``RunSetup.reactive``).
    answers: list[AnswerRecord] = msgspec.field(default_factory=list)


def _tables(owner: Config | None) -> list[dict[str, Any]]:
    """The owner's guild tables as ``[guilds.<id>]`` keys they set (channel left out)."""
    if owner is None:
        return []
    out = []
    for table in owner.guilds.values():
        keys = {k: v for k, v in msgspec.structs.asdict(table).items() if v is not None}
        keys.pop("autonomous_channel_id", None)
        out.append(keys)
    return out


def owner_zones(owner: Config, guilds: int) -> list[str]:
    """The time zone of each simulated guild under the owner's config (the traffic is made
    in it, so people are awake when the owner's people are)."""
    tables = _tables(owner)
    default = owner.defaults.timezone
    if not tables:
        return [default] * guilds
    return [tables[i % len(tables)].get("timezone", default) for i in range(guilds)]


def build_config(traffic: Traffic, policy: str, setup: RunSetup) -> Config:
    """The config of a run, built in code: one ``[guilds.<id>]`` table per simulated guild
    with its autonomous channel and time zone.

    Args:
        traffic: the simulated guilds.
        policy: ``v2`` or ``v1`` for every guild, or ``config`` for the policies of the
            owner's file.
        setup: the owner's config, ``[defaults]`` keys set by options, pinned moods, store,
            control socket, LLM server.

    Raises:
        ValueError: a ``[defaults]`` key this engine does not know, or a bad value (the
            message names the key and what is valid).
    """
    owner = setup.owner
    base: dict[str, Any] = (msgspec.structs.asdict(owner.defaults) if owner is not None
                            else {"quiet_hours": QUIET_HOURS})
    try:
        defaults = msgspec.convert({**base, **setup.defaults}, GuildDefaults)
    except msgspec.ValidationError as exc:
        raise ValueError(f"simulated [defaults]: {exc}") from None
    tables = _tables(owner)
    guilds: dict[int, GuildOverride] = {}
    for g in traffic.guilds:
        table: dict[str, Any] = dict(tables[g.plan.index % len(tables)]) if tables else {}
        table.update(autonomous_channel_id=g.plan.channel_id, timezone=g.plan.timezone)
        if policy != "config":
            table["policy"] = policy
        if setup.pinned_moods:
            table["rotate_moods"] = False
        guilds[g.plan.guild_id] = msgspec.convert(table, GuildOverride)
    llm = LLMConfig(workers=setup.llm_workers, queue_size=max(256, 2 * len(guilds)))
    if setup.llm_url is not None:
        llm = msgspec.structs.replace(llm, backend="openai", base_url=setup.llm_url,
                                      model=setup.llm_model)
    extra: dict[str, Any] = {"persona": owner.persona} if owner is not None else {}
    return Config(
        defaults=defaults, guilds=guilds, llm=llm,
        store=StoreConfig(path=setup.store_path or ":memory:"),
        runtime=RuntimeConfig(snapshot_interval_s=SNAPSHOT_INTERVAL_S,
                              control_socket=setup.control_socket or "unused.sock"),
        **extra,
    )


def guild_configs(config: Config) -> dict[int, GuildConfig]:
    """Each simulated guild's engine settings under ``config`` (for the report)."""
    return {gid: guild_settings(config, gid)[0] for gid in config.guilds}


def guild_policies(config: Config) -> dict[int, str]:
    """Each simulated guild's policy under ``config``: ``v2``, ``v1`` or ``shadow`` (V1
    acts, V2 only logs), for the report's columns."""
    return {gid: guild_settings(config, gid)[2] for gid in config.guilds}
