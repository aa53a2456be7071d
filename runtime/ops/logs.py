"""structlog, configured once for the process: JSON lines on stderr (a console renderer on a
terminal), optional per-guild JSON-lines files, discord.py's stdlib logging routed through the
same pipeline, and redaction before anything is written.

The pipeline::

    merge_contextvars -> add_log_level -> float timestamp -> format_exc_info -> redact
        -> JSON (msgspec; also tee'd to guild-<id>.jsonl)  |  ConsoleRenderer on a tty

* Level filtering happens in the bound logger (``make_filtering_bound_logger``), so a filtered
  ``debug`` call costs a method call; loggers are cached on first use.
* ``redact`` drops any key named ``content``, ``text``, ``token`` (and a few other secret-ish
  names) whatever its value, and masks every string that looks like a Discord token or equals
  a registered secret (``register_secret``). Message content is not supposed to reach a log
  at all; this is the net under that rule.
* discord.py's own loggers are held at INFO or above: their DEBUG lines print request and
  response bodies, which carry message content.
* Guild files: a line carrying an int ``guild_id`` is also appended to
  ``<log_dir>/guild-<id>.jsonl``. At most ``max_open_files`` stay open (least recently used
  closed first), so ten thousand guilds do not mean ten thousand descriptors.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Literal, TextIO

import msgspec
import structlog

__all__ = [
    "REDACTED",
    "GuildFiles",
    "LoggingSetup",
    "configure_logging",
    "redact",
    "register_secret",
]

REDACTED = "[redacted]"
#: Keys dropped from every line, whatever their value.
_DROP_KEYS = frozenset({"content", "text", "token", "api_key", "authorization", "password"})
# A bot token: base64 user id, a timestamp part and an HMAC, dot-separated.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}")
_secrets: set[str] = set()
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears in a log line from now on (short values, under 8
    characters, are ignored: masking them would garble ordinary words)."""
    if value and len(value) >= 8:
        _secrets.add(value)


def _mask(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        if _TOKEN_RE.search(value):
            value = _TOKEN_RE.sub(REDACTED, value)
        for secret in _secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if depth < 3:
        if isinstance(value, dict):
            return {k: (REDACTED if str(k).lower() in _DROP_KEYS else _mask(v, depth + 1))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(_mask(v, depth + 1) for v in value)
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]
           ) -> MutableMapping[str, Any]:
    """A structlog processor: drop content/text/token keys, mask token-like strings."""
    for key in list(event_dict):
        if key.lower() in _DROP_KEYS:
            del event_dict[key]
        else:
            event_dict[key] = _mask(event_dict[key])
    return event_dict


def _timestamp(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]
               ) -> MutableMapping[str, Any]:
    event_dict["timestamp"] = time.time()
    return event_dict


class GuildFiles:
    """Append-only ``guild-<id>.jsonl`` files with a bounded number open at once (LRU).

    Thread-safe: a line may be logged from a worker thread.
    """

    def __init__(self, directory: str | Path, max_open: int = 64) -> None:
        if max_open < 1:
            raise ValueError(f"max_open must be >= 1, got {max_open}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_open = max_open
        self._files: OrderedDict[int, TextIO] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def path_for(self, guild_id: int) -> Path:
        return self.directory / f"guild-{guild_id}.jsonl"

    @property
    def open_count(self) -> int:
        return len(self._files)

    def write(self, guild_id: int, line: str) -> None:
        """Append one line (without its newline) to the guild's file."""
        with self._lock:
            if self._closed:
                return
            f = self._files.get(guild_id)
            if f is None:
                if len(self._files) >= self.max_open:
                    _, oldest = self._files.popitem(last=False)
                    oldest.close()
                # Line-buffered: a crash loses at most the line being written.
                f = open(self.path_for(guild_id), "a", buffering=1, encoding="utf-8")
                self._files[guild_id] = f
            else:
                self._files.move_to_end(guild_id)
            f.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            while self._files:
                _, f = self._files.popitem()
                f.close()


def _guild_of(event_dict: MutableMapping[str, Any]) -> int | None:
    gid = event_dict.get("guild_id")
    return gid if type(gid) is int and gid >= 0 else None


_encoder = msgspec.json.Encoder(enc_hook=repr)


class _JSONLines:
    """The final processor for JSON output: one msgspec-encoded line, also tee'd to the
    guild's file."""

    def __init__(self, guild_files: GuildFiles | None) -> None:
        self.guild_files = guild_files

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> str:
        line = _encoder.encode(event_dict).decode()
        gid = _guild_of(event_dict) if self.guild_files is not None else None
        if gid is not None:
            self.guild_files.write(gid, line)  # type: ignore[union-attr]
        return line


class _GuildTee:
    """Before a console renderer: write the JSON line to the guild's file."""

    def __init__(self, guild_files: GuildFiles) -> None:
        self.guild_files = guild_files

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        gid = _guild_of(event_dict)
        if gid is not None:
            self.guild_files.write(gid, _encoder.encode(event_dict).decode())
        return event_dict


class _ToStructlog(logging.Handler):
    """Routes stdlib records (discord.py's) into the structlog pipeline."""

    def emit(self, record: logging.LogRecord) -> None:
        # discord.py warns at every start that voice libraries are missing; we never use voice.
        if record.name == "discord.client" and "voice will NOT be supported" in str(record.msg):
            return
        try:
            log = structlog.get_logger()
            kw: dict[str, Any] = {"logger": record.name}
            if record.exc_info:
                kw["exc_info"] = record.exc_info
            log.log(record.levelno, record.getMessage(), **kw)
        except Exception:
            self.handleError(record)


class LoggingSetup:
    """What ``configure_logging`` installed; ``close()`` flushes and closes the guild files
    and detaches the stdlib handler."""

    def __init__(self, handler: logging.Handler, guild_files: GuildFiles | None) -> None:
        self.handler = handler
        self.guild_files = guild_files

    def close(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        if self.guild_files is not None:
            self.guild_files.close()


_current: LoggingSetup | None = None


def configure_logging(
    level: str = "info",
    *,
    renderer: Literal["auto", "json", "console"] = "auto",
    stream: TextIO | None = None,
    log_dir: str | Path | None = None,
    max_open_files: int = 64,
    cache: bool = True,
) -> LoggingSetup:
    """Configure structlog and stdlib logging for the process (again: replaces the last setup).

    Args:
        level: ``debug``, ``info``, ``warning`` or ``error``.
        renderer: ``auto`` is the console renderer when ``stream`` is a terminal, else JSON.
        stream: where lines go (default: stderr).
        log_dir: when set, lines with a ``guild_id`` are also appended to per-guild files.
        max_open_files: how many guild files stay open at once.
        cache: cache loggers on first use (tests turn it off to reconfigure freely).

    Returns:
        The ``LoggingSetup``; close it at exit.
    """
    global _current
    try:
        min_level = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; valid: {', '.join(_LEVELS)}") from None
    if _current is not None:
        _current.close()
    out = sys.stderr if stream is None else stream
    if renderer == "auto":
        renderer = "console" if getattr(out, "isatty", lambda: False)() else "json"
    guild_files = GuildFiles(log_dir, max_open_files) if log_dir is not None else None
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _timestamp,
    ]
    if renderer == "json":
        processors += [structlog.processors.format_exc_info, redact, _JSONLines(guild_files)]
    else:
        # The traceback is made text before redaction here too: a token in an exception's
        # message would otherwise reach the terminal (the console renderer formats it late).
        processors += [structlog.processors.format_exc_info, redact]
        if guild_files is not None:
            processors.append(_GuildTee(guild_files))
        processors.append(structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(min_level),
        context_class=dict,
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=cache,
    )
    root = logging.getLogger()
    handler = _ToStructlog(level=min_level)
    root.addHandler(handler)
    root.setLevel(min_level)
    # discord.py's DEBUG lines carry request/response bodies (message content).
    logging.getLogger("discord").setLevel(max(min_level, logging.INFO))
    _current = LoggingSetup(handler, guild_files)
    return _current
