"""The live settings: changes persisted then applied, pushed to actors, screened events,
pauses that end on time, and reloads of the file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio.testing
from structlog.testing import capture_logs

from actors.events import (
    ActionRequest,
    ConfigChanged,
    MemberJoined,
    MessageSeen,
    PresenceChanged,
    ReactionChanged,
)
from runtime.config import decode_config
from runtime.settings import BadValue, RolesFn, SettingLocked, Settings
from tests.kit.settings_store import Live, SettingsMemoryStore

FILE = """
[defaults]
quiet_hours = []
ignore_user_ids = [66]
[guilds.10]
autonomous_channel_id = 100
locked = ["policy"]
ignore_user_ids = [77]
ignore_role_ids = [500]
"""
NOW = 1_764_600_000.0


@asynccontextmanager
async def opened(store: Any = None, text: str = FILE, *, live: tuple[int, ...] = (),
                 roles_of: RolesFn | None = None
                 ) -> AsyncIterator[tuple[Settings, list[Any]]]:
    """Settings opened on ``store`` and running against a ``Live`` double."""
    s = Settings(decode_config(text), clock=lambda: NOW, roles_of=roles_of)
    await s.open(store or SettingsMemoryStore())
    sup = Live(live)
    async with anyio.create_task_group() as tg:
        await tg.start(s.run, sup)
        yield s, sup.pushed
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_change_is_persisted_pushed_and_survives_a_restart() -> None:
    """Setting a channel persists it, pushes ConfigChanged with the new ActorSettings, makes
    ``channel_of`` answer at once, and a new Settings on the same store reads it back."""
    store = SettingsMemoryStore()
    async with opened(store) as (s, pushed):
        assert s.channel_of(20) is None
        await s.set_channel(20, 200)
        assert s.channel_of(20) == 200
        [event] = pushed
        assert isinstance(event, ConfigChanged) and event.guild_id == 20
        assert event.settings.channel_id == 200 and event.settings.config.has_channel
        async with opened(store) as (again, _):
            assert again.channel_of(20) == 200
            assert again.effective(20).sources["channel"] == "command"


@pytest.mark.anyio
async def test_a_locked_key_or_a_bad_value_changes_nothing() -> None:
    """A locked key raises SettingLocked naming where it is locked; a bad value raises
    BadValue naming the valid ones; neither writes nor pushes anything."""
    store = SettingsMemoryStore()
    async with opened(store) as (s, pushed):
        with pytest.raises(SettingLocked, match=r"guilds\.10\.locked"):
            await s.set_policy(10, "v1")
        with pytest.raises(BadValue, match="valid: v2, v1, shadow"):
            await s.set_policy(20, "v3")
        with pytest.raises(BadValue, match="from 0 to 2"):
            await s.set_chattiness(20, 2.5)
        with pytest.raises(BadValue, match="IANA"):
            await s.set_timezone(20, "Mars/Olympus")
        with pytest.raises(BadValue, match="two different hours"):
            await s.set_quiet_hours(20, (5, 5))
        with pytest.raises(BadValue, match=r"valid: .*bubbly"):
            await s.hold_mood(20, "grumpy", 1)
        with pytest.raises(BadValue, match="above 0"):
            await s.pause(20, 0)
        assert store.saves == 0 and pushed == []


@pytest.mark.anyio
async def test_a_failed_write_keeps_the_old_settings() -> None:
    """If the store cannot save, the error surfaces and the guild keeps its settings."""
    class Broken(SettingsMemoryStore):
        async def save_settings(self, guild_id: int, data: bytes | None) -> None:
            raise OSError("disk full")

    async with opened(Broken()) as (s, pushed):
        with pytest.raises(OSError):
            await s.set_channel(20, 200)
        assert s.channel_of(20) is None and pushed == []


@pytest.mark.anyio
async def test_screen_drops_ignored_users_and_defuses_opted_out_members() -> None:
    """Ignored users' events stop at the router; an opted-out member's message still counts
    but no longer addresses her, their new game is no opportunity, their join is dropped."""
    async with opened(roles_of=lambda gid, uid: (500,) if uid == 88 else ()) as (s, _):
        assert s.screen(MessageSeen(10, 100, 66, NOW)) is None  # [defaults] ignores 66
        assert s.screen(MessageSeen(10, 100, 77, NOW)) is None  # guild 10 ignores 77
        assert s.screen(MessageSeen(20, 200, 77, NOW)) is not None  # ...but not guild 20
        assert s.screen(PresenceChanged(10, 88, NOW)) is None  # role 500
        assert s.screen(ReactionChanged(10, 100, 66, 9, 1, -0.5, NOW)) is None
        assert s.screen(ReactionChanged(10, 100, 6, 9, 1, -0.5, NOW)) is not None
        await s.set_optout(5, True)
        msg = s.screen(MessageSeen(10, 100, 5, NOW, addresses_self=True, message_id=9))
        # ...and has no id: she never reacts to it (engine.recent keeps no id 0).
        assert msg == MessageSeen(10, 100, 5, NOW, addresses_self=False, message_id=0)
        game = s.screen(PresenceChanged(10, 5, NOW, activity="Project DIVA"))
        assert game == PresenceChanged(10, 5, NOW, activity=None)
        assert s.screen(MemberJoined(10, 5, NOW)) is None
        assert s.excluded(10, 5) and s.excluded(10, 88) and not s.excluded(10, 6)
        await s.set_optout(5, False)
        assert s.screen(MemberJoined(10, 5, NOW)) == MemberJoined(10, 5, NOW)


@pytest.mark.anyio
async def test_opt_outs_persist_by_user_across_guilds() -> None:
    """An opt-out is stored by user id and applies in every guild after a restart."""
    store = SettingsMemoryStore()
    async with opened(store) as (s, _):
        assert await s.set_optout(5, True) and not await s.set_optout(5, True)
        async with opened(store) as (again, _):
            assert again.opted_out(5) and again.excluded(999, 5) and again.opted_out_ids() == [5]


@pytest.mark.anyio
async def test_the_guarded_sink_refuses_actions_aimed_at_opted_out_members() -> None:
    """An action targeting an opted-out member is refused (the actor records it like any
    refusal); others go through to the pool."""
    async with opened() as (s, _):
        got: list[Any] = []

        class Pool:
            def submit(self, request: ActionRequest) -> None:
                got.append(request)

        guard = s.guard(Pool())
        await s.set_optout(5, True)
        req = ActionRequest(1, 10, 100, "engage_user", "bubbly", NOW, NOW + 60, target_user_id=5)
        with pytest.raises(RuntimeError, match="opted out"):
            guard.submit(req)
        guard.submit(ActionRequest(2, 10, 100, "break_silence", "bubbly", NOW, NOW + 60))
        assert [r.request_id for r in got] == [2]


def test_a_pause_ends_on_time_and_the_actor_hears_of_it() -> None:
    """Two hours after ``pause 2`` the guild's settings are pushed again, enabled, at
    exactly the pause's end (trio's MockClock: virtual time)."""
    pushed: list[tuple[float, Any]] = []

    async def main() -> Settings:
        start = trio.current_time()
        s = Settings(decode_config(FILE), clock=lambda: NOW + trio.current_time() - start,
                     loop_time=lambda epoch: epoch - NOW + start)
        await s.open(SettingsMemoryStore())
        live = Live(on_push=lambda e: pushed.append((trio.current_time() - start, e)))
        async with anyio.create_task_group() as tg:
            await tg.start(s.run, live)
            await s.pause(10, 2)
            assert not pushed[-1][1].settings.config.enabled
            await anyio.sleep(3 * 3600)
            tg.cancel_scope.cancel()
        return s

    s = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    at, event = pushed[-1]
    assert len(pushed) == 2 and at == pytest.approx(7200)
    assert event.settings.config.enabled and s.effective(10, NOW + 7200).paused_until is None


@pytest.mark.anyio
async def test_reload_pushes_changed_guilds_only_and_a_bad_file_keeps_the_old(
        tmp_path: Path) -> None:
    """A reloaded file pushes ConfigChanged to the live guilds whose settings changed; a
    bad file is one error line and nothing changes."""
    async with opened(live=(10, 30)) as (s, pushed):
        path = tmp_path / "bot.toml"
        path.write_text(FILE.replace('locked = ["policy"]', 'locked = ["policy"]\n'
                                     'timezone = "Asia/Tokyo"'))
        assert s.reload_file(str(path)) == [10]
        [event] = pushed
        assert event.guild_id == 10 and event.settings.config.timezone == "Asia/Tokyo"
        path.write_text("[guilds.10]\ntimezone = 'Mars/Olympus'\n")
        with capture_logs() as logs:
            assert s.reload_file(str(path)) is None
        [line] = [entry for entry in logs if entry["log_level"] == "error"]
        assert line["event"] == "settings.reload_failed" and "Mars/Olympus" in line["error"]
        assert s.effective(10).timezone == "Asia/Tokyo" and len(pushed) == 1


@pytest.mark.anyio
async def test_a_held_mood_ends_when_quiet_hours_start_and_is_refused_inside_them() -> None:
    """At 14:40 UTC with quiet hours from 16:00, a 5-hour mood holds until 16:00 (she still
    sleeps); inside quiet hours a mood is refused, saying why."""
    async with opened() as (s, _):
        await s.set_quiet_hours(20, (16, 7))
        e = await s.hold_mood(20, "bubbly", 5)
        assert e.mood_until == NOW + 80 * 60 and not e.actor.config.rotate_moods
        await s.set_quiet_hours(20, (14, 7))
        with pytest.raises(BadValue, match="quiet hours here until"):
            await s.hold_mood(20, "bubbly", 1)


@pytest.mark.anyio
async def test_an_opt_out_makes_every_live_guild_forget_the_member() -> None:
    """Opting out sends ``MemberOptedOut`` to each live guild (their affinity is purged
    there); opting back in sends nothing."""
    async with opened(live=(10, 20)) as (s, pushed):
        await s.set_optout(5, True)
        assert [(type(e).__name__, e.guild_id, e.user_id) for e in pushed] == [
            ("MemberOptedOut", 10, 5), ("MemberOptedOut", 20, 5)]
        await s.set_optout(5, False)
        assert len(pushed) == 2
