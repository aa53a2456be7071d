"""Can the process write where the config says it writes? Checked before anything starts,
so a missing or read-only directory is one line naming the field and the directory, not
SQLite's "unable to open database file" or the kernel's "File exists" from deep inside.

What the bot writes (``runtime.config.load`` resolves these against ``runtime.state_dir``):

- ``store.path``: the SQLite file, created in its directory (with ``[store] url`` the file is
  not used and not checked; the hash of the synced slash commands is kept beside it, and
  failing to save that is only a warning);
- ``runtime.control_socket``: a Unix socket, created in its directory; its path must fit the
  kernel's ``sun_path`` (107 bytes and a NUL on Linux);
- ``runtime.log_dir``: a directory, created with its parents when missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from runtime.config.schema import Config
from runtime.errors import StartupError

__all__ = ["MAX_SOCKET_PATH", "check_writable_paths", "path_problems"]

#: Longest Unix socket path, in bytes (Linux: sockaddr_un.sun_path is 108 with the NUL).
MAX_SOCKET_PATH = 107
_STATE_HINT = " (relative paths are taken from runtime.state_dir: set it to a writable directory)"


def _directory_problem(directory: Path, *, create: bool) -> str | None:
    """What keeps this process from creating files in ``directory`` (or, with ``create``,
    from creating ``directory`` itself with its parents), or None."""
    if create:
        existing = directory
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing != directory:
            if not existing.is_dir():
                return f"'{existing}' is a file, not a directory"
            if not os.access(existing, os.W_OK | os.X_OK):
                return f"directory '{existing}' is not writable by this user (uid {os.getuid()})"
            return None
    if not directory.exists():
        parent = directory.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent.exists() and not parent.is_dir():
            return f"'{parent}' is a file, not a directory"
        return f"directory '{directory}' does not exist: create it"
    if not directory.is_dir():
        return f"'{directory}' is a file, not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"directory '{directory}' is not writable by this user (uid {os.getuid()})"
    return None


def path_problems(config: Config, *, control_socket: bool = True) -> dict[str, str]:
    """Every written path of ``config`` that cannot be used, by field: ``{"store.path":
    "directory '/etc/miku-autonomy' is not writable by this user (uid 998) ..."}``.

    Args:
        config: a config from ``load_config`` (paths already resolved).
        control_socket: check ``runtime.control_socket`` too (the bot serves one).
    """
    problems: dict[str, str] = {}
    rt = config.runtime
    if config.store.url is None:
        store = Path(config.store.path)
        problem = (f"'{store}' is a directory, not a SQLite file" if store.is_dir()
                   else _directory_problem(store.parent, create=False))
        if problem is None and store.exists() and not os.access(store, os.R_OK | os.W_OK):
            problem = f"'{store}' is not readable and writable by this user (uid {os.getuid()})"
        if problem is not None:
            problems["store.path"] = problem + _STATE_HINT
    if control_socket:
        sock = Path(rt.control_socket)
        size = len(os.fsencode(rt.control_socket))
        if size > MAX_SOCKET_PATH:
            problem = (f"'{sock}' is {size} bytes; a Unix socket path is at most "
                       f"{MAX_SOCKET_PATH} bytes: use a shorter one")
        else:
            problem = _directory_problem(sock.parent, create=False)
        if problem is not None:
            problems["runtime.control_socket"] = problem
    if rt.log_dir is not None:
        problem = _directory_problem(Path(rt.log_dir), create=True)
        if problem is not None:
            problems["runtime.log_dir"] = problem
    return problems


def check_writable_paths(config: Config, *, control_socket: bool = True) -> None:
    """Raise on the first written path of ``config`` that cannot be used (``path_problems``).

    Raises:
        StartupError: names the field and says what is wrong with which directory.
    """
    for field, problem in path_problems(config, control_socket=control_socket).items():
        raise StartupError(field, problem)
