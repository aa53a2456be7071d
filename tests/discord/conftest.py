"""discord.py imports the deprecated ``audioop`` (voice support we never use) at import time;
with ``filterwarnings = error`` that import would fail, so it happens here, warning silenced."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401
