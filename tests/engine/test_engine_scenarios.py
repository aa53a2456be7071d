"""The seed's four scenarios and ENGINE.md's behaviour lines, through the pure core and the
seed's API (``AutonomousEngine`` with a fake clock)."""

from __future__ import annotations

import itertools

import pytest

from engine import (
    MOODS,
    WAKING_MOODS,
    AutonomousEngine,
    decide,
    new_state,
    observe_join,
    observe_message,
    observe_presence,
    record_action,
    seed_online,
    signals,
)
from engine.params import silence_threshold_s
from engine.rules import BREAK_SILENCE, ENGAGE_USER, FOMO_RESPONSE, JOIN_CONVERSATION
from tests.kit.enginekit import CFG, GID, NO_QUIET, T0, FakeClock, first_action, lively_state

SEEDS = range(200)


def facade_lively(seed: int, mood: str, per_minute: float = 3.0) -> tuple[AutonomousEngine,
                                                                          FakeClock]:
    """Scenario 1's room through the seed API: last action 15 min ago, 15 messages since she
    appeared, 3 a minute."""
    clock = FakeClock(T0 - 3600)
    eng = AutonomousEngine(clock=clock, seed=seed)
    eng.update_mood(GID, mood)
    clock.t = T0 - 900
    eng.record_action(GID, "join_conversation")
    gap = 60.0 / per_minute
    clock.t = T0 - 15 * gap - 600
    for _ in range(int(600 / gap)):
        eng.track_message(GID, author_is_bot=False)
        clock.advance(gap)
    eng.track_message(GID, is_self=True)
    for _ in range(15):
        clock.advance(gap)
        eng.track_message(GID, author_is_bot=False, author_id=7)
    clock.t = T0
    return eng, clock


# --- scenario 1 --------------------------------------------------------------------------

def test_scenario_1_active_conversation_bubbly_joins_in_most_seeds_core() -> None:
    """A bubbly persona in a 3-a-minute chat, 15 messages since she appeared and 15 min since
    she acted, joins the conversation in most seeds (pure core)."""
    actions = [decide(lively_state("bubbly"), CFG, T0, seed).action for seed in SEEDS]
    joined = actions.count(JOIN_CONVERSATION)
    assert joined >= 0.75 * len(actions)
    assert set(actions) <= {JOIN_CONVERSATION, None}


def test_scenario_1_join_waits_for_the_next_minute_when_the_roll_misses() -> None:
    """When the impulsiveness roll misses she looks again at the next minute, and as the
    chat goes on she speaks within minutes, nearly always by joining."""
    joined = 0
    for seed in SEEDS:
        state = lively_state("bubbly")
        d = decide(state, CFG, T0, seed)
        if d.action is None:
            assert d.next_at == (T0 // 60 + 1) * 60
        t = T0
        while d.action is None:
            t += 20.0
            assert t < T0 + 600, seed
            observe_message(state, t)
            d = decide(state, CFG, t, seed)
        assert d.action in (JOIN_CONVERSATION, FOMO_RESPONSE)
        joined += d.action == JOIN_CONVERSATION
    assert joined >= 0.95 * len(SEEDS)


def test_scenario_1_active_conversation_bubbly_joins_in_most_seeds_seed_api() -> None:
    """The same scenario through ``AutonomousEngine``: ``join_conversation`` in most seeds,
    and ``explain`` says why."""
    joined = 0
    for seed in SEEDS:
        eng, _ = facade_lively(seed, "bubbly")
        action = eng.should_take_action(GID)
        assert action in (JOIN_CONVERSATION, None)
        joined += action == JOIN_CONVERSATION
        why = eng.explain(GID)
        assert why is not None and why["action"] == action
        assert why["signals"]["msgs_5m"] == 15
        assert why["signals"]["messages_since_appearance"] == 15
        join = next(c for c in why["checks"] if c["action"] == JOIN_CONVERSATION)
        assert {c["name"] for c in join["conditions"]} >= {"momentum", "impulsiveness_roll"}
    assert joined >= 0.75 * len(SEEDS)


# --- scenario 2 --------------------------------------------------------------------------

SOCIABLE = [m for m, p in MOODS.items() if p.sociability >= 0.75]


@pytest.mark.parametrize("mood", SOCIABLE)
def test_scenario_2_related_game_is_engaged_naming_user_and_activity_core(mood: str) -> None:
    """A user starting "Project DIVA Mega Mix" 45 min after her last action is engaged by a
    sociable mood, and the decision names that user and activity (pure core)."""
    for seed in range(50):
        state = new_state(GID, T0 - 7200, mood=mood)
        record_action(state, T0 - 2700, "break_silence")
        observe_presence(state, T0, 42, "online", "Project DIVA Mega Mix", False, CFG)
        d = decide(state, CFG, T0, seed)
        assert d.action == ENGAGE_USER
        assert (d.target_user_id, d.target_activity, d.target_kind) == (
            42, "Project DIVA Mega Mix", "activity")


def test_scenario_2_seed_api_engages_once_per_user_and_activity() -> None:
    """Through the seed API the game start is engaged, and once recorded the same user and
    activity are not engaged again."""
    clock = FakeClock(T0 - 7200)
    eng = AutonomousEngine(clock=clock, seed=3)
    eng.update_mood(GID, "bubbly")
    clock.t = T0 - 2700
    eng.record_action(GID, "break_silence")
    clock.t = T0
    eng.track_presence(GID, user_id=42, status="online", activity="Project DIVA Mega Mix")
    assert eng.should_take_action(GID) == ENGAGE_USER
    why = eng.explain(GID)
    assert why is not None
    assert (why["target_user_id"], why["target_activity"]) == (42, "Project DIVA Mega Mix")
    eng.record_action(GID, ENGAGE_USER)
    clock.advance(1801)
    eng.track_presence(GID, user_id=42, status="online", activity="Project DIVA Mega Mix")
    assert eng.should_take_action(GID) != ENGAGE_USER


def test_scenario_2_related_activity_is_more_likely_than_unrelated() -> None:
    """A related activity makes engaging more likely than an unrelated one."""
    def rate(activity: str) -> float:
        hits = 0
        for seed in range(400):
            state = new_state(GID, T0 - 7200, mood="shy")
            record_action(state, T0 - 2700, "break_silence")
            observe_presence(state, T0, 42, "online", activity, False, CFG)
            hits += decide(state, CFG, T0, seed).action == ENGAGE_USER
        return hits / 400
    related, unrelated = rate("Hatsune Miku: Colorful Stage"), rate("Tetris")
    assert related > unrelated + 0.3
    assert 0.05 < unrelated < 0.3  # shy greets a game unrelated to her about one time in 7


def test_member_join_is_engaged_as_a_join() -> None:
    """A human who joined the guild is an opportunity too; the decision names the join."""
    state = new_state(GID, T0 - 7200, mood="bubbly")
    record_action(state, T0 - 2700, "break_silence")
    observe_join(state, T0, 77, False)
    hits = [decide(state, CFG, T0 + 60 * m, 1) for m in range(10)]
    engaged = next(d for d in hits if d.action is not None)
    assert (engaged.action, engaged.target_user_id, engaged.target_kind) == (
        ENGAGE_USER, 77, "join")


# --- scenario 3 --------------------------------------------------------------------------

def test_scenario_3_dead_chat_bubbly_breaks_silence_by_two_hours_core() -> None:
    """A silent room with someone online and her last action two hours back: a bubbly
    persona breaks the silence by the time it reaches two hours, and not before her silence
    threshold (pure core)."""
    threshold = silence_threshold_s(MOODS["bubbly"].energy)
    assert threshold <= 7200
    for seed in SEEDS:
        state = new_state(GID, T0 - 8 * 3600, mood="bubbly")
        record_action(state, T0 - 7200, "join_conversation")
        seed_online(state, [5])
        found = first_action(state, CFG, seed, T0 - 7200, T0)
        assert found is not None, seed
        t, d = found
        assert d.action == BREAK_SILENCE
        assert T0 - 7200 + threshold <= t <= T0


def test_scenario_3_dead_chat_bubbly_breaks_silence_seed_api() -> None:
    """The same through the seed API, asking once a minute."""
    for seed in range(50):
        clock = FakeClock(T0 - 8 * 3600)
        eng = AutonomousEngine(clock=clock, seed=seed)
        eng.update_mood(GID, "bubbly")
        eng.track_presence(GID, user_id=5, status="online")
        clock.t = T0 - 7200
        eng.record_action(GID, "join_conversation")
        while clock.t <= T0 and eng.should_take_action(GID) is None:
            clock.advance(60)
        assert clock.t <= T0
        why = eng.explain(GID)
        assert why is not None and why["action"] == BREAK_SILENCE
        assert why["signals"]["quiet_for"] >= silence_threshold_s(0.9)


# --- scenario 4 --------------------------------------------------------------------------

@pytest.mark.parametrize("per_minute", [3.0, 6.0, 30.0])
def test_scenario_4_shy_waits_for_40_messages_then_joins_or_fomos_core(
        per_minute: float) -> None:
    """A shy persona in the same lively chat takes no action before 40 human messages since
    she appeared, and joins (or FOMOs) once it goes on past that (pure core)."""
    for seed in range(100):
        state = lively_state("shy", per_minute=per_minute)
        t = T0
        acted = None
        while acted is None and state.messages_since_appearance < 60:
            t += 60.0 / per_minute
            observe_message(state, t)
            d = decide(state, CFG, t, seed)
            if d.action is not None:
                acted = (state.messages_since_appearance, d.action)
        assert acted is not None, seed
        assert acted[0] >= 40
        assert acted[1] in (JOIN_CONVERSATION, FOMO_RESPONSE)


def test_scenario_4_shy_waits_for_40_messages_seed_api() -> None:
    """The same through the seed API, asking after every message."""
    for seed in range(50):
        eng, clock = facade_lively(seed, "shy")
        count = 15
        while True:
            clock.advance(20)
            eng.track_message(GID, author_is_bot=False)
            count += 1
            action = eng.should_take_action(GID)
            if action is not None:
                break
            assert count < 60
        assert count >= 40
        assert action in (JOIN_CONVERSATION, FOMO_RESPONSE)


# --- behaviours --------------------------------------------------------------------------

def test_bot_and_self_messages_never_count_as_conversation_core() -> None:
    """Bots' and the persona's own messages never count: no momentum, no messages since her
    appearance, and the silence still breaks however much bots talk."""
    state = new_state(GID, T0 - 8 * 3600, mood="bubbly")
    seed_online(state, [5])
    record_action(state, T0 - 7200, "join_conversation")
    for i in range(2000):
        observe_message(state, T0 - 7200 + 3.5 * i, is_bot=True)
        observe_message(state, T0 - 7200 + 3.5 * i + 1, is_self=True)
    sig = signals(state, CFG, T0)
    assert (sig.msgs_5m, sig.msgs_1h, sig.messages_since_appearance) == (0, 0, 0)
    assert sig.quiet_for == pytest.approx(7200)
    found = first_action(state, CFG, 1, T0 - 3600, T0 + 3600)
    assert found is not None and found[1].action == BREAK_SILENCE


def test_bot_and_self_messages_never_count_seed_api() -> None:
    """Through the seed API a flood of bot and self messages makes her neither join nor
    FOMO; the same number of human messages does."""
    clock = FakeClock(T0 - 3600)
    eng = AutonomousEngine(clock=clock, seed=1)
    eng.update_mood(GID, "bubbly")
    for _ in range(300):
        clock.advance(1)
        eng.track_message(GID, author_is_bot=True)
        eng.track_message(GID, is_self=True)
        assert eng.should_take_action(GID) is None
    why = eng.explain(GID)
    assert why is not None and why["signals"]["msgs_5m"] == 0
    for _ in range(60):
        clock.advance(1)
        eng.track_message(GID)
    assert eng.should_take_action(GID) in (JOIN_CONVERSATION, FOMO_RESPONSE)


def test_bots_do_not_make_someone_around_nor_opportunities() -> None:
    """Bots' presence and joins neither make someone around nor give anyone to engage."""
    state = new_state(GID, T0 - 8 * 3600, mood="bubbly")
    observe_presence(state, T0 - 100, 9, "online", "Project DIVA", True, CFG)
    observe_join(state, T0 - 50, 10, True)
    assert not signals(state, CFG, T0).someone_around
    assert first_action(state, CFG, 1, T0, T0 + 6 * 3600) is None


@pytest.mark.parametrize("mood", WAKING_MOODS)
def test_silent_room_gets_at_most_one_silence_breaker_per_threshold(mood: str) -> None:
    """A silent room with someone in it gets at most one silence-breaker per silence
    threshold, over a day of asking every minute and acting on every decision."""
    threshold = silence_threshold_s(MOODS[mood].energy)
    for seed in range(5):
        state = new_state(GID, T0, mood=mood)
        seed_online(state, [5])
        breaks: list[float] = []
        t = T0
        while t < T0 + 86400:
            d = decide(state, NO_QUIET, t, seed)
            if d.action is not None:
                record_action(state, t, d.action, d.target_user_id, d.target_activity)
                if d.action == BREAK_SILENCE:
                    breaks.append(t)
            t += 60
        # A sharing mood shares hourly in a quiet room, and a share ends the silence too.
        assert breaks or MOODS[mood].shares, mood
        gaps = [b - a for a, b in itertools.pairwise(breaks)]
        assert all(g >= threshold for g in gaps), (mood, seed, gaps)
        assert not breaks or breaks[0] - T0 >= threshold


@pytest.mark.parametrize("mood", WAKING_MOODS)
def test_asleep_never_acts(mood: str) -> None:
    """``asleep`` takes no action whatever the room does, while the same room makes a waking
    mood act."""
    def run(m: str) -> list[str]:
        state = lively_state(m, per_minute=30.0)
        observe_presence(state, T0, 42, "online", "Project DIVA", False, CFG)
        seed_online(state, [1, 2, 3])
        acts = []
        for minute in range(0, 12 * 60, 7):
            d = decide(state, NO_QUIET, T0 + 60 * minute, 5)
            if d.action:
                acts.append(d.action)
                record_action(state, T0 + 60 * minute, d.action, d.target_user_id,
                              d.target_activity)
        return acts
    assert run(mood)
    assert run("asleep") == []
    state = lively_state("asleep", per_minute=30.0)
    d = decide(state, NO_QUIET, T0, 5, explain=True)
    assert (d.action, d.blocked_by) == (None, "asleep")


def test_engage_prefers_a_related_activity_then_the_most_recent() -> None:
    """Among open opportunities a related activity comes first, then the most recent; one
    older than 20 minutes is not engaged at all."""
    state = new_state(GID, T0 - 7200, mood="bubbly")
    record_action(state, T0 - 2700, "break_silence")
    observe_presence(state, T0 - 1300, 1, "online", "Hatsune Miku Logic Paint", False, CFG)
    observe_presence(state, T0 - 100, 2, "online", "Project DIVA", False, CFG)
    observe_presence(state, T0 - 50, 3, "online", "Tetris", False, CFG)
    observe_join(state, T0 - 10, 4, False)
    d = decide(state, CFG, T0, 0)
    assert (d.action, d.target_user_id) == (ENGAGE_USER, 2)
    record_action(state, T0, ENGAGE_USER, 2, "Project DIVA")
    later = first_action(state, CFG, 0, T0 + 1800, T0 + 1900, want=ENGAGE_USER)
    assert later is None  # the rest are older than 20 minutes by now
    observe_join(state, T0 + 1810, 8, False)
    observe_presence(state, T0 + 1800, 9, "online", "Tetris", False, CFG)
    observe_presence(state, T0 + 1812, 8, "online", None, False, CFG)  # the newcomer arrives
    d = decide(state, CFG, T0 + 1812, 0)
    assert (d.action, d.target_user_id, d.target_kind) == (ENGAGE_USER, 8, "join")


def test_silent_room_gets_at_most_one_silence_breaker_per_threshold_seed_api() -> None:
    """Through the seed API too: a day of a silent room with someone online, asking every
    minute and recording every action, gives silence-breakers a whole threshold apart."""
    threshold = silence_threshold_s(MOODS["bubbly"].energy)
    clock = FakeClock(T0)
    eng = AutonomousEngine(clock=clock, seed=9)
    eng.update_mood(GID, "bubbly")
    eng.track_presence(GID, user_id=5, status="online")
    breaks = []
    for _ in range(24 * 60):
        clock.advance(60)
        action = eng.should_take_action(GID)
        if action is not None:
            eng.record_action(GID, action)
            if action == BREAK_SILENCE:
                breaks.append(clock.t)
    assert len(breaks) >= 8  # about one per threshold, outside the quiet hours
    assert all(b - a >= threshold for a, b in itertools.pairwise(breaks))
