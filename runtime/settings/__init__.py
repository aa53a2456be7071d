"""Per-guild settings in three layers: the file's ``[defaults]``, its ``[guilds.<id>]``
table, then what the guild's admins set from Discord (kept in the store); and the members'
opt-outs. See ``Settings`` for the live object, ``layers`` for the merge rules and
``stored`` for the versioned bytes the store keeps."""

from runtime.settings.layers import (
    CHATTINESS_RANGE,
    MAX_MOOD_HOURS,
    MAX_PAUSE_HOURS,
    BadValue,
    Effective,
    SettingLocked,
    autonomous_channels,
    effective,
    guild_settings,
)
from runtime.settings.resolver import LiveGuilds, RolesFn, Settings
from runtime.settings.stored import (
    SETTINGS_VERSION,
    SettingsDecodeError,
    SettingsVersionError,
    StoredSettings,
    decode_settings,
    encode_settings,
)

__all__ = [
    "CHATTINESS_RANGE",
    "MAX_MOOD_HOURS",
    "MAX_PAUSE_HOURS",
    "SETTINGS_VERSION",
    "BadValue",
    "Effective",
    "LiveGuilds",
    "RolesFn",
    "SettingLocked",
    "Settings",
    "SettingsDecodeError",
    "SettingsVersionError",
    "StoredSettings",
    "autonomous_channels",
    "decode_settings",
    "effective",
    "encode_settings",
    "guild_settings",
]
