"""The simulator's command line: every option a user can get wrong is one line on stderr
and exit status 2, with no traceback and nothing written."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from runtime.__main__ import main


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("argv", "message"), [
    (["--chattiness", "3"], "--chattiness must be a number from 0 to 2"),
    (["--downtime", "60"], "--downtime needs --resume"),
    (["--resume"], "--resume needs --store"),
    (["--resume", "--store", "/nonexistent/s.sqlite3"], "no such file to resume"),
    (["--store", "/nonexistent/dir/s.sqlite3"], "no such directory '/nonexistent/dir'"),
    (["--transcript", "/nonexistent/dir/t.jsonl"], "--transcript"),
    (["--control-socket", "/nonexistent/dir/c.sock"], "--control-socket"),
    (["--config", "/nonexistent/bot.toml"], "--config /nonexistent/bot.toml: no such file"),
])
def test_bad_options_exit_2_with_one_line(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Each bad option names itself and what would be valid."""
    assert main(["simulate", *argv]) == 2
    assert message in _one_line(capsys)


def test_a_control_socket_another_process_serves_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A control socket path something listens on is refused with exit 2, not a
    traceback, and the listener is left alone."""
    path = str(tmp_path / "ctl.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(1)
        code = main(["simulate", "--guilds", "1", "--hours", "0.1", "--no-v1",
                     "--control-socket", path])
        err = _one_line(capsys)
        assert code == 2 and "--control-socket" in err and "another process" in err
        assert Path(path).exists()
    finally:
        listener.close()


def test_a_config_file_with_a_bad_key_is_one_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--config reports the file's own error with its dotted path."""
    bad = tmp_path / "bot.toml"
    bad.write_text('[defaults]\ntimezone = "Mars/Base"\n')
    assert main(["simulate", "--config", str(bad)]) == 2
    err = _one_line(capsys)
    assert str(bad) in err and "defaults.timezone" in err


def test_help_names_every_new_option(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` lists the preview, comparison, restart and words options."""
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for flag in ("--config", "--chattiness", "--compare-chattiness", "--compare-learning",
                 "--resume", "--downtime", "--transcript", "--llm-model", "sim_time"):
        assert flag in out
