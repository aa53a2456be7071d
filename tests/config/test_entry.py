"""The command line's face: ``--version``, and usage lines in the name it was run by (the
installed ``miku-autonomy`` script, or ``python -m runtime``)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.kit.bot_process import REPO, bot_env

SCRIPT = Path(sys.executable).parent / "miku-autonomy"


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, env=bot_env(), capture_output=True, text=True,
                          timeout=60, check=False)


def project_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def test_version_is_the_projects() -> None:
    """``python -m runtime --version`` prints the distribution's name and pyproject's
    version, exit 0."""
    proc = run([sys.executable, "-m", "runtime", "--version"])
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"miku-autonomy {project_version()}"


def test_python_m_runtime_names_itself_so() -> None:
    """Run as a module, usage says ``python -m runtime``."""
    proc = run([sys.executable, "-m", "runtime"])
    assert proc.returncode == 2 and proc.stderr.startswith("usage: python -m runtime ")


@pytest.mark.skipif(not SCRIPT.exists(), reason="the package is not installed in this venv")
def test_console_script_names_itself_in_usage() -> None:
    """The installed script says ``usage: miku-autonomy``, in errors and subcommands too,
    and knows its version."""
    proc = run([str(SCRIPT)])
    assert proc.returncode == 2 and proc.stderr.startswith("usage: miku-autonomy ")
    proc = run([str(SCRIPT), "check-config"])
    assert proc.returncode == 2 and proc.stderr.startswith("usage: miku-autonomy check-config")
    proc = run([str(SCRIPT), "inspect", "--help"])
    assert proc.returncode == 0 and proc.stdout.startswith("usage: miku-autonomy inspect")
    assert run([str(SCRIPT), "--version"]).stdout.strip().endswith(project_version())


@pytest.mark.skipif(not SCRIPT.exists(), reason="the package is not installed in this venv")
def test_simulate_errors_name_the_command_as_it_was_run() -> None:
    """A simulator error the user can fix is one line that names the command as they ran
    it: ``miku-autonomy simulate: error: ...`` from the script, ``python -m runtime
    simulate: error: ...`` as a module."""
    bad = ["simulate", "--guilds", "1", "--hours", "1", "--resume"]  # --resume needs --store
    proc = run([str(SCRIPT), *bad])
    assert proc.returncode == 2
    assert proc.stderr.startswith("miku-autonomy simulate: error: "), proc.stderr
    proc = run([sys.executable, "-m", "runtime", *bad])
    assert proc.returncode == 2
    assert proc.stderr.startswith("python -m runtime simulate: error: "), proc.stderr
