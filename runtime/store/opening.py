"""Opening the process's store, waiting while it cannot be reached.

A database that is late at boot (or away for a while) is not a configuration error: the
process waits for it with back-off (1 s doubling to 30 s), saying so in one line when it
starts waiting and one when the store answers, and a stop (SIGTERM) ends the wait
(cancellation). What the owner must fix (a URL with a password, a file that is not a store,
a newer layout, a refused login) is raised at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import structlog

from runtime.store.contract import StoreUnavailableError

__all__ = ["open_with_retries"]

log = structlog.get_logger("runtime.store")

FIRST_S = 1.0
MAX_S = 30.0


async def open_with_retries(where: str, *, clock: Callable[[], float],
                            first_s: float = FIRST_S, max_s: float = MAX_S,
                            **kwargs: object) -> Any:
    """The open store ``where`` names (``open_store``), once it can be reached.

    Raises:
        StoreError: what retrying cannot fix (``NotAStoreError``, a bad URL, ...).
    """
    from runtime.store import open_store

    delay = first_s
    since: float | None = None
    attempts = 0
    while True:
        attempts += 1
        try:
            store = await open_store(where, clock=clock, **kwargs).open()
        except StoreUnavailableError as exc:
            if since is None:
                since = anyio.current_time()
                log.warning("store.unreachable_at_start", store=exc.path, error=exc.detail,
                            retry_in_s=delay, detail="waiting for the store (back-off to "
                            f"{max_s:g} s); SIGTERM stops the wait")
            await anyio.sleep(delay)
            delay = min(delay * 2, max_s)
            continue
        if since is not None:
            log.info("store.reachable", store=store.path, attempts=attempts,
                     waited_s=round(anyio.current_time() - since, 1))
        return store
