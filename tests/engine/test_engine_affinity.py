"""User affinity (issue 22 part 2, ENGINE.md "Reading the room"): who answered her engages,
who ignored them, and what that does to ``engage_user``: likelier for people who answer,
nobody who ignored the last two engages is engaged again for a day unless they speak to her;
monotone, bounded, deterministic, in the snapshot, explained."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    GuildConfig,
    decide,
    decode_state,
    encode_state,
    new_state,
    observe_message,
    observe_presence,
    record_action,
)
from engine.affinity import (
    ANSWER_WINDOW_S,
    BLOCK_S,
    MAX_AFFINITY,
    MAX_FACTOR,
    MAX_IGNORED_ROW,
    MAX_SCORE,
    RECENT_FACTOR,
    RECENT_S,
    Person,
    blocked_until,
    factor,
    look,
)
from engine.engage import engage_roll
from engine.moods import profile_for
from engine.params import params_for
from tests.kit.enginekit import GID, NO_QUIET, T0, decisions_equal, events, replay

USER = 4242
CFG = NO_QUIET
OFF = msgspec.structs.replace(NO_QUIET, affinity=False)
HOUR = 3600.0


def _affinity_check(state, t: float) -> tuple[bool, object]:
    """The engage rule's affinity condition at ``t``: (held, value)."""
    d = decide(state, CFG, t, 1, explain=True)
    engage = next(c for c in d.checks if c.action == "engage_user")
    cond = {c.name: c for c in engage.conditions}["affinity"]
    return cond.ok, cond.value


def _engage(state, t: float, user: int = USER, game: str = "Game A") -> None:
    record_action(state, t, "engage_user", user, game)


def _offer(state, t: float, user: int = USER, game: str = "Project DIVA Mega Mix") -> None:
    """``user`` starts ``game`` at ``t``: an opportunity (a related game: bubbly's chance is
    1, so the roll always comes out and only affinity can hold it back)."""
    observe_presence(state, t, user, "online", game, False, CFG)
    observe_message(state, t, author_id=1)  # the room is not silent: no silence-breaker


def test_a_message_to_her_within_30_minutes_of_her_engage_is_an_answer() -> None:
    """The person she engaged replies to her 29 min later: warmth, no ignore, a factor
    above 1."""
    state = new_state(GID, T0, mood="bubbly")
    _engage(state, T0)
    observe_message(state, T0 + ANSWER_WINDOW_S - 60, author_id=USER, to_her=True)
    p = look(state.affinity, USER, T0 + 2 * HOUR)
    assert p is not None and p.warmth == 1000 and p.cold == 0 and p.ignored_row == 0
    assert factor(p, T0 + 2 * 86400) == 2.0  # a day on: no recent-engage discount


def test_no_message_to_her_within_30_minutes_is_an_ignore() -> None:
    """A message to the room right after the engage (chatter with others, for all she can
    tell) and one to her 31 min after are no answer: the engage was ignored."""
    state = new_state(GID, T0, mood="bubbly")
    _engage(state, T0)
    observe_message(state, T0 + 60, author_id=USER)
    observe_message(state, T0 + ANSWER_WINDOW_S + 60, author_id=USER, to_her=True)
    p = look(state.affinity, USER, T0 + 2 * HOUR)
    # the engage was ignored (cold); the late mention is no answer (no warmth), but it
    # spoke to her: the run of ignores ends
    assert p is not None and p.warmth == 0 and p.cold == 1000 and p.ignored_row == 0
    # without it, the run of ignores stands
    state = new_state(GID, T0, mood="bubbly")
    _engage(state, T0)
    observe_message(state, T0 + 60, author_id=USER)
    p = look(state.affinity, USER, T0 + 2 * HOUR)
    assert p is not None and p.warmth == 0 and p.cold == 1000 and p.ignored_row == 1
    assert factor(p, T0 + 2 * 86400) == 0.25


def test_someone_who_ignored_her_twice_is_not_engaged_again_for_a_day() -> None:
    """Two ignored engages: a new related game of theirs (a certain engage otherwise) is
    passed over, the decision says why; a day after the last ignore the block is gone (the
    chance is still cut by the ignores: factor 1 / (1 + cold)²)."""
    state = new_state(GID, T0 - HOUR, mood="bubbly")
    _engage(state, T0)
    _engage(state, T0 + 2 * HOUR, game="Game B")
    t = T0 + 4 * HOUR
    _offer(state, t)
    assert decide(state, CFG, t, 1).action is None
    ok, value = _affinity_check(state, t)
    assert not ok and "ignored her twice" in str(value)
    assert decide(state, OFF, t, 1).action == "engage_user"  # affinity off: no block
    later = T0 + 2 * HOUR + BLOCK_S
    _offer(state, later, game="Project DIVA X")
    ok, value = _affinity_check(state, later)
    assert ok and isinstance(value, float) and 0.1 < value < 0.12


def test_speaking_to_her_lifts_the_block() -> None:
    """Ignored twice, then a message that mentions her: no longer blocked. A message to
    others does not lift it."""
    state = new_state(GID, T0 - HOUR, mood="bubbly")
    _engage(state, T0)
    _engage(state, T0 + 2 * HOUR, game="Game B")
    observe_message(state, T0 + 3 * HOUR, author_id=USER)  # not to her
    t = T0 + 4 * HOUR
    _offer(state, t)
    assert not _affinity_check(state, t)[0]
    observe_message(state, t + 60, author_id=USER, to_her=True)
    assert _affinity_check(state, t + 120)[0]


def test_a_blocked_opportunity_is_looked_at_again_when_the_block_ends() -> None:
    """The block ends while the opportunity is still open: next_at names that moment."""
    state = new_state(GID, T0 - HOUR, mood="bubbly")
    _engage(state, T0)
    _engage(state, T0 + 2 * HOUR, game="Game B")
    ends = T0 + 2 * HOUR + BLOCK_S
    _offer(state, ends - 600)
    d = decide(state, CFG, ends - 600, 1)
    assert d.action is None and d.next_at == ends
    assert _affinity_check(state, ends)[0]


def test_someone_who_speaks_to_her_right_after_she_acted_answered_her() -> None:
    """A mention within 30 min of any action of hers opens a record with warmth; a
    message to others from someone unknown keeps nothing."""
    state = new_state(GID, T0, mood="bubbly")
    record_action(state, T0, "join_conversation")
    observe_message(state, T0 + 60, author_id=1, to_her=True)
    observe_message(state, T0 + 60, author_id=2)
    observe_message(state, T0 + ANSWER_WINDOW_S + 60, author_id=3, to_her=True)
    assert set(state.affinity) == {1} and state.affinity[1].warmth == 1000


def test_affinity_decays_with_a_half_life_of_a_week() -> None:
    """An answer a week before the next engage counts half."""
    state = new_state(GID, T0, mood="bubbly")
    _engage(state, T0)
    observe_message(state, T0 + 60, author_id=USER, to_her=True)
    _engage(state, T0 + 60 + 7 * 86400, game="Game B")
    p = state.affinity[USER]
    assert p.warmth == 500


def _person(warmth: int, cold: int, row: int, at: int, engaged: bool) -> Person:
    return Person(at=at, warmth=warmth, cold=cold, ignored_row=row,
                  ignored_at=at if row else -1, engaged_at=at if engaged else -1,
                  waiting=engaged)


_scores = st.integers(0, 5000)


@settings(max_examples=300, deadline=None)
@given(w=_scores, dw=_scores, c=_scores, dc=_scores, row=st.integers(0, 4),
       drow=st.integers(0, 4), ago=st.integers(0, 3 * 86400), engaged=st.booleans(),
       seed=st.integers(0, 2**16), others=st.lists(st.integers(1, 40), max_size=4),
       related=st.booleans(), mood=st.sampled_from(["bubbly", "neutral", "shy", "curious"]),
       minute=st.integers(0, 600))
def test_more_affinity_never_makes_an_engage_less_likely(
        w: int, dw: int, c: int, dc: int, row: int, drow: int, ago: int, engaged: bool,
        seed: int, others: list[int], related: bool, mood: str, minute: int) -> None:
    """With all else equal (other people's opportunities too), more warmth, less cold or a
    shorter run of ignores never turns an engage of that person into none."""
    now = T0 + 86400 + minute * 60
    at = int(now) - ago

    def decided(p: Person) -> int | None:
        state = new_state(GID, T0, mood=mood)
        for i, u in enumerate(others):
            observe_presence(state, now - 60 - i, u, "online", f"Game {u}", False, CFG)
        observe_presence(state, now - 30, USER, "online",
                         "Project DIVA" if related else "Tetris", False, CFG)
        state.affinity[USER] = msgspec.structs.replace(p)
        return decide(state, CFG, now, seed).target_user_id

    low = _person(w, c + dc, row + drow, at, engaged)
    high = _person(w + dw, c, row, at, engaged)
    if decided(low) == USER:
        assert decided(high) == USER


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["msg", "to_her", "engage", "join"]),
                          st.integers(0, 3 * 3600), st.integers(0, 2000)),
                max_size=400))
def test_affinity_stays_bounded(ops: list[tuple[str, int, int]]) -> None:
    """Whatever the traffic: at most 256 people, scores and runs within their caps, and the
    snapshot decodes to the same affinity."""
    state = new_state(GID, T0, mood="bubbly")
    t = T0
    for kind, gap, user in ops:
        t += gap
        if kind == "engage":
            _engage(state, t, user)
        elif kind == "join":
            record_action(state, t, "join_conversation")
        else:
            observe_message(state, t, author_id=user, to_her=kind == "to_her")
    assert len(state.affinity) <= MAX_AFFINITY
    for p in state.affinity.values():
        assert 0 <= p.warmth <= MAX_SCORE and 0 <= p.cold <= MAX_SCORE
        assert 0 <= p.ignored_row <= MAX_IGNORED_ROW and factor(p, t) <= MAX_FACTOR
    assert decode_state(encode_state(state)).affinity == state.affinity


def test_the_oldest_person_is_dropped_past_256() -> None:
    """257 people engaged: the first one engaged is forgotten, the rest kept."""
    state = new_state(GID, T0, mood="bubbly")
    for u in range(MAX_AFFINITY + 1):
        _engage(state, T0 + u, 10_000 + u)
    assert len(state.affinity) == MAX_AFFINITY and 10_000 not in state.affinity


@settings(max_examples=60, deadline=None)
@given(events(max_size=80), st.integers(0, 2**16), st.integers(1, 900))
def test_asking_in_between_changes_no_affinity(history: list[tuple[str, int, int]], seed: int,
                                               every: int) -> None:
    """Ignores are settled lazily; a guild asked after every event ends with the same
    affinity, and the same decision, as one never asked (deterministic)."""
    quiet, t = replay(history, CFG)
    asked, _ = replay(history, CFG, each=lambda s, now: decide(s, CFG, now, seed))
    end = t + every
    a, b = decide(quiet, CFG, end, seed), decide(asked, CFG, end, seed)
    assert decisions_equal(a, b)
    assert {u: look(quiet.affinity, u, end) for u in quiet.affinity} == \
        {u: look(asked.affinity, u, end) for u in asked.affinity}


def test_a_snapshot_without_affinity_decodes_with_none() -> None:
    """A schema 3 snapshot written before affinity existed (no field) decodes, empty."""
    state = new_state(GID, T0, mood="bubbly")
    raw = msgspec.msgpack.decode(encode_state(state))
    raw.pop("affinity")
    back = decode_state(msgspec.msgpack.encode(raw))
    assert back.affinity == {}


def test_a_snapshot_with_a_bad_affinity_record_is_refused() -> None:
    """A score out of range is a SnapshotError that names affinity."""
    import pytest

    from engine import SnapshotError
    state = new_state(GID, T0, mood="bubbly")
    _engage(state, T0)
    state.affinity[USER].cold = -5
    with pytest.raises(SnapshotError, match="affinity"):
        decode_state(encode_state(state))


def test_the_config_switch_defaults_on() -> None:
    """``GuildConfig.affinity`` is on unless turned off."""
    assert GuildConfig().affinity is True and OFF.affinity is False


def test_someone_engaged_in_the_last_day_is_less_likely_until_the_day_is_over() -> None:
    """Engaged and answered: the chance is cut by the recent-engage factor (the third
    greeting of the day lands worse than the first) until a day after that engage; a roll
    that fails at the cut chance but not at the full one is looked at again at that moment,
    and then fires."""
    state = new_state(GID, T0 - HOUR, mood="bubbly")
    _engage(state, T0)
    observe_message(state, T0 + 60, author_id=USER, to_her=True)
    p = look(state.affinity, USER, T0 + HOUR)
    assert factor(p, T0 + HOUR) == 2.0 * RECENT_FACTOR
    assert factor(p, T0 + RECENT_S) == 2.0
    ends = T0 + RECENT_S
    _offer(state, ends - 600, game="Tetris")
    chance = params_for(profile_for("bubbly")).p_engage
    opp = state.opportunities[-1]
    seed = next(s for s in range(10_000)
                if chance * 2.0 * RECENT_FACTOR <= engage_roll(s, GID, opp) < chance * 2.0)
    d = decide(state, CFG, ends - 600, seed)
    assert d.action is None and d.next_at == ends
    assert decide(state, CFG, ends, seed).target_user_id == USER


def test_each_further_ignore_doubles_the_block() -> None:
    """A third ignored engage in a row blocks for two days after it, a fourth for four."""
    state = new_state(GID, T0 - HOUR, mood="bubbly")
    _engage(state, T0)
    _engage(state, T0 + 2 * HOUR, game="Game B")
    third = T0 + 2 * HOUR + BLOCK_S
    _engage(state, third, game="Game C")
    p = look(state.affinity, USER, third + HOUR)
    assert p is not None and p.ignored_row == 3
    assert blocked_until(p, third + HOUR) == third + 2 * BLOCK_S
    fourth = third + 2 * BLOCK_S
    _engage(state, fourth, game="Game D")
    p = look(state.affinity, USER, fourth + HOUR)
    assert blocked_until(p, fourth + HOUR) == fourth + 4 * BLOCK_S


def test_forgetting_a_member_drops_their_affinity_and_opportunities() -> None:
    """``forget_member`` (an opt-out): their record and open opportunity go, others stay."""
    from engine import forget_member

    state = new_state(GID, T0, mood="bubbly")
    _engage(state, T0)
    _engage(state, T0 + 1, user=7)
    _offer(state, T0 + 2)
    forget_member(state, USER)
    assert set(state.affinity) == {7}
    assert all(o.user_id != USER for o in state.opportunities)


def test_the_seed_api_opens_affinity_on_engage_only_when_on() -> None:
    """Through the seed's API ``record_action("engage_user")`` opens the engaged person's
    record (nothing with ``affinity=False``); ``track_message(author_id=...)`` cannot say
    the message speaks to her, so it answers nothing."""
    from engine import AutonomousEngine
    from tests.kit.enginekit import FakeClock

    for on in (True, False):
        clock = FakeClock(T0)
        eng = AutonomousEngine(clock=clock, seed=3, startup_grace_s=0,
                               config=msgspec.structs.replace(CFG, affinity=on))
        eng.update_mood(GID, "bubbly")
        eng.track_presence(GID, user_id=USER, status="online", activity="Project DIVA")
        assert eng.should_take_action(GID) == "engage_user"
        eng.record_action(GID, "engage_user")
        clock.advance(60)
        eng.track_message(GID, author_id=USER)
        people = eng.state(GID).affinity
        assert (set(people) == {USER} and people[USER].waiting and people[USER].warmth == 0) \
            if on else people == {}
