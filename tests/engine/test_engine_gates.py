"""The gates on every action: pending, the minimum gap, the cold-start grace, failure back-off,
and rolls that do not multiply with traffic."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine import (
    MOODS,
    NO_ITEM,
    SHARE_TWEET,
    AutonomousEngine,
    GuildConfig,
    decide,
    encode_state,
    mark_pending,
    new_state,
    observe_message,
    record_action,
    record_failure,
    record_result,
    restore_state,
    roll,
    seed_online,
)
from engine.params import params_for
from engine.rules import FOMO_RESPONSE, JOIN_CONVERSATION
from tests.kit.enginekit import (
    CFG,
    GID,
    T0,
    FakeClock,
    apply_event,
    copy_state,
    events,
    first_action,
    lively_state,
)

# --- pending -------------------------------------------------------------------------------

def test_pending_action_blocks_every_decision_until_its_deadline() -> None:
    """Nothing is decided while an action is pending; the deadline is when to look next, and
    at the deadline the pending action expires so the guild decides again."""
    state = lively_state("bubbly")
    first = decide(state, CFG, T0, 0)
    assert first.action == JOIN_CONVERSATION
    mark_pending(state, first.action, 17, T0 + 120)
    for dt in (0, 1, 60, 119.9):
        d = decide(state, CFG, T0 + dt, 0, explain=True)
        assert (d.action, d.blocked_by, d.next_at) == (None, "pending", T0 + 120)
    assert decide(state, CFG, T0 + 120, 0).blocked_by != "pending"
    assert state.pending_action is None


def test_a_result_clears_pending_and_a_sent_one_counts_as_an_appearance() -> None:
    """A sent result clears the pending mark, restarts the cooldowns and zeroes the messages
    since her appearance; a failure clears it and backs off."""
    state = lively_state("bubbly")
    mark_pending(state, JOIN_CONVERSATION, 1, T0 + 120)
    assert record_result(state, T0 + 5, JOIN_CONVERSATION, "sent", request_id=1)
    assert state.pending_action is None
    assert (state.last_action_at, state.messages_since_appearance) == (T0 + 5, 0)
    mark_pending(state, FOMO_RESPONSE, 2, T0 + 200)
    assert record_result(state, T0 + 40, FOMO_RESPONSE, "failed", "send rejected", 2)
    d = decide(state, CFG, T0 + 41, 0, explain=True)
    assert (d.blocked_by, d.next_at) == ("failure_backoff", T0 + 100)


def test_a_late_result_for_another_request_keeps_the_newer_pending_mark() -> None:
    """A result for a request that is no longer the pending one does not clear the newer
    pending action."""
    state = lively_state("bubbly")
    mark_pending(state, JOIN_CONVERSATION, 5, T0 + 120)
    assert not record_result(state, T0 + 1, FOMO_RESPONSE, "stale", request_id=4)
    assert state.pending_action == JOIN_CONVERSATION


def test_restore_clears_pending_as_failed_and_needs_no_grace() -> None:
    """Restoring a snapshot clears its pending action (reported so the caller can count it
    as failed) and needs no cold-start grace, only one minimum gap from the restore."""
    state = lively_state("bubbly")
    mark_pending(state, JOIN_CONVERSATION, 9, T0 + 10_000)
    state.grace_until = T0 + 10_000
    restored, cleared = restore_state(encode_state(state), T0 + 1, min_gap_s=30.0)
    assert cleared == JOIN_CONVERSATION
    assert restored.pending_action is None
    assert decide(restored, CFG, T0 + 1, 0, explain=True).blocked_by == "startup_grace"
    woken, _ = restore_state(encode_state(state), T0 + 1)  # a passivated guild's own bytes
    assert decide(woken, CFG, T0 + 1, 0, explain=True).blocked_by is None
    assert decide(restored, CFG, T0 + 31, 0, explain=True).blocked_by is None


def test_unknown_outcome_is_an_error() -> None:
    """An outcome other than sent / failed / stale is an error naming the valid ones."""
    with pytest.raises(ValueError, match="sent, failed, stale"):
        record_result(lively_state("bubbly"), T0, JOIN_CONVERSATION, "maybe")


# --- startup grace -------------------------------------------------------------------------

def test_cold_start_grace_holds_the_first_action_for_120_s_seed_api() -> None:
    """A fresh engine takes no action in its first 120 s, even when a rule would fire, and
    acts once the grace is over."""
    clock = FakeClock(T0)
    eng = AutonomousEngine(clock=clock, seed=0)
    eng.update_mood(GID, "bubbly")
    for _ in range(100):
        clock.advance(1)
        eng.track_message(GID)
        assert eng.should_take_action(GID) is None
    why = eng.explain(GID)
    assert why is not None and why["blocked_by"] == "startup_grace"
    assert why["next_at"] == T0 + 120
    clock.t = T0 + 120
    assert eng.should_take_action(GID) in (JOIN_CONVERSATION, FOMO_RESPONSE)


def test_startup_grace_counts_from_the_engine_start_not_the_guild() -> None:
    """The grace counts from the engine's start: a guild first seen after it needs none."""
    clock = FakeClock(T0)
    eng = AutonomousEngine(clock=clock, seed=0, startup_grace_s=60)
    clock.advance(3600)
    eng.update_mood(GID, "bubbly")
    for _ in range(40):
        clock.advance(1)
        eng.track_message(GID)
    assert eng.should_take_action(GID) in (JOIN_CONVERSATION, FOMO_RESPONSE)


def test_a_restored_guild_needs_no_grace_seed_api() -> None:
    """A guild restored from a snapshot into a freshly started engine needs no cold-start
    grace: it acts once one minimum gap from the restore is over."""
    clock = FakeClock(T0)
    old = AutonomousEngine(clock=clock, seed=0)
    old.update_mood(GID, "bubbly")
    for _ in range(200):
        clock.advance(1)
        old.track_message(GID)
    data = old.snapshot(GID)
    new = AutonomousEngine(clock=clock, seed=0)
    assert new.should_take_action(GID + 1) is None  # a cold guild waits
    new.restore(GID, data)
    assert new.should_take_action(GID) is None  # one minimum gap from the restore
    clock.advance(30)
    assert new.should_take_action(GID) in (JOIN_CONVERSATION, FOMO_RESPONSE)
    with pytest.raises(ValueError, match="not"):
        new.restore(GID + 1, data)


def test_grace_in_the_pure_core() -> None:
    """In the pure core the grace is the caller's ``grace_until``; ``next_at`` is its end."""
    state = lively_state("bubbly")
    state.grace_until = T0 + 90
    d = decide(state, CFG, T0, 0)
    assert (d.action, d.blocked_by, d.next_at) == (None, "startup_grace", T0 + 90)


# --- minimum gap and back-off ----------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(history=events(max_size=200, max_gap=400, min_size=40), seed=st.integers(0, 2**32),
       gap=st.sampled_from([5.0, 30.0, 90.0]), mood=st.sampled_from(["bubbly", "excited",
                                                                     "shy", "curious"]),
       outcomes=st.lists(st.sampled_from(["sent", "sent", "failed", "stale", "lost"]),
                         min_size=1, max_size=20))
def test_no_two_actions_closer_than_the_minimum_gap_whatever_the_events(
        history: list[tuple[str, int, int]], seed: int, gap: float, mood: str,
        outcomes: list[str]) -> None:
    """Whatever the events, asking after each one and acting on every decision (sent after a
    short delay, failed, stale or lost), no two sent actions are closer than the gap."""
    cfg = GuildConfig(rotate_moods=False, min_gap_s=gap, quiet_hours=None)
    state = new_state(GID, T0 - 3600, mood=mood)
    seed_online(state, [1])
    sent: list[float] = []
    t = T0
    n = 0
    for kind, dt, arg in history:
        t += dt
        if kind not in ("acted", "engaged", "pending", "failed", "no_item"):  # it acts itself
            apply_event(state, cfg, t, kind, arg)
        d = decide(state, cfg, t, seed)
        if d.action is None:
            continue
        outcome = outcomes[n % len(outcomes)]
        n += 1
        mark_pending(state, d.action, n, t + 60)
        if outcome == "sent":
            at = t + arg % 10
            record_result(state, at, d.action, "sent", request_id=n)
            sent.append(at)
        elif outcome in ("failed", "stale"):
            record_result(state, t + 1, d.action, outcome, "boom", request_id=n)
        # "lost": no result ever comes; the pending mark expires at its deadline
    event(f"sent: {min(len(sent), 3)}")
    assert all(b - a >= gap for a, b in itertools.pairwise(sent)), sent


def test_min_gap_is_a_gate_and_its_end_is_when_to_look_next() -> None:
    """Right after an action, the minimum gap blocks every rule until it has passed."""
    cfg = GuildConfig(rotate_moods=False, min_gap_s=30.0)
    state = lively_state("bubbly", per_minute=30.0, since_appearance=60)
    record_action(state, T0 - 10, "break_silence")
    d = decide(state, cfg, T0, 0)
    assert (d.blocked_by, d.next_at) == ("min_gap", T0 + 20)


def test_failures_back_off_exponentially_and_a_share_without_item_backs_off_sharing() -> None:
    """Failures back off 1, 2, 4 ... minutes up to 30; a share with no item backs off only
    sharing, for two hours."""
    state = lively_state("bubbly")
    waits = []
    for i in range(8):
        record_failure(state, T0 + i, JOIN_CONVERSATION, "pool rejected")
        waits.append(state.backoff_until - (T0 + i))
    assert waits == [60, 120, 240, 480, 960, 1800, 1800, 1800]
    record_action(state, T0 + 10, JOIN_CONVERSATION)
    assert state.backoff_until == 0
    curious = new_state(GID, T0 - 3600, mood="curious")
    seed_online(curious, [1])
    found = first_action(curious, CFG, 0, T0, T0 + 600)
    assert found is not None and found[1].action == SHARE_TWEET
    record_failure(curious, found[0], SHARE_TWEET, NO_ITEM)
    assert curious.backoff_until == 0
    later = first_action(curious, CFG, 0, found[0] + 60, found[0] + 4 * 3600,
                         want=SHARE_TWEET)
    assert later is not None and later[0] >= found[0] + 7200


# --- rolls ----------------------------------------------------------------------------------

def _missing_roll_seed() -> int:
    p_join = params_for(MOODS["bubbly"]).p_join
    minute = int(T0 // 60)
    return next(s for s in range(1000) if roll(s, GID, 1, minute) >= p_join)


def test_rolls_do_not_multiply_with_traffic() -> None:
    """When the join roll misses, asking again within the same minute gives the same answer
    however many messages arrived, and the roll is the same number all minute."""
    seed = _missing_roll_seed()
    # 10 min since her last action: join's cooldown is over, FOMO's (15 min) is not.
    state = lively_state("bubbly", since_action_s=600.0)
    first = decide(state, CFG, T0, seed, explain=True)
    assert first.action is None
    join_roll = next(c for c in first.checks if c.action == JOIN_CONVERSATION).conditions[-1]
    for i in range(500):
        t = T0 + i * 0.1
        observe_message(state, t)
        d = decide(state, CFG, t, seed, explain=True)
        assert d.action is None
        again = next(c for c in d.checks if c.action == JOIN_CONVERSATION).conditions[-1]
        assert again == join_roll


def test_roll_is_a_pure_uniform_function_of_its_arguments() -> None:
    """A roll depends only on (seed, guild, salt, slot), lies in [0, 1), and is near uniform
    over consecutive minutes."""
    assert roll(1, 2, 3, 4) == roll(1, 2, 3, 4)
    xs = [roll(7, GID, 1, m) for m in range(20_000)]
    assert all(0.0 <= x < 1.0 for x in xs)
    assert abs(sum(xs) / len(xs) - 0.5) < 0.01
    assert abs(sum(x < 0.1 for x in xs) / len(xs) - 0.1) < 0.01
    assert roll(7, GID, 1, 5) != roll(8, GID, 1, 5) != roll(7, GID + 1, 1, 5)
    assert len({roll(7, GID, s, 5) for s in range(1, 6)}) == 5


@given(seed=st.integers(0, 2**62), minute=st.integers(0, 10**8))
def test_roll_is_in_unit_interval(seed: int, minute: int) -> None:
    """Any seed and minute give a roll in [0, 1)."""
    assert 0.0 <= roll(seed, GID, 4, minute) < 1.0


def test_a_restored_guild_decides_as_the_original_would() -> None:
    """Snapshots carry no RNG state: a restored copy decides exactly like the original."""
    state = lively_state("bubbly", per_minute=5.0)
    other = copy_state(state)
    for minute in range(60):
        t = T0 + 60 * minute
        a, b = decide(state, CFG, t, 3), decide(other, CFG, t, 3)
        assert a == b


FACADE_OPS = st.lists(st.tuples(
    st.sampled_from(["human", "human", "human", "bot", "self", "presence", "game", "join",
                     "mood", "ask", "ask", "ask", "ask"]),
    st.one_of(st.integers(0, 3), st.integers(0, 40), st.integers(0, 3000)),
    st.integers(0, 40)), min_size=20, max_size=300)


@settings(max_examples=150, deadline=None)
@given(ops=FACADE_OPS, seed=st.integers(0, 2**32))
def test_seed_api_keeps_every_gate_whatever_the_calls(ops: list[tuple[str, int, int]],
                                                      seed: int) -> None:
    """Through the seed API, whatever the calls: nothing in the first 120 s, nothing while
    asleep, and no two recorded actions closer than 30 s."""
    clock = FakeClock(T0)
    eng = AutonomousEngine(clock=clock, seed=seed)
    moods = sorted(MOODS)
    acted: list[float] = []
    for kind, dt, arg in ops:
        clock.advance(dt)
        if kind == "human":
            for _ in range(arg):
                eng.track_message(GID)
        elif kind == "bot":
            eng.track_message(GID, author_is_bot=True)
        elif kind == "self":
            eng.track_message(GID, is_self=True)
        elif kind == "presence":
            eng.track_presence(GID, user_id=arg, status="offline" if arg % 3 else "online")
        elif kind == "game":
            eng.track_presence(GID, user_id=arg, activity="Project DIVA" if arg % 2 else "Go")
        elif kind == "join":
            eng.track_member_join(GID, user_id=arg, is_bot=arg % 5 == 0)
        elif kind == "mood":
            eng.update_mood(GID, moods[arg % len(moods)] if arg % 4 else "bubbly")
        else:
            action = eng.should_take_action(GID)
            if action is None:
                continue
            assert clock.t >= T0 + 120
            assert eng.state(GID).mood != "asleep"
            eng.record_action(GID, action)
            acted.append(clock.t)
    event(f"actions taken: {min(len(acted), 3)}+" if acted else "no action")
    assert all(b - a >= 30 for a, b in itertools.pairwise(acted)), acted
