""".dockerignore: the compose build's context is the whole repository, so it must keep out
the virtualenv and the secrets and let in what deploy/Dockerfile copies."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.kit.deploy_files import DEPLOY, REPO


def _regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: Go's filepath.Match (``*`` and ``?`` stop at ``/``) plus
    ``**`` for any number of directories."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def excluded(path: str, lines: list[str]) -> bool:
    """Whether the builder is not sent ``path``: the last pattern that matches the path or
    one of its parent directories decides; ``!`` lets it back in."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for line in lines:
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        rx = _regex(pattern.removeprefix("!").strip("/"))
        if any(rx.match(p) for p in prefixes):
            result = not negate
    return result


def ignore_lines() -> list[str]:
    return (REPO / ".dockerignore").read_text().splitlines()


def copied_sources() -> list[str]:
    """What deploy/Dockerfile COPYs from the context."""
    sources: list[str] = []
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    return sources


def test_the_matcher_follows_dockers_rules() -> None:
    """The last match wins, ``!`` re-includes, a directory's pattern covers its files."""
    lines = ["*", "!src", "**/__pycache__"]
    assert excluded("x.txt", lines) and not excluded("src/a.py", lines)
    assert excluded("src/pkg/__pycache__/a.pyc", lines)


@pytest.mark.parametrize("path", [
    ".venv/lib/python3.11/site-packages/discord/client.py",
    "deploy/secrets/bot.env",
    "deploy/secrets/pg_password",
    "deploy/models/model.gguf",
    ".git/config",
    "tests/conftest.py",
    "bot.sqlite3",
    "runtime/__pycache__/bot.cpython-311.pyc",
])
def test_what_the_image_must_not_get_stays_out(path: str) -> None:
    """The virtualenv, the token, the model, the git history, tests and stray state files
    are never sent to the builder."""
    assert excluded(path, ignore_lines()), path


def test_what_the_dockerfile_copies_is_sent() -> None:
    """Every COPY source of deploy/Dockerfile, and the files inside, reach the builder."""
    sources = copied_sources()
    assert sources, "no COPY in the Dockerfile"
    for source in sources:
        assert not excluded(source, ignore_lines()), source
        path = REPO / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()
                                               if "__pycache__" not in p.parts]
        for f in files:
            assert not excluded(str(f.relative_to(REPO)), ignore_lines()), f


def test_the_image_copies_every_package_pyproject_installs() -> None:
    """``pip install .`` in the image finds every package pyproject.toml includes, and the
    files setuptools reads (pyproject.toml, the README it names)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    sources = set(copied_sources())
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert pattern.rstrip("*") in sources, pattern
    assert {"pyproject.toml", project["project"]["readme"]} <= sources
