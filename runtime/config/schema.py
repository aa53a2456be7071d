"""The config file's schema: one frozen msgspec Struct per table of the TOML file.

Layout (see ``bot.example.toml``)::

    [defaults]          settings every guild starts from
    [guilds.<id>]       per-guild overrides (autonomous_channel_id lives only here)
    [llm] [store] [discord] [runtime] [persona] [feeds]

The types say what msgspec can check (types, ranges); ``runtime.config.load`` checks the rest.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from engine import GuildConfig, PolicyName

__all__ = [
    "LOCKABLE",
    "Config",
    "DiscordConfig",
    "FeedsConfig",
    "GuildDefaults",
    "GuildOverride",
    "LLMConfig",
    "PersonaConfig",
    "PolicyName",
    "RuntimeConfig",
    "StoreConfig",
]

Hour = Annotated[int, msgspec.Meta(ge=0, le=23)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Snowflake = Annotated[int, msgspec.Meta(gt=0)]
#: Settings a guild table may lock so that slash commands cannot change them.
LOCKABLE = ("channel", "pause", "chattiness", "quiet_hours", "timezone", "mood", "policy")

_ENGINE_DEFAULTS = GuildConfig()


class _Table(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class GuildDefaults(_Table, frozen=True):
    """What every guild starts from. ``quiet_hours = []`` means none."""

    enabled: bool = True
    timezone: str = _ENGINE_DEFAULTS.timezone
    quiet_hours: tuple[Hour, ...] = _ENGINE_DEFAULTS.quiet_hours or ()
    policy: PolicyName = "v2"
    keywords: tuple[str, ...] = _ENGINE_DEFAULTS.keywords
    rotate_moods: bool = True
    mood_rotation_s: Seconds = _ENGINE_DEFAULTS.rotation_period_s
    min_gap_s: Annotated[float, msgspec.Meta(ge=0)] = _ENGINE_DEFAULTS.min_gap_s
    #: Users and roles she never counts, greets, answers or reads (every guild).
    ignore_user_ids: tuple[Snowflake, ...] = ()
    ignore_role_ids: tuple[Snowflake, ...] = ()
    #: Settings no guild may change from Discord (see ``LOCKABLE``).
    locked: tuple[str, ...] = ()
    chattiness: float = _ENGINE_DEFAULTS.chattiness
    max_actions_per_day: int | None = None
    learn_hours: bool = _ENGINE_DEFAULTS.learn_hours
    affinity: bool = _ENGINE_DEFAULTS.affinity
    tone: bool = _ENGINE_DEFAULTS.tone


class GuildOverride(_Table, frozen=True):
    """One guild's overrides; an absent key inherits from ``[defaults]``."""

    autonomous_channel_id: Snowflake | None = None
    enabled: bool | None = None
    timezone: str | None = None
    quiet_hours: tuple[Hour, ...] | None = None
    policy: PolicyName | None = None
    keywords: tuple[str, ...] | None = None
    rotate_moods: bool | None = None
    mood_rotation_s: Seconds | None = None
    min_gap_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    #: Added to the ``[defaults]`` lists: ignored in this guild as well.
    ignore_user_ids: tuple[Snowflake, ...] = ()
    ignore_role_ids: tuple[Snowflake, ...] = ()
    #: Settings this guild's admins cannot change from Discord (added to ``[defaults]``).
    locked: tuple[str, ...] = ()
    chattiness: float | None = None
    max_actions_per_day: int | None = None
    learn_hours: bool | None = None
    affinity: bool | None = None
    tone: bool | None = None


class LLMConfig(_Table, frozen=True):
    """The content backend. ``api_key_env`` names an environment variable, never the key."""

    backend: Literal["offline", "openai"] = "offline"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    workers: Annotated[int, msgspec.Meta(ge=1, le=256)] = 2
    queue_size: Annotated[int, msgspec.Meta(ge=1)] = 256
    #: One HTTP request to the inference server, whole.
    timeout_s: Seconds = 60.0
    connect_timeout_s: Seconds = 5.0
    #: Wait for the first byte of an answer (a one-slot server queues requests: count it).
    first_byte_timeout_s: Seconds = 60.0
    #: The ceiling of an answer's token cap: each action and mood asks for less (its budget
    #: of characters, a Discord line; see runtime/pool/prompt.py), this bounds it.
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 200
    #: Sampling: 0 is greedy (the same words for the same prompt).
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] = 0.9
    #: Nucleus sampling; None leaves the server's default.
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    #: Seconds after the decision at which an action's words are worthless, per action
    #: (reply, join_conversation, fomo_response, engage_user, break_silence, share_tweet,
    #: general); unnamed actions keep their defaults (reply 60, join 120 … silence 1800).
    deadlines: dict[str, Seconds] = msgspec.field(default_factory=dict)


class StoreConfig(_Table, frozen=True):
    """The SQLite file ``path`` (the default), or a shared PostgreSQL database ``url``."""

    path: str = "miku-autonomy.sqlite3"
    #: ``postgresql://user@host:port/dbname``: the shared store (several processes, several
    #: hosts). No password in it: libpq reads PGPASSWORD, PGPASSFILE or ~/.pgpass.
    url: str | None = None
    #: A shard lease lasts this long without renewal (renewed every third of it): how long a
    #: stopped process's shards wait before another process may take them.
    lease_ttl_s: Annotated[float, msgspec.Meta(ge=1.0, le=3600.0)] = 30.0


class DiscordConfig(_Table, frozen=True):
    """Which shards this process owns: ``shard_ids`` of ``shard_count``; absent means all."""

    shard_ids: tuple[Annotated[int, msgspec.Meta(ge=0)], ...] | None = None
    shard_count: Annotated[int, msgspec.Meta(ge=1)] | None = None
    #: discord.py's start-up chunking of *every* guild (all members of every guild in memory).
    #: Off: the guilds with an autonomous channel are chunked anyway once ready (with
    #: ``members_intent``), which is what the signals need in guilds over 250 members.
    chunk_guilds_at_startup: bool = False
    #: The privileged Presence intent (Developer Portal): who is online, games started.
    #: Off: she never greets someone for starting a game and sees nobody online at ready.
    presence_intent: bool = True
    #: The privileged Server Members intent: joins and complete member lists of large guilds.
    #: Off: she never greets a member who joins, and large guilds are not chunked.
    members_intent: bool = True
    #: The slash command group's name (``/miku ...``): 1-32 lowercase letters, digits, - or _.
    command_name: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]{1,32}$")] = "miku"
    #: Where REST requests go instead of ``https://discord.com/api/v10``: an http(s) URL
    #: ending with ``/api/v10``. For several processes of one bot, a rate-limiting HTTP proxy
    #: in front of Discord that all of them share, so the bot as a whole keeps under
    #: Discord's global 50 requests/s (docs/SCALING.md, "Where the limits are", says what
    #: such a proxy must do); in tests, a loopback stand-in. None: Discord itself.
    api_base_url: str | None = None
    #: The gateway's websocket URL instead of the one ``GET /gateway/bot`` names (tests
    #: only: a loopback stand-in).
    gateway_url: str | None = None

    def shard_set(self) -> tuple[tuple[int, ...], int]:
        """The shards this process runs and of how many: ``shard_ids`` of ``shard_count``;
        every shard of ``shard_count`` when only it is set; shard 0 of 1 when neither is.

        Raises:
            ValueError: ``shard_ids`` without ``shard_count`` (the file's check refuses it
                too; this guards a config built in code).
        """
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("discord.shard_count: required when discord.shard_ids is set")
            return self.shard_ids, self.shard_count
        if self.shard_count is not None:
            return tuple(range(self.shard_count)), self.shard_count
        return (0,), 1


class RuntimeConfig(_Table, frozen=True):
    tick_s: Seconds = 600.0
    snapshot_interval_s: Seconds = 60.0
    passivate_after_s: Seconds = 3600.0
    #: A guild seen for the first time decides nothing for this long after the start.
    startup_grace_s: Annotated[float, msgspec.Meta(ge=0)] = 120.0
    shutdown_timeout_s: Seconds = 10.0
    #: She answers one person at most once per this many seconds.
    reply_cooldown_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    #: Where what she writes goes: a relative ``store.path``, ``control_socket`` or
    #: ``log_dir`` is taken from here (and this, when relative, from the config file's
    #: directory). Absent: the config file's directory. After loading it is always set.
    state_dir: str | None = None
    control_socket: str = "miku-autonomy.sock"
    log_dir: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_max_open_files: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    #: Serve Prometheus metrics, /healthz and /readyz on this "host:port" (off when absent;
    #: port 0 picks a free one). Plain HTTP without auth: keep it on loopback or a private net.
    metrics_address: str | None = None


class PersonaConfig(_Table, frozen=True):
    #: A persona file replacing the built-in one.
    path: str | None = None


class FeedsConfig(_Table, frozen=True):
    #: A local file of items to share (JSON or TOML: id, title, url), for offline use.
    items_file: str | None = None
    #: RSS/Atom feeds fetched every ``refresh_s`` seconds.
    urls: tuple[str, ...] = ()
    refresh_s: Seconds = 1800.0


class Config(_Table, frozen=True):
    defaults: GuildDefaults = msgspec.field(default_factory=GuildDefaults)
    guilds: dict[int, GuildOverride] = msgspec.field(default_factory=dict)
    llm: LLMConfig = msgspec.field(default_factory=LLMConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    discord: DiscordConfig = msgspec.field(default_factory=DiscordConfig)
    runtime: RuntimeConfig = msgspec.field(default_factory=RuntimeConfig)
    persona: PersonaConfig = msgspec.field(default_factory=PersonaConfig)
    feeds: FeedsConfig = msgspec.field(default_factory=FeedsConfig)

