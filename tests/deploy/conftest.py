"""The two-process test drives the Discord stand-in of tests/discord; discord.py (imported by
it) imports the deprecated ``audioop`` at import time, silenced here as in tests/discord."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "discord"))
