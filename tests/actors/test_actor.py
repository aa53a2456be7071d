"""One guild actor: events through the engine, decisions to the sink, its own timer."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import anyio
import pytest
import structlog
import structlog.contextvars
import structlog.testing
import trio
import trio.testing

from actors.actor import (
    READY,
    WAITING,
    ActorCrashed,
    ActorSettings,
    GuildActor,
    Readiness,
    passive_wake_at,
)
from actors.clock import LoopClock
from actors.events import (
    GuildReady,
    Inspect,
    MemberLeft,
    MemberOptedOut,
    MemberTimedOut,
    MessagesDeleted,
    MessageSeen,
    MoodSet,
    PresenceChanged,
    ReactionChanged,
    Stop,
)
from engine import (
    GuildConfig,
    decide,
    decode_state,
    new_state,
    observe_message,
    record_action,
    rotate_mood,
)
from tests.kit.actors import RecordingSink

T0 = 1_700_000_000.0  # a Tuesday, 22:13 UTC
SEED = 11
NO_QUIET = GuildConfig(quiet_hours=None, rotate_moods=False)


def make_actor(sink: RecordingSink, *, mood: str = "bubbly", cfg: GuildConfig = NO_QUIET,
               policy: str = "v2", passivate_after_s: float = 0.0, epoch: float = T0,
               guild_id: int = 42, cls: type[GuildActor] = GuildActor,
               readiness: Readiness = READY, explain_idle: bool = False) -> GuildActor:
    """An actor of a fresh guild, ready in this process unless told otherwise."""
    clock = LoopClock(epoch)
    state = new_state(guild_id, clock.now(), mood=mood)
    settings = ActorSettings(config=cfg, channel_id=7, policy=policy,  # type: ignore[arg-type]
                             passivate_after_s=passivate_after_s, explain_idle=explain_idle)
    ids = iter(range(1, 10_000))
    return cls(state, settings, clock=clock, sink=sink, seed=SEED,
               request_ids=lambda: next(ids), readiness=readiness)


@pytest.mark.anyio
async def test_new_game_is_greeted_at_once_not_at_the_next_tick() -> None:
    """A related game starting in a silent channel gets engage_user right after the event."""
    sink = RecordingSink()
    actor = make_actor(sink)
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        await anyio.wait_all_tasks_blocked()
        assert sink.requests == []
        actor.mailbox.put_nowait(PresenceChanged(42, 501, actor.clock.now(),
                                                 activity="Project DIVA Mega Mix"))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(42))
    [req] = sink.requests
    assert (req.action, req.target_user_id, req.target_activity) == (
        "engage_user", 501, "Project DIVA Mega Mix")
    assert req.channel_id == 7 and req.priority == 1
    assert req.deadline > req.decided_at


@pytest.mark.anyio
async def test_pending_action_blocks_a_second_decision_until_its_result() -> None:
    """After a decision, nothing more is asked of the sink until the result arrives."""
    sink = RecordingSink()
    actor = make_actor(sink)
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(PresenceChanged(42, 501, now(), activity="Hatsune Miku"))
        actor.mailbox.put_nowait(PresenceChanged(42, 502, now(), activity="Vocaloid karaoke"))
        await anyio.wait_all_tasks_blocked()
        assert len(sink.requests) == 1
        assert actor.state.pending_action == "engage_user"
        actor.mailbox.put_nowait(sink.finish(sink.requests[0], "sent", at=now()))
        await anyio.wait_all_tasks_blocked()
        assert actor.state.pending_action is None
        assert actor.state.last_action == "engage_user"
        actor.mailbox.put_nowait(Stop(42))
    assert len(sink.requests) == 1  # the second game waits for the 30-minute cooldown


@pytest.mark.anyio
async def test_refused_request_counts_as_a_failure_with_back_off() -> None:
    """A sink that refuses leaves nothing pending and backs the guild off."""
    sink = RecordingSink(refuse=True)
    actor = make_actor(sink)
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(PresenceChanged(42, 501, actor.clock.now(), activity="DIVA"))
        actor.mailbox.put_nowait(PresenceChanged(42, 501, actor.clock.now(),
                                                 activity="Project DIVA"))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(42))
    assert actor.state.pending_action is None
    assert actor.state.backoff_until > 0
    assert actor.decisions[-1]["action"] == "engage_user"


@pytest.mark.anyio
async def test_spoken_to_she_replies_first_priority_with_a_per_user_cooldown() -> None:
    """A mention gets a priority-0 reply; the same user again within the cooldown does not,
    another user does; a bot never does."""
    sink = RecordingSink()
    actor = make_actor(sink, mood="shy")
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        for author, bot in ((5, False), (5, False), (6, False), (9, True)):
            actor.mailbox.put_nowait(MessageSeen(42, 7, author, now(), author_is_bot=bot,
                                                 addresses_self=True, message_id=100 + author))
        await anyio.wait_all_tasks_blocked()
        assert [(r.action, r.priority, r.target_user_id) for r in sink.requests] == [
            ("reply", 0, 5), ("reply", 0, 6)]
        assert sink.requests[0].reply_to_message_id == 105
        before = actor.state.messages_since_appearance
        actor.mailbox.put_nowait(sink.finish(sink.requests[0], "sent", at=now()))
        await anyio.wait_all_tasks_blocked()
        assert before == 3 and actor.state.messages_since_appearance == 0
        actor.mailbox.put_nowait(Stop(42))


@pytest.mark.anyio
async def test_a_raising_handler_crashes_the_actor_with_its_event() -> None:
    """A bad event (an unknown mood) stops the actor with ActorCrashed naming it."""
    sink = RecordingSink()
    actor = make_actor(sink)
    bad = MoodSet(42, "grumpy", actor.clock.now())
    actor.mailbox.put_nowait(bad)
    with pytest.raises(ActorCrashed) as info:
        await actor.run()
    assert info.value.event is bad
    assert "grumpy" in str(info.value.error)


@pytest.mark.anyio
async def test_inspect_replies_with_state_signals_and_why() -> None:
    """Inspect returns the guild in full from the actor's own task."""
    sink = RecordingSink()
    actor = make_actor(sink)
    got: list[dict[str, object]] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(GuildReady(42, actor.clock.now(), (1, 2, 3)))
        actor.mailbox.put_nowait(Inspect(42, got.append))
        actor.mailbox.put_nowait(Stop(42))
    [detail] = got
    assert detail["guild_id"] == 42
    assert detail["signals"]["online"] == 3  # type: ignore[index]
    assert detail["now"]["action"] is None  # type: ignore[index]


@pytest.mark.anyio
async def test_decision_log_line_carries_guild_id_and_reasons() -> None:
    """The decision is logged once, with guild_id bound and the rule's conditions."""
    sink = RecordingSink()
    actor = make_actor(sink)
    merge = structlog.contextvars.merge_contextvars
    with structlog.testing.capture_logs(processors=[merge]) as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(actor.run)
            actor.mailbox.put_nowait(PresenceChanged(42, 501, actor.clock.now(),
                                                     activity="Project DIVA"))
            await anyio.wait_all_tasks_blocked()
            actor.mailbox.put_nowait(Stop(42))
    [line] = [x for x in logs if x["event"] == "decision"]
    assert line["guild_id"] == 42
    assert line["action"] == "engage_user"
    assert "sociability_roll" in line["reasons"]["rules"]["engage_user"]


# --- timers, in virtual time (trio's MockClock) ---------------------------------------------

def _expected_first_action(mood: str, cfg: GuildConfig, online: tuple[int, ...]) -> float:
    """Step the pure engine second by second from T0 to find when it first acts."""
    state = new_state(42, T0, mood=mood)
    state.online = set(online)
    t = T0
    while t < T0 + 86400:
        if cfg.rotate_moods:
            rotate_mood(state, cfg, t, SEED)
        if decide(state, cfg, t, SEED).action is not None:
            return t
        t += 1.0
    return math.inf


def _run_virtual(build: Callable[[], GuildActor], until: float,
                 before: list[object] | None = None) -> GuildActor:
    """Build an actor inside a trio loop on a MockClock and run it until epoch ``until``."""
    made: list[GuildActor] = []

    async def main() -> None:
        actor = build()
        made.append(actor)
        for e in before or ():
            actor.mailbox.put_nowait(e)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(actor.run)
            await trio.sleep_until(actor.clock.loop_time(until))
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return made[0]


def test_silence_is_broken_on_time_in_virtual_hours() -> None:
    """With someone online and no messages, break_silence is asked for at the second the
    pure engine says (within its one-minute roll granularity), hours in milliseconds."""
    sink = RecordingSink()
    _run_virtual(lambda: make_actor(sink), T0 + 4 * 3600, [GuildReady(42, T0, (1,))])
    expected = _expected_first_action("bubbly", NO_QUIET, (1,))
    assert sink.requests and sink.requests[0].action == "break_silence"
    decided = sink.requests[0].decided_at
    assert expected <= decided < expected + 1.5
    assert 4680 <= decided - T0 <= 2 * 3600  # bubbly: about 78 minutes, under two hours


class WatchedActor(GuildActor):
    """An actor that records each time it looks (decides) and the mood it then has."""

    __slots__ = ("looks", "moods")

    def _consider(self, now: float) -> float:
        if not hasattr(self, "looks"):
            self.looks: list[float] = []
            self.moods: list[tuple[float, str]] = []
        self.looks.append(now)
        result = super()._consider(now)
        if not self.moods or self.moods[-1][1] != self.state.mood:
            self.moods.append((now, self.state.mood))
        return result


def test_ticks_fire_on_time_even_with_nothing_to_do() -> None:
    """The regular tick wakes the actor about every tick_s (jittered), in virtual time."""
    sink = RecordingSink()
    cfg = GuildConfig(quiet_hours=None, rotate_moods=False, has_channel=False)
    actor = _run_virtual(lambda: make_actor(sink, cfg=cfg, cls=WatchedActor), T0 + 3600)
    assert isinstance(actor, WatchedActor)
    gaps = [b - a for a, b in itertools.pairwise(actor.looks)]
    assert len(actor.looks) >= 6
    assert all(abs(g - actor.tick_s) < 1e-6 for g in gaps)
    assert 540 <= actor.tick_s <= 660


def test_moods_rotate_on_the_actors_own_timer() -> None:
    """With rotation on, the mood changes at each hour boundary, never twice the same."""
    sink = RecordingSink()
    cfg = GuildConfig(quiet_hours=None, rotate_moods=True, has_channel=False)
    actor = _run_virtual(lambda: make_actor(sink, cfg=cfg, mood="neutral", cls=WatchedActor),
                         T0 + 5 * 3600 + 10)
    assert isinstance(actor, WatchedActor)
    moods = [m for _, m in actor.moods]
    times = [t for t, _ in actor.moods]
    assert len(moods) >= 5
    assert all(a != b for a, b in itertools.pairwise(moods))
    assert all(t % 3600 == 0 for t in times[1:])  # at the hour boundaries
    assert "asleep" not in moods


def test_passive_wake_matches_when_a_live_actor_would_act() -> None:
    """The wake-up a passivated guild is given is exactly when the live engine first acts,
    across mood rotations and quiet hours."""
    for mood, cfg in (("bubbly", NO_QUIET), ("shy", NO_QUIET),
                      ("neutral", GuildConfig(quiet_hours=(23, 7), rotate_moods=True))):
        state = new_state(42, T0, mood=mood)
        state.online = {1}
        wake = passive_wake_at(decode_state(_encode(state)), cfg, T0, SEED)
        assert wake == _expected_first_action(mood, cfg, (1,)), mood


def _encode(state: object) -> bytes:
    from engine import encode_state

    return encode_state(state)  # type: ignore[arg-type]


# --- readiness, replies, idle explanations, dirtiness ---------------------------------------

@pytest.mark.anyio
async def test_a_waiting_guild_observes_but_decides_nothing_until_its_guild_ready() -> None:
    """Before its GuildReady an actor counts what it sees but asks the pool for nothing,
    not even a reply; its GuildReady lets the next event decide."""
    from actors.actor import WAITING

    sink = RecordingSink()
    actor = make_actor(sink, readiness=WAITING)
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(PresenceChanged(42, 501, now(), activity="Project DIVA"))
        actor.mailbox.put_nowait(MessageSeen(42, 7, 5, now(), addresses_self=True))
        await anyio.wait_all_tasks_blocked()
        assert sink.requests == [] and actor.state.human_messages == 1
        actor.mailbox.put_nowait(GuildReady(42, now(), (501,)))
        actor.mailbox.put_nowait(PresenceChanged(42, 502, now(), activity="Hatsune Miku"))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(42))
    assert [r.action for r in sink.requests] == ["engage_user"]
    assert actor.readiness == "ready"


@pytest.mark.anyio
async def test_a_reply_goes_to_the_channel_the_mention_came_in() -> None:
    """A mention in a thread under the autonomous channel is answered in that thread."""
    sink = RecordingSink()
    actor = make_actor(sink)
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(MessageSeen(42, 7777, 5, actor.clock.now(),
                                             addresses_self=True, message_id=99))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(42))
    [req] = sink.requests
    assert (req.action, req.channel_id, req.reply_to_message_id) == ("reply", 7777, 99)


@pytest.mark.anyio
async def test_a_mention_dropped_by_the_cooldown_is_logged_at_info_with_the_reason() -> None:
    """The second mention of one user within the cooldown is dropped, at info, saying why."""
    sink = RecordingSink()
    actor = make_actor(sink)
    with structlog.testing.capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(actor.run)
            for mid in (1, 2):
                actor.mailbox.put_nowait(MessageSeen(42, 7, 5, actor.clock.now(),
                                                     addresses_self=True, message_id=mid))
            await anyio.wait_all_tasks_blocked()
            actor.mailbox.put_nowait(Stop(42))
    [line] = [x for x in logs if x["event"] == "reply_dropped"]
    assert line["log_level"] == "info"
    assert (line["reason"], line["user_id"], line["message_id"]) == ("per-user cooldown", 5, 2)


@pytest.mark.anyio
async def test_at_debug_a_decision_that_decides_nothing_says_what_held_each_action() -> None:
    """With explain_idle, each non-decision logs the gate or each rule's first failed
    condition; without it, nothing is logged (and nothing explained)."""
    for explain in (True, False):
        sink = RecordingSink()
        actor = make_actor(sink, mood="shy", explain_idle=explain)
        with structlog.testing.capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                tg.start_soon(actor.run)
                actor.mailbox.put_nowait(MessageSeen(42, 7, 5, actor.clock.now()))
                await anyio.wait_all_tasks_blocked()
                actor.mailbox.put_nowait(Stop(42))
        lines = [x for x in logs if x["event"] == "no_decision"]
        if not explain:
            assert lines == []
            continue
        line = lines[0]
        assert line["log_level"] == "debug" and line["policy"] == "v2"
        why = line["why_not"]
        assert why["break_silence"].startswith("quiet_for=")
        assert why["join_conversation"].startswith("momentum=")
        assert "(need " in why["join_conversation"]


@pytest.mark.anyio
async def test_only_events_that_change_the_state_make_a_guild_dirty() -> None:
    """Inspect, readiness changes and timer looks that decide nothing leave the guild clean
    (its next snapshot is not encoded again); a message makes it dirty."""
    from actors.events import ChannelAccess

    sink = RecordingSink()
    actor = make_actor(sink, mood="shy")
    got: list[object] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(Inspect(42, got.append))
        actor.mailbox.put_nowait(ChannelAccess(42, actor.clock.now(), can_speak=True))
        await anyio.wait_all_tasks_blocked()
        clean = actor.dirty
        actor.mailbox.put_nowait(MessageSeen(42, 7, 5, actor.clock.now()))
        await anyio.wait_all_tasks_blocked()
        dirty = actor.dirty
        actor.mailbox.put_nowait(Stop(42))
    assert got and clean is False and dirty is True


@pytest.mark.anyio
@pytest.mark.parametrize("affinity", [True, False])
async def test_the_author_of_an_answer_reaches_the_engines_affinity(affinity: bool) -> None:
    """She engages 501, who replies to her a minute later: with affinity on the engine counts it as
    an answer (warmth); with it off the actor keeps no affinity at all."""
    sink = RecordingSink()
    cfg = GuildConfig(quiet_hours=None, rotate_moods=False, affinity=affinity)
    actor = make_actor(sink, cfg=cfg)
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(PresenceChanged(42, 501, now(), activity="Project DIVA"))
        await anyio.wait_all_tasks_blocked()
        [req] = sink.requests
        actor.mailbox.put_nowait(sink.finish(req, "sent", at=now()))
        actor.mailbox.put_nowait(MessageSeen(42, 7, 501, now() + 60, addresses_self=True))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(42))
    if affinity:
        assert actor.state.affinity[501].warmth == 1000
        assert not actor.state.affinity[501].waiting  # answered: the window closed
    else:
        assert actor.state.affinity == {}


@pytest.mark.anyio
@pytest.mark.parametrize(("affinity", "answered", "label"), [
    (True, False, "new"), (True, True, "familiar"), (False, True, None)])
async def test_an_engage_request_says_how_well_she_knows_the_person(
        affinity: bool, answered: bool, label: str | None) -> None:
    """Her engage of 501 is labelled from the guild's affinity: "new" for someone unknown,
    "familiar" for someone who answered her engage two days ago; none with affinity off."""
    sink = RecordingSink()
    cfg = GuildConfig(quiet_hours=None, rotate_moods=False, affinity=affinity)
    actor = make_actor(sink, cfg=cfg)
    now = actor.clock.now
    if answered:
        before = now() - 2 * 86400
        record_action(actor.state, before, "engage_user", 501, "Tetris")
        observe_message(actor.state, before + 60, author_id=501, to_her=True)
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(PresenceChanged(42, 501, now(), activity="Project DIVA"))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(42))
    [req] = sink.requests
    assert (req.action, req.familiarity) == ("engage_user", label)


@pytest.mark.anyio
async def test_a_member_who_opts_out_is_purged_from_affinity() -> None:
    """She engaged 501 (who answered) and 502: ``MemberOptedOut`` for 501 drops everything
    the guild's affinity held on 501, and 501's open opportunity; 502 is kept."""
    sink = RecordingSink()
    actor = make_actor(sink)
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(PresenceChanged(42, 501, now(), activity="Project DIVA"))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(sink.finish(sink.requests[0], "sent", at=now()))
        actor.mailbox.put_nowait(MessageSeen(42, 7, 501, now() + 60, addresses_self=True))
        actor.mailbox.put_nowait(MessageSeen(42, 7, 502, now() + 60, addresses_self=True))
        actor.mailbox.put_nowait(PresenceChanged(42, 501, now() + 61, activity="Tetris"))
        await anyio.wait_all_tasks_blocked()
        assert 501 in actor.state.affinity
        actor.mailbox.put_nowait(MemberOptedOut(42, 501))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(42))
    assert set(actor.state.affinity) == {502}
    assert all(o.user_id != 501 for o in actor.state.opportunities)


@pytest.mark.anyio
async def test_a_member_who_left_is_not_greeted_and_not_around() -> None:
    """501 starts a related game and 502 is online; before a greeting for 501 can be
    decided 501 leaves: ``MemberLeft`` drops 501's opportunity and counts 501 offline, so
    nothing is decided for 501, and 502 is still around."""
    sink = RecordingSink()
    actor = make_actor(sink, readiness=WAITING)  # observing only: nothing decided yet
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(PresenceChanged(42, 502, now(), status="online"))
        actor.mailbox.put_nowait(PresenceChanged(42, 501, now(), status="online",
                                                 activity="Project DIVA"))
        await anyio.wait_all_tasks_blocked()
        assert any(o.user_id == 501 for o in actor.state.opportunities)
        actor.mailbox.put_nowait(MemberLeft(42, 501, now() + 1))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(GuildReady(42, now() + 2, (502,)))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(42))
    assert all(o.user_id != 501 for o in actor.state.opportunities)
    assert 501 not in actor.state.online and 502 in actor.state.online
    assert all(r.target_user_id != 501 for r in sink.requests)


def _snowflake(t: float, seq: int) -> int:
    return ((int(t * 1000) - 1420070400000) << 22) | seq


@pytest.mark.anyio
@pytest.mark.parametrize("deleted", [False, True])
async def test_a_raid_bulk_deleted_before_she_decides_does_not_make_her_join(
        deleted: bool) -> None:
    """A raid of 40 messages (with their ids) counts as a lively chat: a bubbly guild joins
    (or FOMOs) once ready. The same raid bulk-deleted (``MessagesDeleted``) first: nothing
    to join."""
    sink = RecordingSink()
    actor = make_actor(sink, readiness=WAITING)
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        t = now()
        ids = tuple(_snowflake(t + i, i) for i in range(40))
        for i, mid in enumerate(ids):
            actor.mailbox.put_nowait(MessageSeen(42, 7, 900 + i, t + i, message_id=mid))
        await anyio.wait_all_tasks_blocked()
        if deleted:
            actor.mailbox.put_nowait(MessagesDeleted(42, 7, ids, t + 41))
            await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(GuildReady(42, t + 42, (901,)))
        await anyio.wait_all_tasks_blocked()  # it decides after the batch: join or FOMO
        actor.mailbox.put_nowait(Stop(42))
    joins = [r for r in sink.requests if r.action in ("join_conversation", "fomo_response")]
    assert (joins == []) is deleted
    assert (actor.state.sum_1h == 0) is deleted


@pytest.mark.anyio
@pytest.mark.parametrize("tone_on", [True, False])
async def test_a_timeout_makes_the_room_tense_in_her_words(tone_on: bool) -> None:
    """A moderator's timeout (``MemberTimedOut``) and sad reactions: the reply she is asked
    for carries the tone ("tense"); with ``tone`` off it carries none and nothing is kept."""
    sink = RecordingSink()
    cfg = GuildConfig(quiet_hours=None, rotate_moods=False, tone=tone_on)
    actor = make_actor(sink, cfg=cfg)
    now = actor.clock.now
    async with anyio.create_task_group() as tg:
        tg.start_soon(actor.run)
        actor.mailbox.put_nowait(MemberTimedOut(42, 600, now() + 600, now()))
        for i in range(3):
            actor.mailbox.put_nowait(ReactionChanged(42, 7, 600 + i, 55, 1, -0.4, now()))
        actor.mailbox.put_nowait(MessageSeen(42, 7, 5, now(), addresses_self=True,
                                             message_id=77))
        await anyio.wait_all_tasks_blocked()
        actor.mailbox.put_nowait(Stop(42))
    replies = [r for r in sink.requests if r.action == "reply"]
    assert [r.tone for r in replies] == (["tense"] if tone_on else [None])
    assert (actor.state.tone is None) is not tone_on
