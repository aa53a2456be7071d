"""The router: the one way an event from outside reaches a guild's actor.

``Router.deliver(event)`` is synchronous and never blocks (DESIGN.md, "The life of an event"):
it screens the event through the settings (ignored users and roles, opted-out members:
``runtime.settings.Settings.screen``, the only place events are screened) and hands what is
left to the supervisor, which admits it to the guild's mailbox (``runtime.supervisor``).

Why it is bound late: the gateway client is built before the runtime runs (the runtime sends
through it), but the settings are read from the store and the supervisor exists only while the
runtime runs. The router is that one seam: the runtime opens it with ``serving`` for as long as
its supervisor runs, and outside that span every event is refused (and counted), never queued
or lost silently. Nothing else is wired after construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from actors.events import Event

if TYPE_CHECKING:
    from runtime.settings import Settings

__all__ = ["Admits", "Router"]


class Admits(Protocol):
    """What the router hands screened events to (``runtime.supervisor.Supervisor``)."""

    def deliver(self, event: Event) -> bool:
        """Admit ``event`` to its guild; False when refused. Never blocks."""
        ...


class Router:
    """Screens events and hands them to the supervisor while the runtime serves."""

    __slots__ = ("_settings", "_supervisor", "refused")

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._supervisor: Admits | None = None
        #: Events refused because the runtime was not serving (before start, after stop).
        self.refused = 0

    def deliver(self, event: Event) -> bool:
        """Route ``event`` (synchronous, never blocks).

        Returns:
            True when its guild's actor took it; False when it was screened out (an ignored
            or opted-out member), refused by the supervisor, or the runtime is not serving.
        """
        settings, supervisor = self._settings, self._supervisor
        if supervisor is None or settings is None:
            self.refused += 1
            return False
        screened = settings.screen(event)
        if screened is None:
            return False
        return supervisor.deliver(screened)

    def channel_of(self, guild_id: int) -> int | None:
        """The guild's autonomous channel while serving (the settings' answer), else None:
        the gateway reports nothing of a guild until the runtime can take its events."""
        settings = self._settings
        return None if settings is None else settings.channel_of(guild_id)

    def excluded(self, guild_id: int, user_id: int) -> bool:
        """The member is left out of what she reads and whom she names (ignored, or opted
        out: the settings' answer) while serving; False before (nothing is read then)."""
        settings = self._settings
        return False if settings is None else settings.excluded(guild_id, user_id)

    @property
    def serving_now(self) -> bool:
        """True between ``serving``'s start and end."""
        return self._supervisor is not None

    @contextmanager
    def serving(self, settings: Settings, supervisor: Admits) -> Iterator[Router]:
        """Route to ``supervisor`` through ``settings`` for the span of the ``with`` block.

        Raises:
            RuntimeError: the router is already serving (one runtime per router).
        """
        if self._supervisor is not None:
            raise RuntimeError("this router already serves a runtime")
        self._settings, self._supervisor = settings, supervisor
        try:
            yield self
        finally:
            self._settings = self._supervisor = None
