"""deploy/: the systemd template unit and the compose file say what DEPLOY.md says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from runtime.config import RuntimeConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
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
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min)?", value)
    assert m, value
    return float(m[1]) * (60 if m[2] == "min" else 1)


def test_unit_stops_in_order_and_restarts_on_failure_only() -> None:
    """SIGTERM starts the orderly shutdown, with time for it; a crash restarts, a config
    error (exit 2) does not; the instance picks its own config file; the token comes from
    an EnvironmentFile, never the unit."""
    u = unit_entries(UNIT.read_text())
    svc = u["Service"]
    assert svc["KillSignal"] == ["SIGTERM"]
    assert seconds(svc["TimeoutStopSec"][0]) > RuntimeConfig().shutdown_timeout_s + 15
    assert svc["Restart"] == ["on-failure"]
    assert svc["RestartPreventExitStatus"] == ["2"]
    (start,) = svc["ExecStart"]
    assert start.split()[1:] == ["-m", "runtime", "run", "--config",
                                 "/etc/miku-autonomy/shard-%i.toml"]
    assert svc["EnvironmentFile"] == ["/etc/miku-autonomy/secrets.env"]
    assert not any("DISCORD_TOKEN" in v for vs in svc.values() for v in vs)
    assert "multi-user.target" in u["Install"]["WantedBy"]


def test_unit_is_hardened() -> None:
    """An unprivileged user, no capabilities, a read-only system, only IP and Unix sockets."""
    svc = unit_entries(UNIT.read_text())["Service"]
    assert svc["User"] != ["root"] and svc["NoNewPrivileges"] == ["yes"]
    assert svc["CapabilityBoundingSet"] == [""]
    for key, value in [("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes"), ("PrivateDevices", "yes"), ("UMask", "0077"),
                       ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX")]:
        assert svc[key] == [value], key


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd itself accepts the unit (with this venv's python standing in for the
    installed one, which does not exist on a test machine)."""
    text = UNIT.read_text().replace("/opt/miku-autonomy/venv/bin/python", sys.executable)
    unit = tmp_path / "miku-autonomy@0.service"
    unit.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "miku-autonomy@" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_two_shard_processes_on_one_store() -> None:
    """PostgreSQL, an OpenAI-compatible server and one bot per shard, each bot with its own
    config file (distinct shards of one count, one store URL), started once the database and
    the server are healthy, stopped with SIGTERM and time to finish."""
    c = compose()
    services = c["services"]
    assert {"postgres", "llm", "bot-0", "bot-1"} <= set(services)
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["llm"]
    shards: list[int] = []
    stores: set[str] = set()
    for name in ("bot-0", "bot-1"):
        bot = services[name]
        assert bot["stop_signal"] == "SIGTERM"
        assert seconds(bot["stop_grace_period"]) > RuntimeConfig().shutdown_timeout_s + 15
        healthy = {"condition": "service_healthy"}
        assert bot["depends_on"]["postgres"] == healthy == bot["depends_on"]["llm"]
        config_path = bot["command"][bot["command"].index("--config") + 1]
        (mount,) = [v for v in bot["volumes"] if v.split(":")[1] == config_path]
        config = tomllib.loads((DEPLOY / mount.split(":")[0]).read_text())
        assert config["discord"]["shard_count"] == 2
        shards += config["discord"]["shard_ids"]
        stores.add(config["store"]["url"])
        assert config["llm"]["base_url"].startswith("http://llm:8080/")
        assert "/readyz" in " ".join(bot["healthcheck"]["test"])
        assert port_of(config["runtime"]["metrics_address"]) in " ".join(
            bot["healthcheck"]["test"])
        assert "DISCORD_TOKEN" not in str(bot.get("environment", ""))
    assert sorted(shards) == [0, 1]
    # One shard set identifies after the other (Discord's identify concurrency).
    assert services["bot-1"]["depends_on"]["bot-0"] == {"condition": "service_healthy"}
    (store,) = stores
    assert store.startswith("postgresql://") and "@postgres:" in store
    assert ":" not in store.split("//", 1)[1].split("@", 1)[0]  # no password in the URL


def port_of(address: str) -> str:
    return address.rsplit(":", 1)[1]


def test_compose_model_name_is_the_one_served() -> None:
    """The model each bot asks for is the alias llama.cpp's server serves (the pool checks
    /models at start-up and refuses another name)."""
    llm = compose()["services"]["llm"]["command"]
    alias = llm[llm.index("--alias") + 1]
    for i in (0, 1):
        assert tomllib.loads((DEPLOY / f"shard-{i}.toml").read_text())["llm"]["model"] == alias


def test_shard_configs_decode() -> None:
    """Each shard file is a valid bot config (once the store takes a URL)."""
    from runtime.config import StoreConfig, decode_config

    if "url" not in StoreConfig.__struct_fields__:
        pytest.skip("[store] url arrives with the PostgreSQL store (branch store)")
    for i in (0, 1):
        cfg = decode_config((DEPLOY / f"shard-{i}.toml").read_text())
        assert cfg.discord.shard_ids == (i,)
