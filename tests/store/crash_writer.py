"""Child process for the SIGKILL test: snapshot guild states in a loop, one batch at a time.

Usage: python crash_writer.py STORE_PATH GUILDS. After each committed batch it prints the
batch number; every guild of batch N has ``human_messages == N``.
"""

from __future__ import annotations

import sys

import anyio

from engine import encode_state, new_state
from runtime.store import SQLiteStore


async def main(path: str, guilds: int) -> None:
    states = [new_state(g, 1_800_000_000.0) for g in range(1, guilds + 1)]
    async with SQLiteStore(path) as store:
        batch = 0
        while True:
            batch += 1
            for s in states:
                s.human_messages = batch
            await store.save_many([(s.guild_id, encode_state(s)) for s in states])
            print(batch, flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]))
