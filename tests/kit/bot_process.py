"""The bot as a real subprocess: the repository it runs from, a token Discord's stand-in
accepts, the one-liner that runs it, and an environment without the developer's token."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789"
RUN = "import sys; from runtime.bot import main_run; sys.exit(main_run(sys.argv[1]))"


def bot_env(**extra: str) -> dict[str, str]:
    """This process's environment less ``DISCORD_TOKEN``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env.update(extra)
    return env
