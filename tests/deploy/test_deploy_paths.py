"""Every config under deploy/ is loaded where its recipe installs it, and every path it
writes is somewhere its recipe makes writable (ProtectSystem=strict leaves /etc read-only;
the image's user owns two directories)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.config import Config, decode_config
from tests.kit.deploy_files import DEPLOY, REPO, UNIT, bot_services, mounts, unit_entries

#: sockaddr_un.sun_path is 108 bytes on Linux, the terminating NUL included.
MAX_SOCKET_PATH = 107


def written_paths(cfg: Config) -> dict[str, Path]:
    """What the bot writes, by field: the directory each file is created in."""
    out = {
        # The SQLite file and the hash of the synced slash commands beside it
        # (runtime.gateway.commands.commands_hash_path; with [store] url, nothing).
        "store.path": Path(cfg.store.path).parent,
        "runtime.control_socket": Path(cfg.runtime.control_socket).parent,
    }
    if cfg.runtime.log_dir is not None:
        out["runtime.log_dir"] = Path(cfg.runtime.log_dir)
    return out


def unit_writable(instance: str) -> list[Path]:
    """The directories the unit's instance may write under ProtectSystem=strict."""
    svc = unit_entries(UNIT.read_text())["Service"]
    assert svc["ProtectSystem"] == ["strict"] and "ReadWritePaths" not in svc
    roots = [Path("/var/lib") / d.replace("%i", instance) for d in svc["StateDirectory"]]
    roots += [Path("/run") / d.replace("%i", instance) for d in svc["RuntimeDirectory"]]
    return roots


def unit_config_path(instance: str) -> Path:
    (start,) = unit_entries(UNIT.read_text())["Service"]["ExecStart"]
    return Path(start.split()[start.split().index("--config") + 1].replace("%i", instance))


def under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def test_every_config_belongs_to_a_recipe() -> None:
    """deploy/*.toml are the compose ones and the unit ones, named so, one per shard set."""
    names = sorted(p.name for p in DEPLOY.glob("*.toml"))
    assert names == ["compose-shard-0.toml", "compose-shard-1.toml",
                     "systemd-shard-0.toml", "systemd-shard-1.toml"]


@pytest.mark.parametrize("instance", ["0", "1"])
def test_unit_configs_write_only_where_the_unit_allows(instance: str) -> None:
    """deploy/systemd-shard-N.toml, installed where ExecStart reads it: its store (or the
    commands hash beside it), control socket and logs are in the instance's StateDirectory
    or RuntimeDirectory, never in read-only /etc."""
    conf = unit_config_path(instance)
    source = DEPLOY / f"systemd-shard-{instance}.toml"
    cfg = decode_config(source.read_text(), base_dir=conf.parent)
    roots = unit_writable(instance)
    for field, path in written_paths(cfg).items():
        assert under(path, roots), f"{field}: {path} is not in {roots}"
    assert len(cfg.runtime.control_socket.encode()) <= MAX_SOCKET_PATH
    assert cfg.discord.shard_ids == (int(instance),)


def test_a_config_without_state_dir_would_write_into_etc() -> None:
    """The check has teeth: bot.example.toml installed as the unit's config (no state_dir)
    would put its SQLite file in /etc/miku-autonomy, where the unit cannot write."""
    conf = unit_config_path("0")
    cfg = decode_config((REPO / "bot.example.toml").read_text(), base_dir=conf.parent)
    assert not under(written_paths(cfg)["store.path"], unit_writable("0"))


def test_unit_instances_do_not_share_a_port_or_a_socket() -> None:
    """Two instances on one host: distinct metrics ports and control sockets."""
    cfgs = [decode_config((DEPLOY / f"systemd-shard-{i}.toml").read_text(),
                          base_dir=unit_config_path(str(i)).parent) for i in (0, 1)]
    assert len({c.runtime.metrics_address for c in cfgs}) == 2
    assert len({c.runtime.control_socket for c in cfgs}) == 2


def image_writable() -> list[Path]:
    """The directories deploy/Dockerfile gives its runtime user (``chown USER:... DIRS``)."""
    text = (DEPLOY / "Dockerfile").read_text()
    (user,) = re.findall(r"^USER (\S+)$", text, re.M)
    (dirs,) = re.findall(rf"chown {user}:{user} ([^&\n\\]+)", text)
    return [Path(d) for d in dirs.split()]


@pytest.mark.parametrize("name", ["bot-0", "bot-1"])
def test_compose_configs_write_only_where_the_image_allows(name: str) -> None:
    """deploy/compose-shard-N.toml, mounted read-only where the service's --config reads it:
    what it writes is in a directory the image's user owns, not in the read-only mount."""
    service = bot_services()[name]
    conf = Path(service["command"][service["command"].index("--config") + 1])
    source, mode = mounts(service)[str(conf)]
    assert mode == "ro"
    cfg = decode_config((DEPLOY / source).read_text(), base_dir=conf.parent)
    roots = image_writable()
    for field, path in written_paths(cfg).items():
        assert under(path, roots), f"{field}: {path} is not in {roots}"
    assert len(cfg.runtime.control_socket.encode()) <= MAX_SOCKET_PATH


def test_deploy_md_installs_what_the_unit_reads() -> None:
    """DEPLOY.md's install lines copy deploy/systemd-shard-N.toml to the path the unit's
    ExecStart reads for instance N, and name no file deploy/ lacks."""
    doc = (REPO / "docs" / "DEPLOY.md").read_text()
    installs = re.findall(r"^install .*?(deploy/\S+) (/etc/\S+)$", doc, re.M)
    got = {src: dst for src, dst in installs if src.endswith(".toml")}
    assert got == {f"deploy/systemd-shard-{i}.toml": str(unit_config_path(str(i)))
                   for i in (0, 1)}
    for src in re.findall(r"\bdeploy/[\w@.-]+\.(?:toml|service|yaml)\b", doc):
        assert (REPO / src).exists(), src
