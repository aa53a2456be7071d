"""The ``react`` rule (engine.react, engine.recent): a lively chat where joining does not fire
gets one emoji reaction on a recent human message, named by id; at most one per burst; every
gate holds it back; the same inputs give the same answer; it never takes join's place."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    REACT,
    GuildConfig,
    GuildState,
    SnapshotError,
    decide,
    decode_state,
    encode_state,
    forget_member,
    mark_pending,
    new_state,
    note_message,
    observe_message,
    record_action,
    record_failure,
    record_result,
)
from engine.recent import MAX_RECENT, Recent
from engine.rules import JOIN_CONVERSATION
from tests.kit.enginekit import CFG, GID, T0, copy_state

ALICE, BOB = 11, 12
NO_QUIET = GuildConfig(rotate_moods=False, quiet_hours=None)


def say(state: GuildState, t: float, mid: int, author: int = ALICE) -> None:
    """A human message with its id, as the actor gives it to the engine."""
    note_message(state, t, mid, author)
    observe_message(state, t, author_id=author)


def lively(mood: str, *, count: int = 12, per_minute: float = 3.0,
           gid: int = GID) -> tuple[GuildState, float]:
    """She appeared 20 min before a burst of ``count`` messages (a quiet room before), the
    last at the returned time; authors alternate between alice and bob."""
    state = new_state(gid, T0 - 7200, mood=mood)
    record_action(state, T0 - 1800, "join_conversation")
    t = T0
    for i in range(count):
        t = T0 + i * 60.0 / per_minute
        say(state, t, 1000 + i, ALICE if i % 2 == 0 else BOB)
    return state, t


def first_react(mood: str, seeds: range = range(200), **kw: float) -> tuple[int, float]:
    """A seed and time at which the lively room of ``mood`` gets a reaction."""
    for seed in seeds:
        state, t = lively(mood, **kw)  # type: ignore[arg-type]
        for minute in range(5):
            d = decide(state, CFG, t + 60 * minute, seed)
            if d.action == REACT:
                return seed, t + 60 * minute
    raise AssertionError(f"no reaction in {mood} for any seed")


def test_lively_chat_and_a_shy_mood_reacts_instead_of_joining() -> None:
    """12 messages since she appeared: far from shy's 40 to join, so she reacts to the newest
    human message, naming it and its author by id; the explanation says why."""
    seed, at = first_react("shy")
    state, _ = lively("shy")
    d = decide(state, CFG, at, seed, explain=True)
    assert d.action == REACT and d.target_kind == "message"
    assert (d.target_message_id, d.target_user_id) == (1011, BOB)
    react = next(c for c in d.checks if c.action == REACT)
    join = next(c for c in d.checks if c.action == JOIN_CONVERSATION)
    assert react.fired and not join.fired
    names = [c.name for c in react.conditions]
    assert names == ["momentum", "messages_since_appearance", "recent_human_message",
                     "once_per_burst", "since_last_action", "impulsiveness_roll", "may_react",
                     "tone"]
    assert all(c.ok for c in react.conditions)
    # Without the message ids (the seed API, a coalesced mailbox) nothing to name: no react.
    bare = copy_state(state)
    bare.recent = []
    assert decide(bare, CFG, at, seed).action != REACT


def test_the_same_inputs_give_the_same_reaction() -> None:
    seed, at = first_react("shy")
    a, _ = lively("shy")
    b, _ = lively("shy")
    da, db = decide(a, CFG, at, seed), decide(b, CFG, at + 59 - at % 60, seed)
    assert msgspec.to_builtins(da)["action"] == msgspec.to_builtins(db)["action"] == REACT


def test_a_reaction_is_an_action_but_not_an_appearance() -> None:
    seed, at = first_react("shy")
    state, _ = lively("shy")
    msa = state.messages_since_appearance
    d = decide(state, CFG, at, seed)
    record_action(state, at, REACT, d.target_user_id)
    assert state.messages_since_appearance == msa  # the conversation's count goes on
    assert state.last_action_at == at and state.day_actions[-1] == int(at)
    assert state.last_appearance_at < at


def test_at_most_one_reaction_per_burst() -> None:
    seed, at = first_react("shy")
    state, t = lively("shy")
    record_action(state, at, REACT)
    mid = 2000
    # The chat goes on for 30 minutes: no second reaction in this burst.
    while t < at + 1800:
        t += 20.0
        mid += 1
        say(state, t, mid)
        assert decide(state, CFG, t, seed).action != REACT
    # Ten quiet minutes end the burst; the next one may get a reaction again.
    t += 700.0
    again = None
    for i in range(40):
        say(state, t + 20 * i, 3000 + i)
        for s in range(50):
            if decide(state, CFG, t + 20 * i, s).action == REACT:
                again = s
        if again is not None:
            break
    assert again is not None


def test_a_failed_or_dropped_reaction_ends_the_bursts_reaction_without_backoff() -> None:
    _, at = first_react("shy")
    for outcome in ("failed", "stale"):
        state, _ = lively("shy")
        mark_pending(state, REACT, 1, at + 120)
        record_result(state, at, REACT, outcome, "the message is gone", 1)
        assert state.backoff_until == 0.0 and state.failures_in_row == 0
        assert all(decide(state, CFG, at + 60 * m, s).action != REACT
                   for m in range(1, 4) for s in range(50))
    state, _ = lively("shy")
    record_failure(state, at, REACT, "forbidden")
    assert state.backoff_until == 0.0


@pytest.mark.parametrize(("gate", "cfg"), [
    ("disabled", GuildConfig(rotate_moods=False, enabled=False)),
    ("no_autonomous_channel", GuildConfig(rotate_moods=False, has_channel=False)),
    ("chattiness_zero", GuildConfig(rotate_moods=False, chattiness=0.0)),
    ("quiet_hours", GuildConfig(rotate_moods=False, quiet_hours=(0, 24))),
    ("daily_cap", GuildConfig(rotate_moods=False, max_actions_per_day=1)),
    ("min_gap", GuildConfig(rotate_moods=False, min_gap_s=7200.0)),
])
def test_every_gate_holds_a_reaction_back(gate: str, cfg: GuildConfig) -> None:
    seed, at = first_react("shy")
    state, _ = lively("shy")
    d = decide(state, cfg, at, seed, explain=True)
    assert d.action is None and d.blocked_by == gate


def test_pending_and_asleep_hold_a_reaction_back() -> None:
    seed, at = first_react("shy")
    state, _ = lively("shy")
    mark_pending(state, "join_conversation", 5, at + 100)
    assert decide(state, CFG, at, seed).blocked_by == "pending"
    state, _ = lively("asleep")
    assert decide(state, CFG, at, seed).blocked_by == "asleep"


def test_never_an_opted_out_members_message() -> None:
    """forget_member (an opt-out) drops their message ids: the newest left is someone
    else's, or none."""
    seed, at = first_react("shy")
    state, _ = lively("shy")
    forget_member(state, BOB)
    assert all(r.author_id != BOB for r in state.recent)
    d = decide(state, CFG, at, seed)
    assert d.action != REACT or d.target_user_id == ALICE


def test_the_ids_kept_are_bounded_and_old_ones_are_not_named() -> None:
    state, t = lively("shy", count=40)
    assert len(state.recent) == MAX_RECENT
    assert all(decide(state, CFG, t + 301, s).action != REACT for s in range(100))


def test_a_quiet_room_gets_no_reaction() -> None:
    """Three messages in five minutes are not a lively conversation."""
    state, t = lively("shy", count=3, per_minute=0.6)
    assert all(decide(state, CFG, t + 60 * m, s).action != REACT
               for m in range(5) for s in range(100))


@settings(max_examples=150, deadline=None)
@given(mood=st.sampled_from(["shy", "bubbly", "neutral", "silly", "angry", "excited"]),
       gaps=st.lists(st.integers(0, 90), min_size=1, max_size=80),
       appeared=st.integers(0, 79), seed=st.integers(0, 2**32),
       c=st.sampled_from([0.5, 1.0, 2.0]))
def test_react_never_fires_where_join_would(mood: str, gaps: list[int], appeared: int,
                                            seed: int, c: float) -> None:
    """Whatever the chat, the same room without the message ids (so no reaction possible)
    would not have joined whenever this one reacts."""
    cfg = GuildConfig(rotate_moods=False, quiet_hours=None, chattiness=c)
    state = new_state(GID, T0 - 3600, mood=mood)
    t = T0
    for i, gap in enumerate(gaps):
        t += gap
        if i == appeared:
            observe_message(state, t, is_self=True)
        say(state, t, 10_000 + i, ALICE if i % 3 else BOB)
        bare = copy_state(state)
        bare.recent = []
        d = decide(state, cfg, t, seed)
        if d.action == REACT:
            assert decide(bare, cfg, t, seed).action != JOIN_CONVERSATION
            record_action(state, t, REACT)
        elif d.action is not None:
            record_action(state, t, d.action)


def test_the_snapshot_keeps_the_ids_and_refuses_too_many() -> None:
    """The recent ids, the burst's start and her last reaction survive a snapshot; a
    snapshot with more ids than the bound is refused (it is data from outside)."""
    _, at = first_react("shy")
    state, _ = lively("shy")
    record_action(state, at, REACT)
    back = decode_state(encode_state(state))
    assert back.recent == state.recent and len(back.recent) == MAX_RECENT
    assert (back.burst_since, back.reacted_at) == (state.burst_since, at)
    state.recent = [*state.recent, Recent(1, 2, int(at))]
    with pytest.raises(SnapshotError, match="bound"):
        decode_state(encode_state(state))


def test_without_permission_to_react_the_rule_never_fires() -> None:
    """``GuildConfig.may_react`` False (the runtime found no Add Reactions there): where a
    reaction would fire, none does, the decision says why, and no other rule changes."""
    import msgspec

    seed, at = first_react("shy")
    state, _ = lively("shy")
    barred = msgspec.structs.replace(CFG, may_react=False)
    d = decide(copy_state(state), barred, at, seed, explain=True)
    assert d.action != REACT
    react = next(c for c in d.checks if c.action == REACT)
    assert [c.ok for c in react.conditions if c.name == "may_react"] == [False]
    for minute in range(30):
        assert decide(copy_state(state), barred, at + 60 * minute, seed).action != REACT


def test_the_seeds_facade_never_answers_react() -> None:
    """``AutonomousEngine`` (the seed's API) is given no message ids, so a lively chat that a
    shy mood ends up joining gets no reaction there first: its answers stay the seed's five
    names."""
    from engine import ACTIONS, AutonomousEngine

    now = [T0]
    eng = AutonomousEngine(clock=lambda: now[0], seed=7, startup_grace_s=0, config=NO_QUIET)
    eng.update_mood(GID, "shy")
    eng.record_action(GID, "join_conversation")
    answers = set()
    for i in range(240):
        now[0] = T0 + 60 + i * 15.0
        eng.track_message(GID, author_id=ALICE if i % 2 else BOB)
        answers.add(eng.should_take_action(GID))
    assert REACT not in answers
    assert answers <= {None, *(a for a in ACTIONS if a != REACT)}
    assert answers & {"join_conversation", "fomo_response"}  # the chat was lively enough
