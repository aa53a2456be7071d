"""A store double with the settings half of store contract v2 (``load_settings``,
``save_settings``, ``load_optouts``, ``set_optout``) over the runtime's ``MemoryStore``:
the in-process stand-in for tests that need no file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.store import MemoryStore

__all__ = ["Live", "SettingsMemoryStore"]


class SettingsMemoryStore(MemoryStore):
    """``MemoryStore`` plus per-guild settings bytes and opt-outs, kept across
    ``close``/``open`` of the same object (a "restart" in a test)."""

    def __init__(self) -> None:
        super().__init__()
        self.settings: dict[int, bytes] = {}
        self.optouts: dict[int, float] = {}
        self.saves = 0

    async def load_settings(self) -> dict[int, bytes]:
        return dict(self.settings)

    async def save_settings(self, guild_id: int, data: bytes | None) -> None:
        if not 0 < guild_id < 2**63:
            raise ValueError(f"guild id out of range: {guild_id}")
        self.saves += 1
        if data is None:
            self.settings.pop(guild_id, None)
        else:
            self.settings[guild_id] = bytes(data)

    async def load_optouts(self) -> set[int]:
        return set(self.optouts)

    async def set_optout(self, user_id: int, opted_out: bool, at: float) -> None:
        if not 0 < user_id < 2**63:
            raise ValueError(f"user id out of range: {user_id}")
        if opted_out:
            self.optouts[user_id] = at
        else:
            self.optouts.pop(user_id, None)


class Live:
    """The supervisor's side of the settings: what is pushed to actors, and which guilds
    are live."""

    def __init__(self, live: tuple[int, ...] = (),
                 on_push: Callable[[Any], None] | None = None) -> None:
        self.pushed: list[Any] = []
        self.live = list(live)
        self.on_push = on_push or self.pushed.append

    def deliver(self, event: Any) -> bool:
        self.on_push(event)
        return True

    def live_guild_ids(self) -> list[int]:
        return list(self.live)
