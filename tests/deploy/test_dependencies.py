"""What pyproject.toml installs is what the runtime relies on."""

from __future__ import annotations

import re
import tomllib

from tests.kit.deploy_files import REPO


def dependencies() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}


def test_discord_py_decodes_gateway_frames_with_orjson() -> None:
    """orjson is a dependency, and discord.py picks it up: every gateway frame is decoded
    with it (about 3x faster than the standard library's json, docs/SCALING.md)."""
    from runtime.gateway._discord import discord

    assert "orjson" in dependencies()
    assert discord.utils.HAS_ORJSON is True
    assert discord.utils._from_json.__module__ == "orjson"
