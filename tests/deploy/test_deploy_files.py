"""deploy/: the systemd template unit and the compose file say what DEPLOY.md says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.config import RuntimeConfig
from tests.kit.deploy_files import (
    DEPLOY,
    UNIT,
    bot_config,
    bot_services,
    compose,
    flag,
    mounts,
    port_of,
    seconds,
    unit_entries,
)


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


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_exposure_stays_low(tmp_path: Path) -> None:
    """systemd's own score of the unit's sandbox (``systemd-analyze security``, 0 for a
    locked-down service to 10 for none) stays at 2 or below: a hardening line dropped shows
    here (1.4 with the unit as shipped, DEPLOY.md)."""
    text = UNIT.read_text().replace("/opt/miku-autonomy/venv/bin/python", sys.executable)
    unit = tmp_path / "miku-autonomy@0.service"
    unit.write_text(text)
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                            capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert m, result.stdout + result.stderr
    assert float(m[1]) <= 2.0, result.stdout


def test_compose_runs_two_shard_processes_on_one_store() -> None:
    """PostgreSQL, an OpenAI-compatible server and one bot per shard, each bot with its own
    config file (distinct shards of one count, one store URL), started once the database and
    the server are healthy, stopped with SIGTERM and time to finish."""
    services = compose()["services"]
    assert {"postgres", "llm", "bot-0", "bot-1"} <= set(services)
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["llm"]
    shards: list[int] = []
    stores: set[str] = set()
    for bot in bot_services().values():
        assert bot["stop_signal"] == "SIGTERM"
        assert seconds(bot["stop_grace_period"]) > RuntimeConfig().shutdown_timeout_s + 15
        healthy = {"condition": "service_healthy"}
        assert bot["depends_on"]["postgres"] == healthy == bot["depends_on"]["llm"]
        config = bot_config(bot)
        assert config["discord"]["shard_count"] == 2
        shards += config["discord"]["shard_ids"]
        stores.add(config["store"]["url"])
        assert "DISCORD_TOKEN" not in str(bot.get("environment", ""))
    assert sorted(shards) == [0, 1]
    # One shard set identifies after the other (Discord's identify concurrency).
    assert services["bot-1"]["depends_on"]["bot-0"] == {"condition": "service_healthy"}
    (store,) = stores
    assert store.startswith("postgresql://") and "@postgres:" in store
    assert ":" not in store.split("//", 1)[1].split("@", 1)[0]  # no password in the URL


def test_compose_ports_and_names_agree() -> None:
    """Each bot reaches the llm service on the port and model alias it serves and PostgreSQL
    on its port; its healthcheck asks the port its metrics are served on; nothing is
    published on the host."""
    services = compose()["services"]
    llm = services["llm"]["command"]
    for bot in bot_services().values():
        config = bot_config(bot)
        assert config["llm"]["base_url"] == f"http://llm:{flag(llm, '--port')}/v1"
        assert config["llm"]["model"] == flag(llm, "--alias")
        assert "@postgres:5432/" in config["store"]["url"]  # postgres:16 listens on 5432
        test = " ".join(bot["healthcheck"]["test"])
        assert f":{port_of(config['runtime']['metrics_address'])}/readyz" in test
    assert not any("ports" in s for s in services.values())


def test_compose_llm_slots_match_the_bots_workers() -> None:
    """DEPLOY.md: the LLM server's slots (--parallel) match all bots' [llm] workers
    together (more workers only queue at the server; fewer leave slots idle)."""
    services = compose()["services"]
    slots = int(flag(services["llm"]["command"], "--parallel"))
    workers = [bot_config(b)["llm"].get("workers", 2) for b in bot_services().values()]
    assert sum(workers) == slots, (workers, slots)


def test_compose_builds_the_image_once() -> None:
    """Only bot-0 builds the image; bot-1 runs the same tag and never pulls it (it is on no
    registry)."""
    bots = bot_services()
    builders = [n for n, s in bots.items() if "build" in s]
    assert builders == ["bot-0"]
    assert {s["image"] for s in bots.values()} == {bots["bot-0"]["image"]}
    assert bots["bot-1"]["pull_policy"] == "never"
    build = bots["bot-0"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def test_every_mounted_file_exists() -> None:
    """Every bind mount's source and every secret file the compose file names is in deploy/
    (the secrets and the model as DEPLOY.md says to create them: not in the repository)."""
    c = compose()
    made_by_the_operator = {"./secrets/pg_password", "./secrets/bot.env", "./models"}
    for service in c["services"].values():
        for source, _ in mounts(service).values():
            if source.startswith("./") and source not in made_by_the_operator:
                assert (DEPLOY / source).exists(), source
        for env_file in service.get("env_file", []):
            assert env_file in made_by_the_operator
    for secret in c["secrets"].values():
        assert secret["file"] in made_by_the_operator
    doc = (DEPLOY.parent / "docs" / "DEPLOY.md").read_text()
    for path in made_by_the_operator:
        assert "deploy/" + path.removeprefix("./") in doc, path
