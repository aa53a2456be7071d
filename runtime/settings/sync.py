"""Following the store's settings and opt-outs: what admins and members change through any
process reaches every process.

``follow_store`` re-reads the store's settings and opt-outs when it starts (a process that
takes a shard reads its guilds' settings then, not only at open), whenever the store says
something changed (PostgreSQL LISTEN/NOTIFY: ``wait_changes``; within a second or so), and
every ``period_s`` in any case (the fallback: a store without notifications, a notification
lost with its connection). What changed reaches the live actors at once (``ConfigChanged``);
opt-outs apply to the next event screened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import structlog

from runtime.store import StoreError

__all__ = ["PERIOD_S", "follow_store"]

log = structlog.get_logger("runtime.settings")

#: The periodic re-read (the fallback when the store cannot notify).
PERIOD_S = 30.0


async def follow_store(settings: Any, store: Any, *, period_s: float = PERIOD_S,
                       on_synced: Callable[[list[int]], None] | None = None,
                       task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                       ) -> None:
    """Keep ``settings`` (``runtime.settings.Settings``) on the store's truth until cancelled.

    Args:
        settings: applies what it reads (``Settings.apply_store``).
        store: ``load_settings``/``load_optouts``, and ``wait_changes(timeout_s)`` when it can
            notify.
        period_s: the longest time between two re-reads.
        on_synced: called after each re-read with the guilds whose settings changed.
    """
    wait = getattr(store, "wait_changes", None)
    failing = False
    started = False
    while True:
        if wait is not None:
            # Listening before reading: a change committed after the read is then notified
            # (LISTEN takes effect only for what is sent after it).
            try:
                await wait(0.0)
            except (StoreError, TimeoutError):
                pass  # read anyway; the wait below retries the listener
        try:
            changed = settings.apply_store(await store.load_settings(),
                                           await store.load_optouts())
        except (StoreError, TimeoutError) as exc:
            if not failing:  # the store says when it is back; this says what waits for it
                failing = True
                log.warning("settings.sync_failed", error=str(exc) or "timed out")
        else:
            failing = False
            if on_synced is not None:
                on_synced(changed)
        if not started:  # read once before the caller goes on
            started = True
            task_status.started()
        if wait is None:
            await anyio.sleep(period_s)
            continue
        try:
            await wait(period_s)
        except (StoreError, TimeoutError):
            await anyio.sleep(min(period_s, 5.0))  # the listener reconnects at the next wait
