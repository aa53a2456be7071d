"""Secrets come from the environment only: the bot token (``DISCORD_TOKEN``) and the
inference server's API key (the variable ``llm.api_key_env`` names). Never from the file,
never logged (``runtime.ops.logs.register_secret`` masks both)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from runtime.config.schema import Config
from runtime.errors import MissingTokenError

__all__ = ["TOKEN_ENV", "load_api_key", "load_token"]

TOKEN_ENV = "DISCORD_TOKEN"

def load_token(environ: Mapping[str, str] | None = None) -> str:
    """The bot token, from ``DISCORD_TOKEN`` only (never the config file, never logged).

    Raises:
        MissingTokenError: the variable is unset or blank.
    """
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise MissingTokenError(TOKEN_ENV)
    return token


def load_api_key(config: Config, environ: Mapping[str, str] | None = None) -> str | None:
    """The inference server's API key from the variable named by ``llm.api_key_env``
    (None when no variable is named or it is unset)."""
    name = config.llm.api_key_env
    if name is None:
        return None
    env = os.environ if environ is None else environ
    return env.get(name) or None

