"""One rule for relative paths: what she writes goes in ``[runtime] state_dir``; what she
reads (and ``state_dir`` itself) is relative to the config file's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config import decode_config, load_config
from runtime.errors import ConfigError


def test_written_paths_follow_state_dir_read_paths_the_config(tmp_path: Path) -> None:
    """With state_dir set, the store, the control socket and the log directory land in it;
    the persona and items files stay beside the config file (a read-only /etc works)."""
    conf = tmp_path / "etc" / "bot.toml"
    conf.parent.mkdir()
    conf.write_text('[runtime]\nstate_dir = "/var/lib/miku/0"\nlog_dir = "logs"\n'
                    '[persona]\npath = "persona.toml"\n[feeds]\nitems_file = "items.json"\n')
    cfg = load_config(conf)
    assert cfg.runtime.state_dir == "/var/lib/miku/0"
    assert cfg.store.path == "/var/lib/miku/0/miku-autonomy.sqlite3"
    assert cfg.runtime.control_socket == "/var/lib/miku/0/miku-autonomy.sock"
    assert cfg.runtime.log_dir == "/var/lib/miku/0/logs"
    assert cfg.persona.path == str(conf.parent / "persona.toml")
    assert cfg.feeds.items_file == str(conf.parent / "items.json")


def test_state_dir_defaults_to_the_config_files_directory(tmp_path: Path) -> None:
    """Without state_dir nothing changes: written paths beside the config file, and
    state_dir reports that directory."""
    conf = tmp_path / "bot.toml"
    conf.write_text('[store]\npath = "s.db"\n')
    cfg = load_config(conf)
    assert cfg.runtime.state_dir == str(tmp_path)
    assert cfg.store.path == str(tmp_path / "s.db")


def test_relative_state_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    """A relative state_dir is taken from the config file's directory, like any path."""
    conf = tmp_path / "bot.toml"
    conf.write_text('[runtime]\nstate_dir = "state"\ncontrol_socket = "/run/x.sock"\n')
    cfg = load_config(conf)
    assert cfg.store.path == str(tmp_path / "state" / "miku-autonomy.sqlite3")
    assert cfg.runtime.control_socket == "/run/x.sock"  # absolute stays as it is


def test_state_dir_must_not_be_empty() -> None:
    """An empty state_dir is refused with its dotted path."""
    with pytest.raises(ConfigError, match=r"^runtime\.state_dir: "):
        decode_config('[runtime]\nstate_dir = ""\n')
