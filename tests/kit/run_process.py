"""The real ``python -m runtime run`` as a subprocess, for the fault suite: started with a
config file, its JSON log lines read as they come, stopped with SIGTERM and timed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.kit.bot_process import REPO

#: The longest any wait of the suite may take before it fails.
WAIT_S = 60.0


class BotProcess:
    """One ``python -m runtime run`` subprocess; its log lines, read as they come."""

    def __init__(self, name: str, config: Path) -> None:
        self.name = name
        self.config = config
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = {**os.environ, "DISCORD_TOKEN": "fake-token", "PYTHONUNBUFFERED": "1"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "runtime", "run", "--config", str(self.config), cwd=REPO,
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace"))
            self._changed.set()
        self._changed.set()

    def events(self, name: str) -> list[dict[str, Any]]:
        """Its JSON log lines whose event is ``name``."""
        return [json.loads(line) for line in self.lines
                if name in line and _event(line) == name]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def wait_for(self, what: Callable[[str], bool] | str, n: int = 1,
                       timeout_s: float = WAIT_S) -> None:
        """Until ``n`` log lines satisfy ``what`` (an event name, or a predicate); fails if
        the process ends first."""
        if isinstance(what, str):
            name = what
            what = lambda line: name in line and _event(line) == name  # noqa: E731
        async with asyncio.timeout(timeout_s):
            while sum(1 for line in self.lines if what(line)) < n:
                assert self.proc is not None
                if self.proc.returncode is not None or (
                        self._reader is not None and self._reader.done()):
                    raise AssertionError(f"{self.name} exited:\n{''.join(self.lines[-30:])}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_exit(self, timeout_s: float = WAIT_S) -> int:
        """Its exit status, once it exits by itself."""
        assert self.proc is not None
        try:
            async with asyncio.timeout(timeout_s):
                status = await self.proc.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name} still runs after {timeout_s:g} s:\n"
                                 f"{self.tail()}") from None
        if self._reader is not None:
            await self._reader
        return status

    async def stop(self, timeout_s: float = WAIT_S) -> tuple[int, float]:
        """SIGTERM; its exit status and how long it took to exit."""
        assert self.proc is not None
        t0 = time.monotonic()
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        status = await self.wait_exit(timeout_s)
        return status, time.monotonic() - t0

    async def kill(self) -> None:
        """Kill it if it still runs (a failed test), and reap it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader

    def tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:])


def _event(line: str) -> str | None:
    """The event name of a JSON log line, or None for any other line."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry.get("event") if isinstance(entry, dict) else None
