"""The TOML config file: its schema (``schema``), how it is read and checked (``load``),
whether the paths it writes to can be used (``paths``), and the secrets that never live in
it (``secrets``). How a guild's settings are layered from it
is ``runtime.settings``'s job."""

from runtime.config.load import decode_config, load_config, split_address
from runtime.config.paths import MAX_SOCKET_PATH, check_writable_paths, path_problems
from runtime.config.schema import (
    LOCKABLE,
    Config,
    DiscordConfig,
    FeedsConfig,
    GuildDefaults,
    GuildOverride,
    LLMConfig,
    PersonaConfig,
    PolicyName,
    RuntimeConfig,
    StoreConfig,
)
from runtime.config.secrets import TOKEN_ENV, load_api_key, load_token

__all__ = [
    "LOCKABLE",
    "MAX_SOCKET_PATH",
    "TOKEN_ENV",
    "Config",
    "DiscordConfig",
    "FeedsConfig",
    "GuildDefaults",
    "GuildOverride",
    "LLMConfig",
    "PersonaConfig",
    "PolicyName",
    "RuntimeConfig",
    "StoreConfig",
    "check_writable_paths",
    "decode_config",
    "load_api_key",
    "load_config",
    "load_token",
    "path_problems",
    "split_address",
]
