"""The real ``run`` process under store faults: a real PostgreSQL behind the tests' own TCP
fault proxy (``tests/kit/fault_proxy.py``), the loopback Discord, the offline persona.

What must hold (issue 19, DESIGN.md "Faults"): the store unreachable at start is waited for,
not a configuration error; SIGTERM ends the process within ``shutdown_timeout_s`` in every
phase (waiting for the store, waiting for a lease); a process cut off from the store stops
sending before another process may take its shard, so no mention is answered twice; after
losing its lease a process exits non-zero (75) for its service manager to restart it.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.faults.conftest import GUILDS, channel_of, guild, write_config
from tests.kit.discord_payloads import ALICE, SELF_ID, message_create
from tests.kit.fake_discord import FakeDiscord
from tests.kit.fault_proxy import proxy_for, url_through
from tests.kit.run_process import BotProcess

pytestmark = [pytest.mark.anyio, pytest.mark.faults,
              pytest.mark.parametrize("anyio_backend", ["asyncio"]),
              pytest.mark.timeout(180)]

#: The shutdown timeout of the processes, and what "within it" allows for the interpreter
#: to start and exit around it.
SHUTDOWN_S = 5.0
EXIT_SLACK_S = 3.0


async def test_a_store_unreachable_at_start_is_waited_for_and_sigterm_ends_the_wait(
        tmp_path: Path, store_url: str) -> None:
    """PostgreSQL refuses connections (the proxy resets them) when the process starts: it
    says so once and waits, without logging in to Discord; when the store comes back it
    starts. A second process whose store is silent (blackholed: connects never answered),
    SIGTERMed while it waits, exits 0 within the timeout. A SIGHUP while waiting is ignored."""
    proxy, silent = proxy_for(store_url), proxy_for(store_url)
    async with FakeDiscord(guilds=[guild(g) for g in GUILDS]) as fake, \
            anyio.create_task_group() as tg:
        await tg.start(proxy.serve)
        await tg.start(silent.serve)
        proxy.mode = "reset"
        silent.mode = "blackhole"
        url = url_through(store_url, proxy)
        late = BotProcess("late", write_config(tmp_path / "late.toml", fake, url))
        gone = BotProcess("gone", write_config(tmp_path / "gone.toml", fake,
                                               url_through(store_url, silent)))
        try:
            await late.start()
            await late.wait_for("store.unreachable_at_start")
            # A SIGHUP (a config reload) before the runtime runs is said and ignored: its
            # default action would end the process.
            assert late.proc is not None
            late.proc.send_signal(signal.SIGHUP)
            await late.wait_for(lambda line: "SIGHUP" in line and "ignored" in line)
            assert late.running
            connected = silent.connected
            await gone.start()
            with anyio.fail_after(30):
                await connected.wait()  # its first connect, never answered
            assert fake.identifies == []
            status, took = await gone.stop()
            assert status == 0 and took < SHUTDOWN_S + EXIT_SLACK_S, gone.tail()
            assert late.running
            proxy.mode = "pass"
            await late.wait_for("store.reachable")
            await late.wait_for("runtime.started")
            assert len(late.events("store.unreachable_at_start")) == 1
            status, took = await late.stop()
            assert status == 0 and took < SHUTDOWN_S + EXIT_SLACK_S, late.tail()
        finally:
            await late.kill()
            await gone.kill()
            tg.cancel_scope.cancel()


async def test_sigterm_while_waiting_for_a_lease_ends_the_process_without_logging_in(
        tmp_path: Path, store_url: str) -> None:
    """A second process for a held shard waits for the lease; SIGTERM ends it within the
    shutdown timeout, exit 0, and it never identified to Discord (was: it kept waiting, then
    logged in before exiting)."""
    async with FakeDiscord(guilds=[guild(g) for g in GUILDS]) as fake:
        first = BotProcess("first", write_config(tmp_path / "a.toml", fake, store_url))
        second = BotProcess("second", write_config(tmp_path / "b.toml", fake, store_url))
        try:
            await first.start()
            await first.wait_for("runtime.started")
            await second.start()
            await second.wait_for("store.lease_wait")
            identified = len(fake.identifies)
            status, took = await second.stop()
            assert status == 0 and took < SHUTDOWN_S + EXIT_SLACK_S, second.tail()
            assert len(fake.identifies) == identified
            status, _ = await first.stop()
            assert status == 0
        finally:
            await first.kill()
            await second.kill()


def _answered(fake: FakeDiscord) -> list[int]:
    """The message ids her posted replies answer, one entry per reply."""
    out = []
    for m in fake.sent:
        ref = (m.body.get("message_reference") or {}).get("message_id")
        if ref:
            out.append(int(ref))
    return out


async def test_a_partitioned_process_stops_sending_before_another_takes_its_shard(
        tmp_path: Path, store_url: str) -> None:
    """Process A holds shard 0 (lease TTL 6 s) and reaches PostgreSQL through the proxy;
    process B waits for the lease. The proxy blackholes A (it still reaches Discord): A stops
    sending within TTL - margin of its last renewal and says so once, B takes the shard once
    the lease expired, and of the mentions sent all along none is answered twice. When the
    partition heals, A finds its lease lost and exits 75."""
    proxy = proxy_for(store_url)
    ids = itertools.count(9_500_000)
    async with FakeDiscord(guilds=[guild(g) for g in GUILDS]) as fake, \
            anyio.create_task_group() as tg:
        await tg.start(proxy.serve)
        a = BotProcess("a", write_config(tmp_path / "a.toml", fake,
                                         url_through(store_url, proxy), lease_ttl_s=6.0))
        b = BotProcess("b", write_config(tmp_path / "b.toml", fake, store_url,
                                         lease_ttl_s=6.0))
        sent: list[int] = []

        async def mention() -> None:
            mid = next(ids)
            sent.append(mid)
            g = GUILDS[mid % len(GUILDS)]
            # Discord sends a shard's events to every session identified as that shard.
            await fake.dispatch("MESSAGE_CREATE", message_create(
                mid, ALICE, channel_id=channel_of(g), guild_id=g, mentions=(SELF_ID,)))

        try:
            await a.start()
            await a.wait_for("runtime.started")
            await a.wait_for(lambda line: "gateway.guild_ready" in line, n=len(GUILDS))
            await b.start()
            await b.wait_for("store.lease_wait")
            await mention()
            async with asyncio.timeout(30):
                while not _answered(fake):
                    fake.message_posted.clear()
                    await fake.message_posted.wait()
            proxy.mode = "blackhole"
            # Mentions all along: A must stop answering before B may start.
            async with asyncio.timeout(60):
                while not b.events("runtime.started") or len(b.events(
                        "gateway.guild_ready")) < len(GUILDS):
                    await mention()
                    await asyncio.sleep(0.25)  # the pace of the traffic, not a wait for it
            for _ in range(8):
                await mention()
                await asyncio.sleep(0.25)
            answered = _answered(fake)
            twice = sorted({m for m in answered if answered.count(m) > 1})
            assert twice == [], f"answered twice: {twice} of {len(sent)}"
            assert set(answered) <= set(sent)
            assert len(set(answered)) >= 5  # both answered: a real sample of traffic
            assert len(a.events("store.lease_unsure")) == 1
            proxy.mode = "pass"
            status = await a.wait_exit(timeout_s=60)
            assert status == 75, a.tail()
            answered = _answered(fake)
            assert len(answered) == len(set(answered))
            status, took = await b.stop()
            assert status == 0 and took < SHUTDOWN_S + EXIT_SLACK_S, b.tail()
        finally:
            await a.kill()
            await b.kill()
            tg.cancel_scope.cancel()


class _Rows:
    """Reads one guild's stored row straight from PostgreSQL (not through the proxy)."""

    def __init__(self, url: str, guild_id: int) -> None:
        self.url = url
        self.guild_id = guild_id

    def read(self) -> tuple[int, float | None] | None:
        """``(human_messages, wake_at)`` of the stored row, or None."""
        import psycopg

        from engine import decode_state

        with psycopg.connect(self.url, autocommit=True) as conn:
            try:
                row = conn.execute("SELECT data, wake_at FROM snapshots WHERE guild_id = %s",
                                   (self.guild_id,)).fetchone()
            except psycopg.errors.UndefinedTable:
                return None
        return None if row is None else (decode_state(bytes(row[0])).human_messages, row[1])


async def test_a_guild_woken_during_an_outage_never_stores_an_older_state(
        tmp_path: Path, store_url: str) -> None:
    """A guild passivates with 5 messages stored; PostgreSQL goes away (connections reset)
    and 3 more messages wake it; the store comes back. The stored count, read all along,
    never goes backwards and ends at 8 (was: the woken guild ran from nothing and stored 3)."""
    proxy = proxy_for(store_url)
    g = GUILDS[0]
    rows = _Rows(store_url, g)
    seen: list[int] = []

    async def stored() -> tuple[int, float | None] | None:
        row = await anyio.to_thread.run_sync(rows.read)
        if row is not None:
            seen.append(row[0])
        return row

    async def until(what: str, ok: Callable[[Any], bool]) -> None:
        try:
            async with asyncio.timeout(60):
                # Another process's rows: nothing to wait on from here but the rows.
                while not ok(last := await stored()):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"never {what}: last {last}, seen {seen[-5:]}\n"
                                 f"{bot.tail()}") from None

    ids = itertools.count(9_700_000)

    async def say() -> None:
        await fake.dispatch("MESSAGE_CREATE", message_create(
            next(ids), ALICE, channel_id=channel_of(g), guild_id=g))

    async with FakeDiscord(guilds=[guild(x) for x in GUILDS]) as fake, \
            anyio.create_task_group() as tg:
        await tg.start(proxy.serve)
        bot = BotProcess("bot", write_config(
            tmp_path / "bot.toml", fake, url_through(store_url, proxy),
            extra="snapshot_interval_s = 0.5\npassivate_after_s = 1.0\ntick_s = 0.5\n"))
        try:
            await bot.start()
            await bot.wait_for(lambda line: "gateway.guild_ready" in line, n=len(GUILDS))
            for _ in range(5):
                await say()
            await until("passivated with 5", lambda r: r is not None and r[0] == 5
                        and r[1] is not None)
            proxy.mode = "reset"
            for _ in range(3):
                await say()
            # The woken guild met the outage (it waits; before the fix it ran from nothing).
            await bot.wait_for(lambda line: "restore_waiting" in line
                               or "restore_failed" in line)
            await asyncio.sleep(2.0)  # the outage lasts a while: its retries meet it
            proxy.mode = "pass"
            await until("8 stored", lambda r: r is not None and (r[0] >= 8 or r[0] < 5))
            await asyncio.sleep(1.0)  # two more snapshot intervals: a late overwrite shows
            await stored()
            assert all(a <= b for a, b in itertools.pairwise(seen)), \
                f"stored human_messages went backwards: {sorted(set(seen), key=seen.index)}"
            await bot.wait_for("restore_recovered")
            status, took = await bot.stop()
            assert status == 0 and took < SHUTDOWN_S + EXIT_SLACK_S, bot.tail()
        finally:
            await bot.kill()
            tg.cancel_scope.cancel()
    final = rows.read()
    assert final is not None and final[0] == 8
    assert all(a <= b for a, b in itertools.pairwise(seen)), seen
    # The outage in the log: one line when it went, one when it came back; no pool noise.
    outage = [line[:160] for line in bot.lines if "store.unreachable" in line
              or "store.back" in line or "restore_" in line or "snapshot_w" in line]
    assert len(bot.events("store.unreachable")) == 1, outage
    assert len(bot.events("store.back")) == 1, outage
    assert not [line for line in bot.lines if "psycopg.pool" in line]


async def test_sigterm_with_the_snapshots_table_locked_ends_within_the_timeout(
        tmp_path: Path, store_url: str) -> None:
    """Another session holds ``LOCK TABLE snapshots IN EXCLUSIVE MODE`` when the process is
    told to stop with guilds to snapshot: the final snapshot gives up at the shutdown
    timeout and the process exits 0 within it (was: it waited for the lock, past
    ``TimeoutStopSec``, to be SIGKILLed with its lease held)."""
    import psycopg

    ids = itertools.count(9_800_000)
    async with FakeDiscord(guilds=[guild(x) for x in GUILDS]) as fake:
        bot = BotProcess("bot", write_config(tmp_path / "bot.toml", fake, store_url))
        lock = await anyio.to_thread.run_sync(lambda: psycopg.connect(store_url))
        try:
            await bot.start()
            await bot.wait_for(lambda line: "gateway.guild_ready" in line, n=len(GUILDS))
            for g in GUILDS:
                await fake.dispatch("MESSAGE_CREATE", message_create(
                    next(ids), ALICE, channel_id=channel_of(g), guild_id=g))
            await anyio.to_thread.run_sync(
                lock.execute, "LOCK TABLE snapshots IN EXCLUSIVE MODE")
            status, took = await bot.stop()
            assert status == 0 and took < SHUTDOWN_S + EXIT_SLACK_S, (took, bot.tail())
        finally:
            await anyio.to_thread.run_sync(lock.close)
            await bot.kill()


async def test_a_paused_process_sends_nothing_when_it_resumes_after_its_lease_expired(
        tmp_path: Path, store_url: str) -> None:
    """Process A (lease TTL 6 s) is paused with SIGSTOP while B waits for the shard; B takes
    it once the lease expired and answers. A is resumed (SIGCONT) with mentions coming: its
    lease surely does not hold any more (its clock moved), so it sends nothing, finds the
    lease lost and exits 75. No mention is answered twice."""
    import signal

    ids = itertools.count(9_900_000)
    async with FakeDiscord(guilds=[guild(g) for g in GUILDS]) as fake:
        a = BotProcess("a", write_config(tmp_path / "a.toml", fake, store_url, lease_ttl_s=6.0))
        b = BotProcess("b", write_config(tmp_path / "b.toml", fake, store_url, lease_ttl_s=6.0))
        sent: list[int] = []

        async def mention() -> None:
            mid = next(ids)
            sent.append(mid)
            g = GUILDS[mid % len(GUILDS)]
            await fake.dispatch("MESSAGE_CREATE", message_create(
                mid, ALICE, channel_id=channel_of(g), guild_id=g, mentions=(SELF_ID,)))

        try:
            await a.start()
            await a.wait_for(lambda line: "gateway.guild_ready" in line, n=len(GUILDS))
            await b.start()
            await b.wait_for("store.lease_wait")
            assert a.proc is not None
            a.proc.send_signal(signal.SIGSTOP)
            try:
                await b.wait_for(lambda line: "gateway.guild_ready" in line, n=len(GUILDS))
                # Mentions while A sleeps: the kernel queues them on its gateway socket.
                for _ in range(6):
                    await mention()
                    await asyncio.sleep(0.25)  # the pace of the traffic
            finally:
                a.proc.send_signal(signal.SIGCONT)
            for _ in range(6):
                await mention()
                await asyncio.sleep(0.25)
            await a.wait_for("store.lease_lost")
            answered = _answered(fake)
            twice = sorted({m for m in answered if answered.count(m) > 1})
            assert twice == [], f"answered twice: {twice} of {len(sent)}"
            assert len(set(answered)) >= 6
            status = await a.wait_exit(timeout_s=60)
            assert status == 75, a.tail()
            status, _ = await b.stop()
            assert status == 0
        finally:
            await a.kill()
            await b.kill()


async def test_an_opt_out_made_through_one_process_is_honoured_by_the_other_within_10_s(
        tmp_path: Path, store_url: str) -> None:
    """Shards 0 and 1 of 2 in two processes: a member opts out with ``/miku-me optout`` in a
    guild of shard 0; the process of shard 1 knows it within 10 s (LISTEN/NOTIFY; it re-reads
    every 30 s otherwise). Was: never, until it restarted."""
    from runtime.ops.control import request
    from tests.kit.fake_interactions import FakeCommands

    two = [(n << 22) + 5 for n in (3000, 3001)]  # shard 0 and shard 1 of 2
    routes = FakeCommands()
    async with FakeDiscord(guilds=[guild(g) for g in two], mounts=(routes.mount,)) as fake:
        bots = [BotProcess(f"shard-{i}", write_config(
            tmp_path / f"s{i}.toml", fake, store_url, shards=([i], 2), guilds_of=two))
            for i in range(2)]

        async def opted_out(bot: BotProcess) -> list[int]:
            stats = await anyio.to_thread.run_sync(
                request, str(bot.config.with_suffix(".sock")), {"type": "stats"})
            return list(stats["opted_out_users"])

        try:
            for bot in bots:
                await bot.start()
            for bot, g in zip(bots, two, strict=True):
                await bot.wait_for(lambda line, g=g: "gateway.guild_ready" in line
                                   and str(g) in line)
            assert await opted_out(bots[1]) == []
            await fake.dispatch_to_owner("INTERACTION_CREATE", routes.interaction(
                "optout", user_id=ALICE, guild_id=two[0], channel_id=channel_of(two[0]),
                group="miku-me"))
            await routes.next_callback()  # the deferral, within Discord's 3 s
            await routes.next_answer()  # the follow-up, once the opt-out is stored
            assert await opted_out(bots[0]) == [ALICE]
            t0 = anyio.current_time()
            with anyio.fail_after(10):
                # Another process: asked through its socket, nothing to wait on here.
                while await opted_out(bots[1]) != [ALICE]:  # noqa: ASYNC110
                    await anyio.sleep(0.1)
            took = anyio.current_time() - t0
            assert took < 10
            for bot in bots:
                status, _ = await bot.stop()
                assert status == 0
        finally:
            for bot in bots:
                await bot.kill()
