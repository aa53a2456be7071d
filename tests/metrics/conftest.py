"""discord.py imports the deprecated ``audioop`` at import time (see tests/discord/conftest.py);
the gateway tests here import the stand-in from tests/discord."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "discord"))
