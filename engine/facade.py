"""The seed's engine API, kept working: ``AutonomousEngine`` and ``autonomous_engine``.

A thin shell over the pure core. It owns the per-guild states and the clock, nothing else; it
is the one place in ``engine/`` allowed a wall-clock default. It tracks each guild's one
channel, so it has no channel argument. Moods do not rotate here unless a ``config`` asks for
it: the seed's users set them with ``update_mood``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import msgspec

from engine.decision import Decision
from engine.errors import InvalidTimeError
from engine.moods import profile_for
from engine.presence import observe_join, observe_presence
from engine.record import record_action, rotate_mood
from engine.rules import ENGAGE_USER, decide
from engine.snapshot import encode_state, restore_state
from engine.state import (
    GuildConfig,
    GuildState,
    check_time,
    new_state,
    observe_message,
)

__all__ = ["AutonomousEngine", "autonomous_engine"]


class AutonomousEngine:
    """Decides when the persona speaks, per guild, from counters and timestamps.

    Args:
        clock: returns epoch seconds; defaults to the wall clock.
        seed: fixes every roll; None picks one at random (unseeded).
        startup_grace_s: no action until this long after the engine started, for guilds not
            restored from a snapshot.
        config: the settings every guild gets (``GuildConfig``; moods do not rotate by default).
    """

    def __init__(self, clock: Callable[[], float] | None = None, seed: int | None = None,
                 startup_grace_s: float = 120.0, config: GuildConfig | None = None) -> None:
        if not 0.0 <= startup_grace_s < float("inf"):
            raise ValueError(f"startup_grace_s must be finite and >= 0, got {startup_grace_s!r}")
        self._clock = clock if clock is not None else time.time
        self.seed = seed if seed is not None else random.SystemRandom().getrandbits(62)
        self.started_at = self._now()
        self.startup_grace_s = startup_grace_s
        self.config = config if config is not None else GuildConfig(rotate_moods=False)
        self._states: dict[int, GuildState] = {}
        self._last: dict[int, Decision] = {}
        #: guild -> (user, activity) of its last engage_user decision, for record_action.
        self._engage_for: dict[int, tuple[int | None, str | None]] = {}

    def _now(self) -> float:
        now = self._clock()
        try:
            return check_time(float(now))
        except (TypeError, ValueError, OverflowError):
            raise InvalidTimeError("the clock's time", now) from None

    def _state(self, guild_id: int, now: float) -> GuildState:
        state = self._states.get(guild_id)
        if state is None:
            if not isinstance(guild_id, int) or isinstance(guild_id, bool):
                raise TypeError(f"guild_id must be an int, got {type(guild_id).__name__}")
            state = new_state(guild_id, now,
                              grace_until=self.started_at + self.startup_grace_s)
            self._states[guild_id] = state
        return state

    def update_mood(self, guild_id: int, mood: str) -> None:
        """Set the guild's mood. Raises ValueError (``UnknownMoodError``) listing valid moods."""
        profile_for(mood)
        self._state(guild_id, self._now()).mood = mood

    def track_message(self, guild_id: int, author_is_bot: bool = False, *,
                      is_self: bool = False, author_id: int | None = None) -> None:
        """A message in the guild's channel. Bots' and the persona's own never count as
        conversation; the persona's own is an appearance. ``author_id`` is accepted for the
        seed's callers and not stored: this API cannot say that a message speaks to her, the
        only kind that feeds affinity (``engine.affinity``)."""
        now = self._now()
        observe_message(self._state(guild_id, now), now, author_is_bot, is_self)

    def track_presence(self, guild_id: int, user_id: int, status: str = "online",
                       activity: str | None = None, is_bot: bool = False) -> None:
        """A presence change; ``activity`` is the name of a newly started activity."""
        now = self._now()
        observe_presence(self._state(guild_id, now), now, user_id, status, activity, is_bot,
                         self.config)

    def track_member_join(self, guild_id: int, user_id: int, is_bot: bool = False) -> None:
        """A member joined the guild."""
        now = self._now()
        observe_join(self._state(guild_id, now), now, user_id, is_bot)

    def record_action(self, guild_id: int, action: str) -> None:
        """The persona acted (an appearance). For ``engage_user`` the target of the last
        ``engage_user`` decision is marked engaged, whatever was decided since."""
        now = self._now()
        user: int | None = None
        activity: str | None = None
        if action == ENGAGE_USER:
            user, activity = self._engage_for.pop(guild_id, (None, None))
        record_action(self._state(guild_id, now), now, action, user, activity,
                      affinity=self.config.affinity)

    def should_take_action(self, guild_id: int) -> str | None:
        """The action to take now (one of the seed's five names) or None. Does not record
        it. ``react`` never comes from here: it names a message by id, and ``track_message``
        is given none. With a config that rotates moods, the mood rotates first (hourly,
        asleep in quiet hours)."""
        now = self._now()
        state = self._state(guild_id, now)
        if self.config.rotate_moods:
            rotate_mood(state, self.config, now, self.seed)
        decision = decide(state, self.config, now, self.seed, explain=True)
        self._last[guild_id] = decision
        if decision.action == ENGAGE_USER:
            self._engage_for[guild_id] = (decision.target_user_id, decision.target_activity)
        return decision.action

    def explain(self, guild_id: int) -> dict[str, Any] | None:
        """The last decision or non-decision for the guild, with its signals, gates, every
        rule's conditions and the target; None if none was asked for yet."""
        last = self._last.get(guild_id)
        return None if last is None else msgspec.to_builtins(last)

    def state(self, guild_id: int) -> GuildState:
        """The guild's state (created if new)."""
        return self._state(guild_id, self._now())

    def snapshot(self, guild_id: int) -> bytes:
        """The guild's state as msgpack bytes."""
        return encode_state(self.state(guild_id))

    def restore(self, guild_id: int, data: bytes) -> None:
        """Replace the guild's state with a snapshot (no cold-start grace, one minimum gap
        from now; pending cleared)."""
        state, _ = restore_state(data, self._now(), min_gap_s=self.config.min_gap_s)
        if state.guild_id != guild_id:
            raise ValueError(f"snapshot is of guild {state.guild_id}, not {guild_id}")
        self._states[guild_id] = state


#: A default instance on the wall clock, unseeded, as the seed's callers expect.
autonomous_engine = AutonomousEngine()
