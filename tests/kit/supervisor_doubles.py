"""Test doubles at the supervisor's edges: the real memory store recording its purges, and a
supervisor on a virtual clock (trio's ``MockClock``) with a recording sink."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing

from actors.actor import ActorSettings
from actors.clock import LoopClock
from engine import GuildConfig
from runtime.store import MemoryStore
from runtime.supervisor import Supervisor, SupervisorConfig
from tests.kit.actors import RecordingSink


class RemovingStore(MemoryStore):
    """``MemoryStore`` (store contract v2), recording each ``purge_removed`` call and
    showing which rows are flagged removed."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.purges: list[float] = []

    async def purge_removed(self, before: float) -> int:
        self.purges.append(before)
        return await super().purge_removed(before)

    @property
    def removed(self) -> dict[int, float]:
        """guild id -> when it was flagged removed."""
        return {r.guild_id: r.removed_at for r in self.snapshots() if r.removed_at is not None}


T0 = 1_700_000_000.0
SEED = 5
CFG = GuildConfig(quiet_hours=None, rotate_moods=False)


def settings(passivate_after_s: float = 0.0) -> Callable[[int], ActorSettings]:
    s = ActorSettings(config=CFG, channel_id=9, passivate_after_s=passivate_after_s)
    return lambda gid: s


def make_supervisor(store: Any, sink: RecordingSink, clock: LoopClock,
                    passivate_after_s: float = 0.0, **flags: Any) -> Supervisor:
    cfg = SupervisorConfig(**{"startup_grace_s": 0.0, "cache_passivated": True,
                              "gc_freeze": False, **flags})
    sup = Supervisor(store=store, settings_for=settings(passivate_after_s),
                     seed=SEED, config=cfg, clock=clock)
    sink.deliver = sup.deliver
    sink.auto_outcome = "sent"
    return sup


def run_virtual(body: Callable[[LoopClock], Awaitable[None]]) -> None:
    async def main() -> None:
        await body(LoopClock(T0))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
