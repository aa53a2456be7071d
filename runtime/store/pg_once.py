"""What the processes of one bot do once between them, kept in the shared PostgreSQL store.

Each process of a bot (every shard set, every host) starts with the same steps; a few of them
are the bot's, not the process's, and must not be done once per process:

* **the command tree's sync** (``claim``/``done``/``release``): Discord keeps one global tree
  per application and rate-limits its bulk overwrite; the tree's hash and whether it was
  synced live in a row (``once_rows``, name ``commands``). Two processes starting together
  race for one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` on that row: PostgreSQL
  applies them one after the other, the second sees the first's claim and does nothing;
* **IDENTIFY pacing** (``next_identify``): at most ``max_concurrency`` IDENTIFYs per 5 s for
  the whole bot, by bucket ``shard_id % max_concurrency``. The row of a bucket holds the last
  IDENTIFY's time (the database server's clock, which every process shares); a process
  reserves the next free slot under the row's lock and waits for it.

Every call runs on a connection of its own with short deadlines (``pg_side.SideConnection``),
never behind the snapshot pool; a store that cannot be reached raises
``StoreUnavailableError`` or ``TimeoutError`` and the caller goes on alone (syncs anyway,
identifies when discord.py would), so an outage of the store never blocks a start.
"""

from __future__ import annotations

from typing import Any

from runtime.store.pg_schema import check_url, redact_url
from runtime.store.pg_side import SideConnection

__all__ = ["IDENTIFY_INTERVAL_S", "PgOnce"]

#: Discord's window for ``max_concurrency`` IDENTIFYs (Gateway, "Session Start Limit").
IDENTIFY_INTERVAL_S = 5.0

_NOW = "extract(epoch FROM clock_timestamp())"
_CLAIM = (
    "INSERT INTO once_rows (name, value, done, at) VALUES (%(name)s, %(value)s, false, "
    f"{_NOW}) ON CONFLICT (name) DO UPDATE SET value = excluded.value, done = false, "
    "at = excluded.at WHERE NOT (once_rows.value = excluded.value AND "
    "(once_rows.done OR once_rows.at > excluded.at - %(hold)s)) RETURNING true"
)
_IDENTIFY_ROW = (
    "INSERT INTO once_rows (name, value, done, at) VALUES (%(name)s, '', true, 0) "
    "ON CONFLICT (name) DO NOTHING"
)


class PgOnce:
    """The bot-wide steps on the PostgreSQL store at ``url`` (its own connection).

    Args:
        url: the store's URL (``[store] url``).
        timeout_s: connect and statement deadline of each call.
    """

    def __init__(self, url: str, *, timeout_s: float = 3.0) -> None:
        self.path = redact_url(url)
        self._side = SideConnection(check_url(url), self.path, timeout_s)

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        self._side.close()

    # --- once per change -------------------------------------------------------------------

    async def claim(self, name: str, value: str, *, hold_s: float) -> bool:
        """Claim doing ``value`` for ``name`` (the command tree's hash, say).

        Returns:
            True: this process does it, then calls ``done`` (or ``release`` when it failed).
            False: it was done already for this value, or another process claimed it less
            than ``hold_s`` ago (a claim whose process died lapses after that).

        Raises:
            StoreUnavailableError, StoreError, TimeoutError: the store did not answer.
        """
        params = {"name": name, "value": value, "hold": hold_s}
        row = await self._side.run(lambda conn: conn.execute(_CLAIM, params).fetchone())
        return row is not None

    async def done(self, name: str, value: str) -> None:
        """``value`` is done: nobody claims it again until the value changes."""
        await self._side.run(lambda conn: conn.execute(
            "UPDATE once_rows SET done = true WHERE name = %s AND value = %s", (name, value)))

    async def release(self, name: str, value: str) -> None:
        """Doing ``value`` failed: the next process to ask may claim it at once."""
        await self._side.run(lambda conn: conn.execute(
            "UPDATE once_rows SET at = 0 WHERE name = %s AND value = %s AND NOT done",
            (name, value)))

    # --- identify pacing -------------------------------------------------------------------

    async def next_identify(self, bucket: int, *, interval_s: float = IDENTIFY_INTERVAL_S
                            ) -> float:
        """Reserve the bucket's next IDENTIFY slot: ``interval_s`` after the last one
        reserved by any process, or now.

        Returns:
            Seconds to wait before identifying (0 when the bucket is free now).
        """
        name = f"identify:{bucket}"

        def reserve(conn: Any) -> float:
            conn.execute(_IDENTIFY_ROW, {"name": name})
            # The row lock serialises the processes of one bucket until this commits.
            row = conn.execute(f"SELECT at, {_NOW} FROM once_rows WHERE name = %s FOR UPDATE",
                               (name,)).fetchone()
            last, now = float(row[0]), float(row[1])
            slot = max(now, last + interval_s)
            conn.execute("UPDATE once_rows SET at = %s WHERE name = %s", (slot, name))
            return slot - now

        return await self._side.run(reserve)
