"""The runtime's own exceptions (the pool's ``PoolRejected`` lives in ``runtime.pool``).

    ValueError
    └── ConfigError          the config file is unreadable or a value is invalid; names the path
    RuntimeError
    ├── MissingTokenError    DISCORD_TOKEN is not set in the environment
    ├── StartupError         something the config names cannot be used (a log directory, the
    │                        control socket, the store); names the config field
    └── SendRejected         Discord refused a message (403, 404, ...) or it could not be sent
"""

from __future__ import annotations

__all__ = ["ConfigError", "MissingTokenError", "SendRejected", "StartupError"]


class ConfigError(ValueError):
    """A config value is invalid. ``path`` is dotted (``guilds.123.timezone``); empty for the
    file as a whole."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}" if path else detail)


class MissingTokenError(RuntimeError):
    """The bot token is read only from the environment, and it is not there."""

    def __init__(self, variable: str = "DISCORD_TOKEN") -> None:
        self.variable = variable
        super().__init__(
            f"{variable} is not set: export the bot token as {variable} (it is never read "
            "from the config file)"
        )


class StartupError(RuntimeError):
    """The process cannot start because of what one config field names: ``field`` is dotted
    (``runtime.control_socket``), ``detail`` says what is wrong with it. The CLI prints
    ``error: FIELD: DETAIL`` on one line and exits with status 2."""

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}")


class SendRejected(RuntimeError):
    """A message was not sent; ``reason`` says why (``forbidden (403)``, ``http 404``, ...).

    The pool reports it as the request's failure reason. ``status`` is the HTTP status when
    Discord answered, else None.
    """

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(f"send rejected: {reason}")
