"""What a guild's admins set from Discord, as the versioned bytes the store keeps.

The store treats these bytes as opaque (``save_settings(guild_id, data)``); only this module
reads and writes them. Every field is "not set" when None, so the file's layers show through:
a command sets a field, and nothing else.

The bytes are msgpack maps carrying ``version``. Bytes of a newer version (a newer release
wrote them, then the bot was rolled back) are refused with ``SettingsVersionError`` rather than
half-read; bytes of an older version are upgraded on read by the functions in ``_UPGRADES``
(one per version step, applied in order). Version 1 is the first shape, so the table is empty
today: the next change of shape bumps ``SETTINGS_VERSION`` and adds its step there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

__all__ = [
    "SETTINGS_VERSION",
    "SettingsDecodeError",
    "SettingsVersionError",
    "StoredSettings",
    "decode_settings",
    "encode_settings",
]

SETTINGS_VERSION = 1


class StoredSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One guild's settings from slash commands. None everywhere means "nothing set".

    ``channel_id`` 0 means an admin cleared the channel (no channel, whatever the file
    says); None means no command set it. ``quiet_hours`` ``()`` means "off" (set by a
    command), None means not set. ``paused_until`` and ``mood_until`` are epoch seconds;
    once past they no longer apply (and are dropped at the next change).
    """

    version: int = SETTINGS_VERSION
    channel_id: int | None = None
    paused_until: float | None = None
    chattiness: float | None = None
    quiet_hours: tuple[int, ...] | None = None
    timezone: str | None = None
    policy: str | None = None
    mood: str | None = None
    mood_until: float | None = None

    def is_empty(self) -> bool:
        """True when nothing is set (the store row can be deleted)."""
        return all(getattr(self, f) is None for f in self.__struct_fields__ if f != "version")


class SettingsDecodeError(ValueError):
    """Stored settings bytes that cannot be read (corrupt, or not settings at all)."""

    def __init__(self, guild_id: int, detail: str) -> None:
        super().__init__(f"guild {guild_id}: unreadable stored settings ({detail})")
        self.guild_id = guild_id
        self.detail = detail


class SettingsVersionError(SettingsDecodeError):
    """Stored settings written by a newer version of the bot than this one."""

    def __init__(self, guild_id: int, version: int) -> None:
        super().__init__(guild_id, f"written as version {version}; this bot reads versions "
                         f"1..{SETTINGS_VERSION}: upgrade the bot, or clear them with "
                         "the guild's commands")
        self.version = version


#: ``{from_version: upgrade}``: each turns a version-N map into a version-N+1 map.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

_encoder = msgspec.msgpack.Encoder()
_raw_decoder = msgspec.msgpack.Decoder(dict[str, Any])


def encode_settings(settings: StoredSettings) -> bytes:
    """The settings as versioned msgpack bytes (always the current version)."""
    if settings.version != SETTINGS_VERSION:
        settings = msgspec.structs.replace(settings, version=SETTINGS_VERSION)
    return _encoder.encode(settings)


def decode_settings(guild_id: int, data: bytes) -> StoredSettings:
    """Read stored settings bytes, upgrading an older version.

    Args:
        guild_id: whose they are (for the error message).
        data: what ``encode_settings`` wrote (this version or an older one).

    Returns:
        The settings, in the current version.

    Raises:
        SettingsVersionError: written by a newer version.
        SettingsDecodeError: not readable as settings (the message names the bad field).
    """
    try:
        raw = _raw_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise SettingsDecodeError(guild_id, str(exc)) from None
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SettingsDecodeError(guild_id, f"no valid version field (got {version!r})")
    if version > SETTINGS_VERSION:
        raise SettingsVersionError(guild_id, version)
    while version < SETTINGS_VERSION:
        step = _UPGRADES.get(version)
        if step is None:
            raise SettingsDecodeError(guild_id, f"no upgrade from version {version}")
        raw = step(raw)
        version += 1
        raw["version"] = version
    try:
        return msgspec.convert(raw, StoredSettings)
    except msgspec.ValidationError as exc:
        raise SettingsDecodeError(guild_id, str(exc)) from None
