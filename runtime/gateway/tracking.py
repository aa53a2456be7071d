"""Her access to each ready guild's autonomous channel, kept between gateway events.

What the client knows of a guild it reported ready on this connection: whether she can speak
in its channel (and what is missing), the archived thread that is its channel (discord.py
drops archived threads from its cache, Discord leaves them out of GUILD_CREATE), and the
timer that looks again when a moderator's timeout of her ends (Discord sends no event then),
and the channels paused after Discord refused her there (``pauses.Pauses``: a check that
finds she may speak ends them). The client decides when to look (``runtime.gateway.client``);
this keeps what was seen and says what changed. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord

from runtime.gateway.access import THREAD_TYPES, can_react, channel_access
from runtime.gateway.pauses import Pauses

__all__ = ["Access"]

#: Margin after a timeout's end before looking again (Discord compares with its own clock).
_TIMEOUT_MARGIN_S = 1.0


class Access:
    """Per guild ready on this connection: ``(can_speak, missing)`` for its channel.

    Args:
        clock: epoch seconds now (the client's).
        call_later: ``(delay_s, fn)`` runs ``fn`` later (the client's loop); returns a handle
            with ``cancel()`` or None.
        look_again: ``guild_id -> None``: the client's recheck, called when a timeout ends.
    """

    def __init__(self, *, clock: Callable[[], float],
                 call_later: Callable[[float, Callable[[], None]], Any],
                 look_again: Callable[[int], None]) -> None:
        self._clock = clock
        self._call_later = call_later
        self._look_again = look_again
        self._of: dict[int, tuple[bool, str]] = {}
        #: Guilds whose channel does not let her react (Add Reactions, Read Message History).
        self._no_react: set[int] = set()
        #: Thread id -> the archived thread that is a guild's channel.
        self.archived: dict[int, discord.Thread] = {}
        self._timers: dict[int, Any] = {}
        #: Channels where Discord answered 403 although this said she may speak.
        self.pauses = Pauses(clock)

    def __contains__(self, guild_id: int) -> bool:
        return guild_id in self._of

    def get(self, guild_id: int) -> tuple[bool, str] | None:
        return self._of.get(guild_id)

    @property
    def ready(self) -> int:
        return len(self._of)

    @property
    def silent(self) -> int:
        return sum(1 for ok, _ in self._of.values() if not ok)

    def check(self, guild: discord.Guild, channel_id: int) -> tuple[bool, str]:
        """``channel_access`` with the archived threads known here."""
        return channel_access(guild, channel_id, self.archived)

    def can_react(self, guild_id: int) -> bool:
        """Whether the last check found she may react in the guild's channel."""
        return guild_id not in self._no_react

    def _note_react(self, guild: discord.Guild, channel_id: int) -> bool:
        """Check whether she may react there; returns: that changed."""
        was = guild.id not in self._no_react
        if can_react(guild, channel_id):
            self._no_react.discard(guild.id)
            return not was
        self._no_react.add(guild.id)
        return was

    def start(self, guild: discord.Guild, channel_id: int) -> tuple[bool, str]:
        """The guild is ready: its access now, kept (and a timeout's end awaited)."""
        access = self.check(guild, channel_id)
        self._of[guild.id] = access
        self._note_react(guild, channel_id)
        self._await_timeout_end(guild)
        if access[0]:
            self.pauses.restored(guild.id)
        return access

    def changed(self, guild: discord.Guild, channel_id: int) -> tuple[bool, str] | None:
        """Its access again, for a guild already kept: the new one when it, or whether she
        may react there (``can_react``), differs."""
        access = self.check(guild, channel_id)
        self._await_timeout_end(guild)
        if access[0]:
            self.pauses.restored(guild.id)
        if not self._note_react(guild, channel_id) and access == self._of.get(guild.id):
            return None
        self._of[guild.id] = access
        return access

    def forget(self, guild_id: int) -> bool:
        """Not ready any more (unavailable, removed, no channel). Returns: it was kept."""
        self._cancel(guild_id)
        self.pauses.forget(guild_id)
        self._no_react.discard(guild_id)
        return self._of.pop(guild_id, None) is not None

    def knows_channel(self, guild: discord.Guild, channel_id: int) -> bool:
        return guild.get_channel_or_thread(channel_id) is not None or channel_id in self.archived

    def thread_updated(self, thread: discord.Thread, channel_id: int | None) -> None:
        """A THREAD_UPDATE: her channel archived is kept here, unarchived is discord.py's."""
        if thread.archived and thread.id == channel_id:
            self.archived[thread.id] = thread
        else:
            self.archived.pop(thread.id, None)

    def thread_back(self, thread_id: int) -> None:
        """An uncached thread came back (unarchived: discord.py caches it again)."""
        self.archived.pop(thread_id, None)

    def thread_gone(self, thread_id: int) -> bool:
        """An archived thread deleted. Returns: it was kept here."""
        return self.archived.pop(thread_id, None) is not None

    def refusal(self, guild: discord.Guild | None, guild_id: int, channel_id: int,
                autonomous_id: int) -> str | None:
        """Why she may not send to ``channel_id`` now (its guild's access lost since the
        action was decided; a thread without what it needs), or None."""
        access = self._of.get(guild_id)
        if access is not None and not access[0]:
            return f"missing {access[1]}"
        if channel_id != autonomous_id and guild is not None:
            thread = guild.get_channel_or_thread(channel_id)
            if thread is not None and thread.type in THREAD_TYPES:
                ok, missing = self.check(guild, channel_id)
                if not ok:
                    return f"missing {missing}"
        return None

    def _await_timeout_end(self, guild: discord.Guild) -> None:
        self._cancel(guild.id)
        me = guild.me
        until = me.timed_out_until if me is not None and me.is_timed_out() else None
        if until is None:
            return
        delay = max(0.0, until.timestamp() - self._clock()) + _TIMEOUT_MARGIN_S
        guild_id = guild.id

        def look_again() -> None:
            self._timers.pop(guild_id, None)
            self._look_again(guild_id)

        self._timers[guild_id] = self._call_later(delay, look_again)

    def _cancel(self, guild_id: int) -> None:
        timer = self._timers.pop(guild_id, None)
        if timer is not None and hasattr(timer, "cancel"):
            timer.cancel()
