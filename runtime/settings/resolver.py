"""The live settings of every guild: the file's layers, what admins set, who opted out.

One ``Settings`` object per process. It answers the hot questions with a dict or set lookup
(``channel_of`` for the gateway on every event, ``screen`` for the router, ``excluded`` for
the pool's prompts), changes what admins change (persisted first, then applied: a failed
write changes nothing), and pushes ``ConfigChanged`` to a guild's live actor when its
settings change: a command, a reload of the file (SIGHUP), or a pause or held mood ending.
About 500 lines: one setter per setting, each a line or two over the shared ``_change``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import anyio
import anyio.abc
import msgspec
import structlog

from actors.actor import DEFAULT_DEADLINES, ActorSettings
from actors.events import (
    ConfigChanged,
    MemberJoined,
    MemberOptedOut,
    MessageSeen,
    PresenceChanged,
    ReactionChanged,
)
from engine import in_quiet_hours
from runtime.config import Config, load_config
from runtime.errors import ConfigError
from runtime.settings.layers import (
    MAX_MOOD_HOURS,
    MAX_PAUSE_HOURS,
    BadValue,
    Effective,
    SettingLocked,
    check_chattiness,
    check_hours,
    check_mood,
    check_policy,
    check_quiet_hours,
    check_timezone,
    effective,
    locked_keys,
)
from runtime.settings.stored import (
    SettingsDecodeError,
    StoredSettings,
    decode_settings,
    encode_settings,
)

__all__ = ["BadValue", "LiveGuilds", "RolesFn", "SettingLocked", "Settings", "SettingsStore"]

#: ``(guild_id, user_id) -> role ids``: the gateway's member cache (empty when not cached).
RolesFn = Callable[[int, int], Iterable[int]]


class SettingsStore(Protocol):
    """The settings half of the store contract (``runtime.store.SnapshotStore``)."""

    async def load_settings(self) -> dict[int, bytes]: ...

    async def save_settings(self, guild_id: int, data: bytes | None) -> None: ...

    async def load_optouts(self) -> set[int]: ...

    async def set_optout(self, user_id: int, opted_out: bool, at: float) -> None: ...


class LiveGuilds(Protocol):
    """Where changed settings go (``runtime.supervisor.Supervisor``)."""

    def deliver(self, event: Any) -> bool:
        """Hand ``ConfigChanged`` to the guild's actor (waking it if it sleeps)."""
        ...

    def live_guild_ids(self) -> list[int]:
        """The guilds whose actors run now."""
        ...

log = structlog.get_logger("runtime.settings")

_SCREENED = (MessageSeen, PresenceChanged, MemberJoined)


class Settings:
    """Every guild's effective settings, and the opt-outs.

    Args:
        config: the decoded file.
        clock: epoch seconds now, until ``open`` gives the loop's clock.
        loop_time: epoch -> the loop's clock, to sleep until a pause ends (None: epoch
            seconds are taken as loop time, i.e. ``clock`` is the loop's own clock).
        roles_of: the gateway's member cache, so ``screen`` and ``excluded`` honour
            ``ignore_role_ids``; None: roles are not known (the simulator, tests).

    Before ``open(store)`` only the file's layers apply and nothing can be changed. Changed
    settings reach live actors once ``run(supervisor)`` runs.
    """

    def __init__(self, config: Config, *, clock: Callable[[], float],
                 loop_time: Callable[[float], float] | None = None,
                 roles_of: RolesFn | None = None) -> None:
        self.config = config
        self.clock = clock
        self.loop_time = loop_time or (lambda epoch: epoch)
        self.store: SettingsStore | None = None
        self.roles_of = roles_of
        self._live: LiveGuilds | None = None
        self._stored: dict[int, StoredSettings] = {}
        self._optouts: set[int] = set()
        self._cache: dict[int, Effective] = {}
        #: When a guild's settings change by themselves (a pause or a held mood ends): the
        #: timer owes its actor a ConfigChanged then, whoever recomputes them first.
        self._expiries: dict[int, float] = {}
        self._changed: anyio.Event | None = None
        self._rebuild()

    # --- loading ------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """True once the store's settings are read: commands can change things."""
        return self.store is not None

    async def open(self, store: SettingsStore, *, clock: Callable[[], float] | None = None,
                   loop_time: Callable[[float], float] | None = None) -> Settings:
        """Read admins' settings and the opt-outs from ``store``; from now on time is read
        from ``clock`` and slept on with ``loop_time`` when given (the runtime's loop clock,
        so pauses end in virtual time in tests).

        A guild whose bytes cannot be read is logged and runs on the file's settings (its
        bytes stay in the store until an admin changes something there).
        """
        if clock is not None:
            self.clock = clock
        if loop_time is not None:
            self.loop_time = loop_time
        stored: dict[int, StoredSettings] = {}
        for gid, data in (await store.load_settings()).items():
            try:
                stored[gid] = decode_settings(gid, data)
            except SettingsDecodeError as exc:
                log.error("settings.unreadable", guild_id=gid, error=str(exc))
        self._optouts = set(await store.load_optouts())
        self._stored = stored
        self.store = store
        self._rebuild()
        log.info("settings.loaded", guilds=len(stored), opted_out=len(self._optouts))
        return self

    def apply_store(self, settings: dict[int, bytes], optouts: set[int]) -> list[int]:
        """Take the store's settings and opt-outs as they are now (``runtime.settings.sync``:
        another process may have changed them). Guilds whose settings changed get
        ``ConfigChanged``; returns their ids. Unreadable bytes keep what the guild had."""
        stored: dict[int, StoredSettings] = {}
        for gid, data in settings.items():
            try:
                stored[gid] = decode_settings(gid, data)
            except SettingsDecodeError as exc:
                log.error("settings.unreadable", guild_id=gid, error=str(exc))
                if gid in self._stored:
                    stored[gid] = self._stored[gid]
        changed = sorted(g for g in set(stored) | set(self._stored)
                         if stored.get(g) != self._stored.get(g))
        if optouts != self._optouts:
            log.info("settings.optouts_synced", opted_out=len(optouts))
            new = optouts - self._optouts
            self._optouts = set(optouts)
            self._forget(new)
        if changed:
            self._stored = stored
            now = self.clock()
            for gid in changed:
                self._refresh(gid, now, force=True)
            log.info("settings.synced", guilds=changed)
        return changed

    def _rebuild(self) -> None:
        """Recompute the lookup tables from the config and the stored settings."""
        config = self.config
        d = config.defaults
        self._deadlines = {**DEFAULT_DEADLINES, **config.llm.deadlines}
        self._ignore_users_all = frozenset(d.ignore_user_ids)
        self._ignore_roles_all = frozenset(d.ignore_role_ids)
        self._ignore_users = {gid: frozenset(t.ignore_user_ids)
                              for gid, t in config.guilds.items() if t.ignore_user_ids}
        self._ignore_roles = {gid: frozenset(t.ignore_role_ids) | self._ignore_roles_all
                              for gid, t in config.guilds.items() if t.ignore_role_ids}
        self._cache.clear()
        now = self.clock()
        self._default = effective(config, None, 0, now, deadlines=self._deadlines)
        self._channels: dict[int, int] = {}
        for gid in set(config.guilds) | set(self._stored):
            e = self.effective(gid, now)
            if e.channel_id is not None and e.enabled:
                self._channels[gid] = e.channel_id
        if self._changed is not None:
            self._changed.set()

    # --- the hot questions --------------------------------------------------------------

    def channel_of(self, guild_id: int) -> int | None:
        """The guild's autonomous channel, or None (then the gateway reports nothing of it).
        A dict lookup: the gateway calls it for every event."""
        return self._channels.get(guild_id)

    def opted_out(self, user_id: int) -> bool:
        """The member asked to be left out (in every guild)."""
        return user_id in self._optouts

    def opted_out_ids(self) -> list[int]:
        """Every opted-out user id, sorted (for ``inspect``)."""
        return sorted(self._optouts)

    def ignored(self, guild_id: int, user_id: int, role_ids: Iterable[int] = ()) -> bool:
        """The file ignores this user (by id, or by one of ``role_ids``) in this guild."""
        if user_id in self._ignore_users_all:
            return True
        users = self._ignore_users.get(guild_id)
        if users is not None and user_id in users:
            return True
        roles = self._ignore_roles.get(guild_id, self._ignore_roles_all)
        return bool(roles) and not roles.isdisjoint(role_ids)

    def excluded(self, guild_id: int, user_id: int) -> bool:
        """Lines by this user are left out of prompts (``LLMPool(exclude_user=...)``):
        opted out, or ignored by the file."""
        if user_id in self._optouts:
            return True
        roles = () if self.roles_of is None else self.roles_of(guild_id, user_id)
        return self.ignored(guild_id, user_id, roles)

    def screen(self, event: Any) -> Any:
        """An event on its way to the router, as the settings let it through (or None).

        Ignored users' events are dropped (never counted; their reactions neither). An
        opted-out member still counts (ids and times) but is never an opportunity nor
        answered: their new activity is stripped, their join is dropped (a join only matters
        as someone to greet), and a message of theirs is counted as a plain message without
        its id (it addresses nobody, she never reacts to it, and its deletion is not taken
        back).
        """
        kind = type(event)
        if kind is MessageSeen:
            uid = event.author_id
        elif kind is PresenceChanged or kind is MemberJoined or kind is ReactionChanged:
            uid = event.user_id  # (an ignored user's reaction is no sign of the room's tone)
        else:
            return event
        gid = event.guild_id
        if uid in self._ignore_users_all or uid in self._ignore_users.get(gid, ()):
            return None
        if self.roles_of is not None:
            roles = self._ignore_roles.get(gid, self._ignore_roles_all)
            if roles and not roles.isdisjoint(self.roles_of(gid, uid)):
                return None
        if uid in self._optouts:
            if kind is MemberJoined:
                return None
            if kind is PresenceChanged and event.activity is not None:
                return msgspec.structs.replace(event, activity=None)
            if kind is MessageSeen:
                # Counted, but never answered and never a message she reacts to (the actor
                # keeps no message id of 0).
                return msgspec.structs.replace(event, addresses_self=False, message_id=0)
        return event

    def guard(self, sink: Any) -> _GuardedSink:
        """``sink`` (the pool), refusing an action aimed at a member who opted out or is
        ignored: the last line of defence when the choice came after the opportunity was
        seen (the actor records the refusal like any other)."""
        return _GuardedSink(sink, self)

    # --- settings -----------------------------------------------------------------------

    def effective(self, guild_id: int, now: float | None = None) -> Effective:
        """The guild's settings now, with their sources."""
        if now is None:
            now = self.clock()
        e = self._cache.get(guild_id)
        if e is not None and now < e.expires_at:
            return e
        if guild_id not in self.config.guilds and guild_id not in self._stored:
            return msgspec.structs.replace(self._default, guild_id=guild_id)
        e = effective(self.config, self._stored.get(guild_id), guild_id, now,
                      deadlines=self._deadlines)
        self._cache[guild_id] = e
        if e.expires_at < math.inf:
            self._expiries[guild_id] = e.expires_at
        return e

    def settings_for(self, guild_id: int) -> ActorSettings:
        """The ``ActorSettings`` a guild's actor starts with (the supervisor's
        ``settings_for``). Guilds with nothing of their own share one object."""
        if guild_id not in self.config.guilds and guild_id not in self._stored:
            return self._default.actor
        return self.effective(guild_id).actor

    def describe(self, guild_id: int) -> dict[str, Any]:
        """The guild's settings with where each comes from, as plain data (``inspect``,
        ``/miku status``): ``{key: {"value": ..., "source": ..., "locked": bool}}``."""
        e = self.effective(guild_id)
        values = {"channel": e.channel_id, "pause": e.paused_until,
                  "chattiness": e.chattiness,
                  "quiet_hours": list(e.quiet_hours) if e.quiet_hours else None,
                  "timezone": e.timezone, "mood": e.mood, "policy": e.policy}
        out: dict[str, Any] = {
            key: {"value": value, "source": e.sources.get(key, "file: defaults"),
                  "locked": key in e.locked}
            for key, value in values.items()}
        if e.mood_until is not None:
            out["mood"]["until"] = e.mood_until
        out["enabled"] = e.enabled
        return out

    def stored(self, guild_id: int) -> StoredSettings:
        """What admins set for the guild (empty when nothing)."""
        return self._stored.get(guild_id) or StoredSettings()

    async def _change(self, guild_id: int, key: str, **fields: Any) -> Effective:
        if self.store is None:
            raise RuntimeError("settings are not loaded yet")
        locked = locked_keys(self.config, guild_id)
        if key in locked:
            table = self.config.guilds.get(guild_id)
            where = f"guilds.{guild_id}.locked" if table and key in table.locked \
                else "defaults.locked"
            raise SettingLocked(key, where)
        now = self.clock()
        # The guild's row as the store has it now (another process may have changed it):
        # this change writes only its own keys over it.
        load_one = getattr(self.store, "load_guild_settings", None)
        if load_one is not None:
            self._take_stored(guild_id, await load_one(guild_id))
        old = self.stored(guild_id)
        new = _drop_expired(msgspec.structs.replace(old, **fields), now)
        if new == old:
            return self.effective(guild_id, now)
        # Persisted first: if the store fails, the guild keeps its old settings.
        await self.store.save_settings(guild_id, None if new.is_empty() else encode_settings(new))
        if new.is_empty():
            self._stored.pop(guild_id, None)
        else:
            self._stored[guild_id] = new
        self._refresh(guild_id, now)
        log.info("settings.changed", guild_id=guild_id, key=key)
        return self.effective(guild_id, now)

    def _take_stored(self, guild_id: int, data: bytes | None) -> None:
        try:
            current = None if data is None else decode_settings(guild_id, data)
        except SettingsDecodeError:
            return  # unreadable: the change goes over what this process had
        if current is None:
            self._stored.pop(guild_id, None)
        else:
            self._stored[guild_id] = current

    def _refresh(self, guild_id: int, now: float, *, force: bool = False) -> None:
        before = self._cache.pop(guild_id, None)
        e = self.effective(guild_id, now)
        if e.channel_id is not None and e.enabled:
            self._channels[guild_id] = e.channel_id
        else:
            self._channels.pop(guild_id, None)
        if force or before is None or before.actor != e.actor:
            self._push(guild_id, e.actor)
        if self._changed is not None:
            self._changed.set()

    def _push(self, guild_id: int, settings: ActorSettings) -> None:
        if self._live is not None:
            self._live.deliver(ConfigChanged(guild_id, settings))

    async def set_channel(self, guild_id: int, channel_id: int | None) -> Effective:
        """Set her autonomous channel (None: clear it, whatever the file says).

        Raises:
            SettingLocked: the file locks ``channel``.
            BadValue: not a valid id.
        """
        if channel_id is not None and not 0 < channel_id < 2**63:
            raise BadValue(f"not a channel id: {channel_id}")
        return await self._change(guild_id, "channel", channel_id=channel_id or 0)

    async def pause(self, guild_id: int, hours: float) -> Effective:
        """No autonomous action for ``hours`` (replies stay).

        Raises:
            SettingLocked, BadValue: as for every setting.
        """
        h = check_hours(hours, most=MAX_PAUSE_HOURS, what="pause")
        return await self._change(guild_id, "pause", paused_until=self.clock() + h * 3600)

    async def resume(self, guild_id: int) -> Effective:
        """End a pause now."""
        return await self._change(guild_id, "pause", paused_until=None)

    async def set_chattiness(self, guild_id: int, level: float) -> Effective:
        """Set how ready she is to speak on her own (0..2)."""
        return await self._change(guild_id, "chattiness", chattiness=check_chattiness(level))

    async def set_quiet_hours(self, guild_id: int, hours: tuple[int, int] | None) -> Effective:
        """Set quiet hours ``(start, end)``, or None for none."""
        value = () if hours is None else check_quiet_hours(*hours)
        return await self._change(guild_id, "quiet_hours", quiet_hours=value)

    async def set_timezone(self, guild_id: int, name: str) -> Effective:
        """Set the guild's IANA time zone."""
        return await self._change(guild_id, "timezone", timezone=check_timezone(name))

    async def set_policy(self, guild_id: int, name: str) -> Effective:
        """Set the decision policy (v2, v1, shadow)."""
        return await self._change(guild_id, "policy", policy=check_policy(name))

    async def hold_mood(self, guild_id: int, mood: str, hours: float) -> Effective:
        """Hold ``mood`` for ``hours``, or until the guild's quiet hours start if sooner (she
        still sleeps then): rotation is off until then. The caller delivers the ``MoodSet``
        that changes the mood itself.

        Raises:
            BadValue: unknown mood, bad hours, or quiet hours now (she is asleep).
            SettingLocked: the file locks ``mood``.
        """
        mood = check_mood(mood)
        h = check_hours(hours, most=MAX_MOOD_HOURS, what="mood")
        now = self.clock()
        cfg = self.effective(guild_id, now).actor.config
        quiet, ends = in_quiet_hours(cfg, now)
        if quiet:
            raise BadValue(f"it is quiet hours here until <t:{int(ends)}:t> and she is asleep;"
                           " change or turn off quiet-hours first")
        until = _quiet_start(cfg, now, now + h * 3600)
        return await self._change(guild_id, "mood", mood=mood, mood_until=until)

    async def set_optout(self, user_id: int, opted_out: bool) -> bool:
        """Record a member's choice (every guild). Returns whether it changed anything."""
        if self.store is None:
            raise RuntimeError("settings are not loaded yet")
        if (user_id in self._optouts) == opted_out:
            return False
        await self.store.set_optout(user_id, opted_out, self.clock())
        if opted_out:
            self._optouts.add(user_id)
            self._forget({user_id})
        else:
            self._optouts.discard(user_id)
        log.info("settings.optout", opted_out=opted_out)
        return True

    def _forget(self, user_ids: Iterable[int]) -> None:
        """Members who just opted out: every live guild forgets what it knew of them
        (``MemberOptedOut``: their affinity, their open opportunities). A guild asleep keeps
        ids only, never used for them: every event of theirs is screened, every action aimed
        at them refused (``guard``)."""
        if self._live is None:
            return
        for uid in user_ids:
            for gid in self._live.live_guild_ids():
                self._live.deliver(MemberOptedOut(gid, uid))

    # --- the file, again ----------------------------------------------------------------

    def reload(self, config: Config) -> list[int]:
        """Take a new config: guilds whose settings changed get ``ConfigChanged`` (live ones
        only: a passivated guild reads its settings when it wakes).

        Returns:
            The live guilds whose settings changed, sorted.
        """
        live = self._live.live_guild_ids() if self._live is not None else []
        before = {gid: self.effective(gid).actor for gid in live}
        restart = [name for name in ("llm", "store", "discord", "runtime", "persona", "feeds")
                   if getattr(config, name) != getattr(self.config, name)]
        self.config = config
        self._rebuild()
        changed = []
        for gid in live:
            after = self.effective(gid).actor
            if after != before[gid]:
                changed.append(gid)
                self._push(gid, after)
        log.info("settings.reloaded", changed_guilds=len(changed),
                 **({"needs_restart": restart} if restart else {}))
        return sorted(changed)

    def reload_file(self, path: str) -> list[int] | None:
        """Re-read the config file and ``reload`` it. A bad file is one log line and the old
        settings stay.

        Returns:
            The changed live guilds, or None when the file was refused.
        """
        try:
            config = load_config(path)
        except ConfigError as exc:
            log.error("settings.reload_failed", path=path, error=str(exc))
            return None
        return self.reload(config)

    # --- pauses and held moods end on time ----------------------------------------------

    def _next_expiry(self) -> tuple[float, list[int]]:
        soonest, due = math.inf, []
        for gid, at in self._expiries.items():
            if at < soonest:
                soonest, due = at, [gid]
            elif at == soonest:
                due.append(gid)
        return soonest, due

    async def run(self, supervisor: LiveGuilds, *,
                  task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Until cancelled: changed settings go to ``supervisor``'s live actors; when a pause
        or a held mood ends, push the guild's new settings (its actor is woken for it if it
        was passivated, so a paused quiet guild speaks again on time)."""
        self._live = supervisor
        task_status.started()
        while True:
            self._changed = anyio.Event()
            now = self.clock()
            at, due = self._next_expiry()
            # A hair of slack: the loop's clock and the epoch clock round differently, and
            # a deadline "just" missed must not spin.
            if at > now + 1e-6:
                deadline = math.inf if math.isinf(at) else self.loop_time(at)
                with anyio.CancelScope(deadline=deadline):
                    await self._changed.wait()
                continue
            for gid in due:
                if self._expiries.get(gid) == at:
                    del self._expiries[gid]
                self._refresh(gid, max(now, at), force=True)
                log.info("settings.expired", guild_id=gid)


class _GuardedSink:
    __slots__ = ("settings", "sink")

    def __init__(self, sink: Any, settings: Settings) -> None:
        self.sink = sink
        self.settings = settings

    def submit(self, request: Any) -> None:
        uid = request.target_user_id
        if uid is not None and self.settings.excluded(request.guild_id, uid):
            raise RuntimeError("the target member opted out or is ignored")
        self.sink.submit(request)

    def __getattr__(self, name: str) -> Any:
        # The pool's other faces (statistics, ...) stay reachable through the guard.
        return getattr(self.sink, name)


def _quiet_start(cfg: Any, now: float, until: float) -> float:
    """When quiet hours next start after ``now`` (a local hour boundary), or ``until`` if
    not before. Every UTC offset is whole quarter hours, so quarter hours are checked: at
    most 672 for the longest hold, a millisecond or two, once per command."""
    if cfg.quiet_hours is None:
        return until
    at = (math.floor(now) // 900 + 1) * 900
    while at < until:
        if in_quiet_hours(cfg, at)[0]:
            return float(at)
        at += 900
    return until


def _drop_expired(s: StoredSettings, now: float) -> StoredSettings:
    """Forget a pause or a held mood that has ended (so a stored row can empty out)."""
    changes: dict[str, Any] = {}
    if s.paused_until is not None and s.paused_until <= now:
        changes["paused_until"] = None
    if s.mood_until is not None and s.mood_until <= now:
        changes["mood_until"] = None
        changes["mood"] = None
    return msgspec.structs.replace(s, **changes) if changes else s

