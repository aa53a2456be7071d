"""The pool's exceptions.

    RuntimeError
    └── PoolRejected      ``submit`` could not take the request (queue full, a second
                          autonomous request for a guild, unknown action, not running)
    Exception
    ├── BackendError      one attempt at the content backend failed; says whether a retry may
    │                     help and whether the server is at fault (for the circuit breaker)
    └── PersonaError      a persona file is bad; names the file and the key
    ValueError
    └── ItemsFileError    a local file of feed items is bad; names the file and the line

``SendRejected`` (the sender refused a message) lives in ``runtime.errors``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BackendError", "ItemsFileError", "PersonaError", "PoolRejected"]


class PoolRejected(RuntimeError):
    """The pool did not take a request; no ``ActionFinished`` will come for it.

    The caller treats the request as failed at once.
    """

    def __init__(self, reason: str, *, guild_id: int, request_id: int) -> None:
        self.reason = reason
        self.guild_id = guild_id
        self.request_id = request_id
        super().__init__(f"pool rejected request {request_id} of guild {guild_id}: {reason}")


class BackendError(Exception):
    """One attempt at the content backend failed.

    Args:
        reason: short, stable and free of content (``"http 503"``, ``"connect error"``);
            it becomes the request's failure reason.
        retryable: another attempt may succeed (connection errors, time-outs, 429, 5xx).
        server_fault: the server is down or broken (counts towards opening the breaker);
            a 429 or a 400 means it is alive.
        retry_after: seconds the server asked us to wait (``Retry-After``), or None.
    """

    def __init__(self, reason: str, *, retryable: bool, server_fault: bool = False,
                 retry_after: float | None = None) -> None:
        self.reason = reason
        self.retryable = retryable
        self.server_fault = server_fault
        self.retry_after = retry_after
        super().__init__(reason)


class PersonaError(ValueError):
    """A persona file is unreadable or a value in it is wrong.

    ``key`` is dotted (``actions.engage_user``); empty for the file as a whole.
    """

    def __init__(self, path: Path | str, key: str, detail: str) -> None:
        self.path = str(path)
        self.key = key
        self.detail = detail
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"persona file {where}: {detail}")


class ItemsFileError(ValueError):
    """A local file of feed items is unreadable or an item in it is wrong."""

    def __init__(self, path: Path | str, line: int, detail: str) -> None:
        self.path = str(path)
        self.line = line
        self.detail = detail
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"items file {where}: {detail}")
