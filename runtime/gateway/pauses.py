"""Channels where Discord refused her (403): nothing more is sent there for a while.

The access tracker (``tracking.Access``) refuses a send it knows she may not make. When it
thinks she may and Discord answers 403 anyway (50013 Missing Permissions, 50001 Missing
Access: an overwrite or a role the cache did not hear of, a private thread she is not in),
every later mention in that channel would cost the same refused request. A 403 pauses the
channel instead: its sends (replies above all, which the engine's failure back-off does not
cover) are refused before any request, until

* her access is known to be restored: a channel, role, thread or member update (or a new
  session's GUILD_CREATE) that the tracker checks again and finds she may speak; or
* the pause runs out: 10 minutes after the first 403, doubling after each 403 that follows
  one (the next send after a pause is the probe), up to an hour.

One warning when a channel's pause begins (an "episode"), one line when it ends; the
refusals in between are counted, not logged. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import structlog

__all__ = ["FIRST_PAUSE_S", "FORBIDDEN_CODES", "LONGEST_PAUSE_S", "Pauses"]

log = structlog.get_logger("runtime.gateway")

#: The JSON error codes of a 403 that mean she may not speak there (Opcodes and Status
#: Codes, "JSON Error Codes"): Missing Access, Missing Permissions.
FORBIDDEN_CODES = frozenset({50001, 50013})
#: The first pause after a 403, and the longest one (doubling in between).
FIRST_PAUSE_S = 600.0
LONGEST_PAUSE_S = 3600.0


class _Pause(msgspec.Struct, gc=False):
    until: float
    length_s: float
    code: int


class Pauses:
    """Paused channels, by ``(guild_id, channel_id)``.

    Args:
        clock: epoch seconds now (the client's).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._paused: dict[tuple[int, int], _Pause] = {}
        #: Episodes begun, and sends refused during one, since start.
        self.begun = 0
        self.held = 0

    @property
    def channels(self) -> int:
        """Channels in an episode now (paused, or waiting for the probe's answer)."""
        return len(self._paused)

    def refusal(self, guild_id: int, channel_id: int, *, count: bool = True) -> str | None:
        """Why a send to the channel is refused without a request now, or None (not
        paused, or the pause ran out: this send is the probe). ``count``: a send held
        (the typing indicator before it is not counted again)."""
        pause = self._paused.get((guild_id, channel_id))
        if pause is None or self._clock() >= pause.until:
            return None
        self.held += count
        left = round(pause.until - self._clock())
        return f"paused after a 403 (code {pause.code}) for {left} s more"

    def forbidden(self, guild_id: int, channel_id: int, code: int | None) -> None:
        """Discord answered a send there 403 ``code``: pause the channel (again, for twice
        as long, when the 403 answers the probe after a pause)."""
        if code not in FORBIDDEN_CODES:
            return
        key = (guild_id, channel_id)
        now = self._clock()
        pause = self._paused.get(key)
        if pause is None:
            self.begun += 1
            self._paused[key] = _Pause(now + FIRST_PAUSE_S, FIRST_PAUSE_S, code)
            log.warning("send.channel_paused", guild_id=guild_id, channel_id=channel_id,
                        code=code, pause_s=FIRST_PAUSE_S)
            return
        length = min(LONGEST_PAUSE_S, pause.length_s * 2.0) if now >= pause.until \
            else pause.length_s
        self._paused[key] = _Pause(now + length, length, code)
        log.debug("send.channel_paused_again", guild_id=guild_id, channel_id=channel_id,
                  code=code, pause_s=length)

    def sent(self, guild_id: int, channel_id: int) -> None:
        """A send there went through: the episode is over."""
        if self._paused.pop((guild_id, channel_id), None) is not None:
            log.info("send.channel_resumed", guild_id=guild_id, channel_id=channel_id,
                     why="a send went through")

    def restored(self, guild_id: int) -> None:
        """Her access to the guild's channel was checked again and she may speak: every
        pause in the guild ends."""
        ended = [key for key in self._paused if key[0] == guild_id]
        for key in ended:
            del self._paused[key]
            log.info("send.channel_resumed", guild_id=guild_id, channel_id=key[1],
                     why="access restored")

    def forget(self, guild_id: int) -> None:
        """The guild is not ready any more (unavailable, removed, no channel): its pauses
        are dropped silently (when it is ready again, its access is checked afresh)."""
        for key in [key for key in self._paused if key[0] == guild_id]:
            del self._paused[key]
