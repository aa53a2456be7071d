"""Reading the config file: TOML, decoded into ``runtime.config.schema``'s Structs, checked.

Decoding is two steps: msgspec checks types and ranges, then ``_check_*`` checks what a type
cannot say (time zones, quiet hours, shard ids, the LLM server). Either way an error is a
``ConfigError`` whose message starts with a dotted path and says what would be valid:
``guilds.123.timezone: unknown time zone 'Mars/Base'; use an IANA name such as 'UTC'``.

Guild tables are decoded one by one, because msgspec reports a dict value's path as
``$.guilds[...]`` and the guild id is the part an operator needs to see.

Relative paths follow one rule, whatever directory the bot is started from: what she writes
(``store.path``, ``runtime.control_socket``, ``runtime.log_dir``) is relative to
``runtime.state_dir``; what she reads (``persona.path``, ``feeds.items_file``) and
``state_dir`` itself are relative to the config file's directory, which is also
``state_dir``'s default. So a config in a read-only ``/etc`` can name a writable state
directory (``/var/lib/miku-autonomy/0``: systemd's ``StateDirectory=``) once.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from engine import (
    ALL_ACTIONS,
    CHATTINESS_RULE,
    MAX_ACTIONS_PER_DAY,
    UnknownTimezoneError,
    check_chattiness,
    zone,
)
from runtime.config.schema import (
    LOCKABLE,
    Config,
    GuildDefaults,
    GuildOverride,
)
from runtime.errors import ConfigError

__all__ = ["decode_config", "load_config", "split_address"]

_MSGSPEC_PATH = re.compile(r"^(?P<detail>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
_PART = re.compile(r"\[\d+\]|[^.\[\]]+")


def _strip(tp: Any) -> Any:
    """The type under Annotated / Optional."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _type_at(root: Any, parts: list[str]) -> Any:
    tp = root
    for part in parts:
        tp = _strip(tp)
        origin = typing.get_origin(tp)
        if part.startswith("[") and origin in (tuple, list):
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            tp = typing.get_type_hints(tp, include_extras=True).get(part)
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
        if tp is None:
            return None
    return _strip(tp)


def _fields(tp: Any) -> str:
    return ", ".join(f for f in tp.__struct_fields__)


def _parts(path: str) -> list[str]:
    """``$.discord.shard_ids[0]`` -> ["discord", "shard_ids", "[0]"]."""
    return list(_PART.findall(path.removeprefix("$")))


def _render(parts: list[str]) -> str:
    """["discord", "shard_ids", "[0]"] -> ``discord.shard_ids[0]``."""
    out = ""
    for p in parts:
        out += p if p.startswith("[") or not out else "." + p
    return out


def _config_error(exc: msgspec.ValidationError, root: Any, prefix: list[str]) -> ConfigError:
    """Turn msgspec's ``detail - at `$.a.b``` into ``a.b: detail; valid: ...``."""
    m = _MSGSPEC_PATH.match(str(exc))
    assert m is not None
    detail = m["detail"]
    parts = _parts(m["path"] or "$")
    unknown = _UNKNOWN_FIELD.match(detail)
    if unknown:
        tp = _type_at(root, parts)
        parts = [*parts, unknown["name"]]
        detail = "unknown field"
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            detail += f"; valid fields: {_fields(tp)}"
    else:
        # TOML has no null: "expected `int | null`" only confuses.
        detail = (detail[:1].lower() + detail[1:]).replace(" | null", "")
        tp = _type_at(root, parts)
        if typing.get_origin(tp) is Literal:
            detail += "; valid: " + ", ".join(repr(a) for a in typing.get_args(tp))
    return ConfigError(_render(prefix + parts), detail)


def _check_timezone(name: str, path: str) -> None:
    try:
        zone(name)
    except UnknownTimezoneError:
        raise ConfigError(
            path, f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


def _check_quiet_hours(hours: tuple[int, ...], path: str) -> None:
    if len(hours) not in (0, 2) or (len(hours) == 2 and hours[0] == hours[1]):
        raise ConfigError(
            path, f"expected [start, end] with two different hours 0..23 (or [] for none), "
            f"got {list(hours)}"
        )


def _check_guild_table(table: GuildDefaults | GuildOverride, prefix: str) -> None:
    if table.timezone is not None:
        _check_timezone(table.timezone, f"{prefix}.timezone")
    if table.quiet_hours is not None:
        _check_quiet_hours(table.quiet_hours, f"{prefix}.quiet_hours")
    if table.keywords is not None:
        for i, k in enumerate(table.keywords):
            if not k.strip():
                raise ConfigError(f"{prefix}.keywords[{i}]", "a keyword cannot be empty")
    for i, key in enumerate(table.locked):
        if key not in LOCKABLE:
            raise ConfigError(f"{prefix}.locked[{i}]",
                              f"cannot lock {key!r}; valid: {', '.join(LOCKABLE)}")
    if table.chattiness is not None:
        try:
            check_chattiness(table.chattiness)
        except ValueError:
            raise ConfigError(f"{prefix}.chattiness",
                              f"expected {CHATTINESS_RULE}, got {table.chattiness}") from None
    cap = table.max_actions_per_day
    if cap is not None and not 0 <= cap <= MAX_ACTIONS_PER_DAY:
        raise ConfigError(f"{prefix}.max_actions_per_day",
                          f"expected a whole number from 0 to {MAX_ACTIONS_PER_DAY} "
                          f"(leave it out for no cap), got {cap}")


def _check_url(url: str | None, path: str, schemes: tuple[str, ...]) -> None:
    if url is not None and not url.startswith(schemes):
        raise ConfigError(path, f"expected a URL starting with {' or '.join(schemes)}, got {url!r}")


#: The Discord API version discord.py 2.7 speaks (its ``Route.BASE`` ends with it).
_API_PATH = "/api/v10"


def _check_api_base(url: str | None) -> None:
    """``[discord] api_base_url``: where discord.py sends its REST requests instead of
    ``https://discord.com/api/v10`` (a rate-limiting proxy shared by every process of the
    bot, or a stand-in). An http(s) URL with a host, ending with the API path discord.py
    appends its routes to, no query or fragment."""
    if url is None:
        return
    path = "discord.api_base_url"
    example = ("such as 'http://discord-proxy.internal:8080/api/v10' (a rate-limiting proxy "
               "in front of Discord, docs/SCALING.md)")
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(path, f"expected an http:// or https:// URL with a host, {example}; "
                                f"got {url!r}")
    try:
        parsed.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ConfigError(path, f"the port is not a number 0..65535, got {url!r}") from None
    if parsed.query or parsed.fragment:
        raise ConfigError(path, f"expected no query or fragment ('?', '#'), got {url!r}")
    if not parsed.path.rstrip("/").endswith(_API_PATH):
        raise ConfigError(path, f"expected the URL to end with {_API_PATH} (discord.py "
                                f"appends its routes to it), {example}; got {url!r}")


_ADDRESS = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")


def split_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` / ``"[::1]:9108"`` / ``"localhost:9108"`` -> (host, port).

    Raises:
        ValueError: not ``host:port`` with a port 0..65535 (0: any free port).
    """
    m = _ADDRESS.match(text.strip())
    if m is None or int(m["port"]) > 65535:
        raise ValueError(f"expected \"host:port\" such as \"127.0.0.1:9108\" or \"[::1]:9108\" "
                         f"(port 0..65535), got {text!r}")
    return m["v6"] or m["host"], int(m["port"])


def _check_store_url(url: str | None) -> None:
    if url is None:
        return
    from runtime.store.pg_schema import redact_url

    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("store.url", "expected a URL starting with postgresql://, got "
                          f"{redact_url(url)!r} (a SQLite file goes in store.path)")
    if redact_url(url) != url:
        raise ConfigError("store.url", "the URL carries a password: remove it and give it to "
                          "libpq in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass)")


def _check(cfg: Config) -> None:
    _check_guild_table(cfg.defaults, "defaults")
    for gid, override in cfg.guilds.items():
        _check_guild_table(override, f"guilds.{gid}")
    llm = cfg.llm
    _check_url(llm.base_url, "llm.base_url", ("http://", "https://"))
    _check_store_url(cfg.store.url)
    known = ALL_ACTIONS
    for action in llm.deadlines:
        if action not in known:
            raise ConfigError(f"llm.deadlines.{action}",
                              f"unknown action; valid: {', '.join(known)}")
    if llm.backend == "openai":
        if not llm.base_url:
            raise ConfigError("llm.base_url", "required when llm.backend is 'openai' "
                              "(e.g. 'http://127.0.0.1:8080/v1')")
        if not llm.model:
            raise ConfigError("llm.model", "required when llm.backend is 'openai'")
    if llm.api_key_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*",
                                                        llm.api_key_env):
        raise ConfigError("llm.api_key_env", "expected the NAME of an environment variable "
                          f"(letters, digits, _), got {llm.api_key_env!r}")
    d = cfg.discord
    if d.shard_ids is not None:
        if d.shard_count is None:
            raise ConfigError("discord.shard_count", "required when discord.shard_ids is set")
        for i, sid in enumerate(d.shard_ids):
            if sid >= d.shard_count:
                raise ConfigError(f"discord.shard_ids[{i}]",
                                  f"shard {sid} does not exist; valid: 0..{d.shard_count - 1}")
        if len(set(d.shard_ids)) != len(d.shard_ids) or not d.shard_ids:
            raise ConfigError("discord.shard_ids", "expected distinct shard ids, at least one")
    _check_api_base(d.api_base_url)
    _check_url(d.gateway_url, "discord.gateway_url", ("ws://", "wss://"))
    for i, url in enumerate(cfg.feeds.urls):
        _check_url(url, f"feeds.urls[{i}]", ("http://", "https://"))
    if cfg.runtime.state_dir is not None and not cfg.runtime.state_dir.strip():
        raise ConfigError("runtime.state_dir", "expected a directory (leave it out for the "
                          "config file's directory), got an empty string")
    if cfg.runtime.metrics_address is not None:
        try:
            split_address(cfg.runtime.metrics_address)
        except ValueError as exc:
            raise ConfigError("runtime.metrics_address", str(exc)) from None


def _decode_guilds(raw: Any) -> dict[int, GuildOverride]:
    if not isinstance(raw, Mapping):
        raise ConfigError("guilds", "expected a table of [guilds.<guild id>] tables")
    guilds: dict[int, GuildOverride] = {}
    for key, value in raw.items():
        if not (isinstance(key, str) and key.isdigit() and 0 < int(key) < 2**63):
            raise ConfigError(f"guilds.{key}", "a guild table is named by the guild's numeric id "
                              "([guilds.123456789012345678])")
        try:
            guilds[int(key)] = msgspec.convert(value, GuildOverride)
        except msgspec.ValidationError as exc:
            raise _config_error(exc, GuildOverride, ["guilds", key]) from None
    return guilds


def _resolve(path: str, base: Path | None) -> str:
    p = Path(path).expanduser()
    if base is not None and not p.is_absolute():
        p = base / p
    return str(p)


def decode_config(text: str | bytes, *, base_dir: str | Path | None = None) -> Config:
    """Decode and check a config document.

    Args:
        text: the TOML document.
        base_dir: the config file's directory: relative paths it reads, and
            ``runtime.state_dir``, are taken from here; relative paths it writes from
            ``state_dir`` (default: this directory). None leaves relative paths as they are.

    Returns:
        The checked ``Config``.

    Raises:
        ConfigError: bad TOML, a bad value or an unknown key; the message starts with the
            dotted path (``guilds.123.timezone: unknown time zone 'Mars/Base'; ...``).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError as exc:
            raise ConfigError("", f"the file is not UTF-8 ({exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"invalid TOML: {exc}") from None
    guilds = _decode_guilds(raw.pop("guilds", {}))
    try:
        cfg = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise _config_error(exc, Config, []) from None
    cfg = msgspec.structs.replace(cfg, guilds=guilds)
    _check(cfg)
    if base_dir is not None:
        base = Path(base_dir)
        rt = cfg.runtime
        state = Path(_resolve(rt.state_dir, base)) if rt.state_dir is not None else base
        cfg = msgspec.structs.replace(
            cfg,
            store=msgspec.structs.replace(cfg.store, path=_resolve(cfg.store.path, state)),
            runtime=msgspec.structs.replace(
                rt,
                state_dir=str(state),
                control_socket=_resolve(rt.control_socket, state),
                log_dir=None if rt.log_dir is None else _resolve(rt.log_dir, state),
            ),
            persona=msgspec.structs.replace(
                cfg.persona,
                path=None if cfg.persona.path is None else _resolve(cfg.persona.path, base),
            ),
            feeds=msgspec.structs.replace(
                cfg.feeds, items_file=None if cfg.feeds.items_file is None
                else _resolve(cfg.feeds.items_file, base)),
        )
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and decode the config file at ``path`` (relative paths inside follow the rule in
    this module's docstring: written ones from ``runtime.state_dir``, read ones from the
    file's directory).

    Raises:
        ConfigError: the file cannot be read, or ``decode_config`` refuses it. The message
            does not repeat the file name; the CLI adds it.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read the config file: {exc.strerror or exc}") from None
    return decode_config(data, base_dir=p.resolve().parent)

