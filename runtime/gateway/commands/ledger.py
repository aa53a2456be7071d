"""Whether the command tree needs syncing: a hash file for one process, the shared store for
several.

Discord keeps one global command tree per application and rate-limits replacing it, so the
tree is sent only when it changed since the last sync (its SHA-256, ``Commands.tree_hash``).
With SQLite (one process per host) the hash sits in a file beside the store (``FileLedger``).
With PostgreSQL every process of the bot shares it (``SharedLedger``, on
``runtime.store.pg_once``): of the processes starting together with a changed tree, one
syncs and the others do not. A store that cannot be reached at that moment does not hold the
start: the process syncs anyway and says so (one extra sync costs nothing but a request).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import structlog

from runtime.store.contract import StoreError

__all__ = ["FileLedger", "OnceStore", "SharedLedger", "SyncLedger"]

log = structlog.get_logger("runtime.commands")

#: A claim to sync whose process died lapses after this long (a sync takes seconds; discord.py
#: waits out a rate limit of up to a minute first).
_CLAIM_HOLD_S = 120.0
_NAME = "commands"


class SyncLedger(Protocol):
    async def should_sync(self, digest: str) -> bool:
        """Whether this process sends the tree of hash ``digest`` now."""
        ...

    async def synced(self, digest: str) -> None:
        """Discord took it."""
        ...

    async def failed(self, digest: str) -> None:
        """Discord refused it, or the request failed: the next start tries again."""
        ...


class FileLedger:
    """The hash of the last synced tree in a file (an unreadable one means syncing; an
    unwritable one is said at each sync)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def should_sync(self, digest: str) -> bool:
        try:
            return self.path.read_text().strip() != digest
        except OSError:
            return True

    async def synced(self, digest: str) -> None:
        try:
            self.path.write_text(digest + "\n")
        except OSError as exc:
            log.warning("commands.hash_not_saved", path=str(self.path),
                        error=exc.strerror or str(exc))

    async def failed(self, digest: str) -> None:
        return None


class OnceStore(Protocol):
    """What ``SharedLedger`` needs of ``runtime.store.pg_once.PgOnce``."""

    async def claim(self, name: str, value: str, *, hold_s: float) -> bool: ...
    async def done(self, name: str, value: str) -> None: ...
    async def release(self, name: str, value: str) -> None: ...


class SharedLedger:
    """The hash in the shared store: one process of those starting together syncs a changed
    tree; an unreachable store means syncing anyway (``commands.sync_store_unavailable``)."""

    def __init__(self, store: OnceStore, *, shown: str = "") -> None:
        self._store = store
        self._shown = shown

    async def should_sync(self, digest: str) -> bool:
        try:
            mine = await self._store.claim(_NAME, digest, hold_s=_CLAIM_HOLD_S)
        except (StoreError, TimeoutError) as exc:
            log.warning("commands.sync_store_unavailable", store=self._shown,
                        error=getattr(exc, "detail", None) or type(exc).__name__,
                        then="syncing without asking the other processes")
            return True
        if not mine:
            log.info("commands.synced_elsewhere", why="this tree was synced, or is being "
                     "synced, by another process of the bot")
        return mine

    async def synced(self, digest: str) -> None:
        await self._quietly("done", digest)

    async def failed(self, digest: str) -> None:
        await self._quietly("release", digest)

    async def _quietly(self, what: str, digest: str) -> None:
        try:
            await getattr(self._store, what)(_NAME, digest)
        except (StoreError, TimeoutError) as exc:
            # The next start asks again (a claim lapses): at worst one more sync.
            log.warning("commands.sync_not_recorded", store=self._shown,
                        error=getattr(exc, "detail", None) or type(exc).__name__)
