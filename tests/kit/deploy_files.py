"""Reading deploy/ as its tools would: the systemd unit's entries, the compose file's
services and mounts, the configs they name."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "miku-autonomy@.service"


def unit_entries(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values in order]}} (keys may repeat)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        out[section].setdefault(key.strip(), []).append(value.strip())
    return out


def seconds(value: str) -> float:
    """``45s`` / ``5min`` / ``10`` -> seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min)?", value)
    assert m, value
    return float(m[1]) * (60 if m[2] == "min" else 1)


def compose() -> dict[str, Any]:
    """deploy/compose.yaml, YAML merge keys applied."""
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())  # type: ignore[no-any-return]


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """A service's volumes: {target: (source, mode)}."""
    out = {}
    for v in service.get("volumes", []):
        source, target, *mode = v.split(":")
        out[target] = (source, mode[0] if mode else "rw")
    return out


def bot_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose()["services"].items() if n.startswith("bot-")}


def flag(command: list[str], name: str) -> str:
    """The value after ``name`` in an argv list."""
    return command[command.index(name) + 1]


def bot_config(service: dict[str, Any]) -> dict[str, Any]:
    """The TOML a bot service's --config names, read through its (read-only) mount."""
    source, mode = mounts(service)[flag(service["command"], "--config")]
    assert mode == "ro", "the config is mounted read-only"
    return tomllib.loads((DEPLOY / source).read_text())


def port_of(address: str) -> str:
    return address.rsplit(":", 1)[1]
