"""discord.py, imported with one warning silenced: it imports the deprecated ``audioop``
(voice support, which we never use) at import time, and the test suite turns warnings into
errors. Import ``discord`` from here (or after ``runtime.gateway``) in runtime code."""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord

__all__ = ["discord"]
