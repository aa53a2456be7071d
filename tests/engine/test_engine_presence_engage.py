"""Who is there to greet (issue 22 part 2, with affinity on): ``engage_user`` passes over
someone on do not disturb or gone offline, halves the chance for someone idle, gives a
newcomer two minutes to arrive before a welcome; the decision log names every open
opportunity's person with their factor; the words get a familiarity label (ids only)."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    decide,
    familiarity,
    new_state,
    observe_join,
    observe_message,
    observe_presence,
    record_action,
)
from engine.affinity import FAMILIAR, NEW, Person
from engine.engage import ARRIVAL_S, IDLE_FACTOR
from tests.kit.enginekit import GID, NO_QUIET, T0

USER = 4242
CFG = NO_QUIET
OFF = msgspec.structs.replace(NO_QUIET, affinity=False)
GAME = "Project DIVA Mega Mix"  # related: bubbly's chance is 1, the roll always comes out


def _room(t: float, mood: str = "bubbly"):
    state = new_state(GID, t - 3600, mood=mood)
    observe_message(state, t - 5, author_id=1)  # not silent: no silence-breaker
    return state


def _engage_conditions(state, t: float) -> dict[str, object]:
    d = decide(state, CFG, t, 1, explain=True)
    engage = next(c for c in d.checks if c.action == "engage_user")
    return {c.name: c for c in engage.conditions}


def test_someone_on_do_not_disturb_is_not_engaged() -> None:
    """A related game started on do not disturb: passed over with affinity on (the decision
    says so), engaged with it off; once they are back online, engaged."""
    state = _room(T0)
    observe_presence(state, T0, USER, "dnd", GAME, False, CFG)
    assert decide(state, CFG, T0, 1).action is None
    cond = _engage_conditions(state, T0)["presence"]
    assert not cond.ok and cond.value == "dnd"
    assert decide(state, OFF, T0, 1).target_user_id == USER
    observe_presence(state, T0 + 60, USER, "online", None, False, CFG)
    assert decide(state, CFG, T0 + 60, 1).target_user_id == USER


def test_someone_gone_offline_is_not_engaged() -> None:
    state = _room(T0)
    observe_presence(state, T0, USER, "online", GAME, False, CFG)
    observe_presence(state, T0 + 30, USER, "offline", None, False, CFG)
    assert decide(state, CFG, T0 + 30, 1).action is None
    assert decide(state, OFF, T0 + 30, 1).target_user_id == USER


def test_someone_idle_gets_a_smaller_chance() -> None:
    """Idle: the roll's threshold is the chance times ``IDLE_FACTOR``, and says so."""
    state = _room(T0, mood="neutral")
    observe_presence(state, T0, USER, "idle", "Tetris", False, CFG)
    roll = _engage_conditions(state, T0)["sociability_roll"]
    observe_presence(state, T0 + 1, USER, "online", None, False, CFG)
    online = _engage_conditions(state, T0 + 1)["sociability_roll"]
    idle_need = float(roll.need.split()[1])
    online_need = float(online.need.split()[1])
    assert abs(idle_need - online_need * IDLE_FACTOR) < 1e-3 and "presence" in roll.need


def test_a_newcomer_is_welcomed_once_they_arrive_or_after_two_minutes() -> None:
    """A join with no presence yet: no welcome, and the decision asks to look again when the
    two minutes end (without the Presence intent that is all it costs); a presence update
    before then lets her welcome them at once."""
    state = _room(T0)
    observe_join(state, T0, USER, False)
    d = decide(state, CFG, T0 + 1, 1)
    assert d.action is None and d.next_at <= T0 + ARRIVAL_S
    assert decide(state, CFG, T0 + ARRIVAL_S, 1).target_user_id == USER
    assert decide(state, OFF, T0 + 1, 1).target_user_id == USER
    arrived = _room(T0)
    observe_join(arrived, T0, USER, False)
    observe_presence(arrived, T0 + 20, USER, "online", None, False, CFG)
    assert decide(arrived, CFG, T0 + 20, 1).target_user_id == USER


def test_the_decision_log_names_each_open_opportunitys_person() -> None:
    """Ids and factors only: blocked, do not disturb, unknown, answered."""
    state = _room(T0)
    state.affinity[7] = Person(at=int(T0), warmth=1000)
    state.affinity[8] = Person(at=int(T0), cold=2000, ignored_row=2, ignored_at=int(T0) - 60)
    observe_presence(state, T0 + 1, 7, "online", "Tetris", False, CFG)
    observe_presence(state, T0 + 2, 8, "online", "Minecraft", False, CFG)
    observe_presence(state, T0 + 3, 9, "dnd", "Osu", False, CFG)
    observe_presence(state, T0 + 4, 10, "online", "Chess", False, CFG)
    people = str(_engage_conditions(state, T0 + 5)["people"].value)
    assert "user 7: x2.000 (1.0 answered, 0.0 ignored)" in people
    assert "user 8: blocked until" in people
    assert "user 9: passed over (dnd)" in people
    assert "user 10: x1.000 (unknown)" in people
    assert "people" not in _engage_conditions(_room(T0), T0)


def test_familiarity_labels() -> None:
    """Unknown: new; answered her (and ignored her less): familiar; engaged and ignored, or
    not answered yet: no label."""
    state = _room(T0)
    assert familiarity(state.affinity, USER, T0) == NEW
    state.affinity[USER] = Person(at=int(T0), warmth=1000, cold=500)
    assert familiarity(state.affinity, USER, T0) == FAMILIAR
    state.affinity[USER] = Person(at=int(T0), warmth=1000, cold=1000)
    assert familiarity(state.affinity, USER, T0) is None
    record_action(state, T0, "engage_user", 5, "Tetris")
    assert familiarity(state.affinity, 5, T0 + 60) is None


@settings(max_examples=200, deadline=None)
@given(status=st.sampled_from(["online", "idle", "dnd", "offline"]),
       w=st.integers(0, 5000), dw=st.integers(1, 5000), c=st.integers(0, 5000),
       seed=st.integers(0, 2**16), minute=st.integers(0, 600),
       mood=st.sampled_from(["bubbly", "neutral", "shy", "curious"]))
def test_more_warmth_never_lowers_the_chance_whatever_the_presence(
        status: str, w: int, dw: int, c: int, seed: int, minute: int, mood: str) -> None:
    """Monotone in affinity with presence in play too."""
    now = T0 + minute * 60

    def decided(warmth: int) -> int | None:
        state = _room(now, mood)
        observe_presence(state, now - 30, USER, "online", "Tetris", False, CFG)
        observe_presence(state, now - 10, USER, status, None, False, CFG)
        state.affinity[USER] = Person(at=int(now) - 3600, warmth=warmth, cold=c)
        return decide(state, CFG, now, seed).target_user_id

    if decided(w) == USER:
        assert decided(w + dw) == USER


def test_an_opportunitys_status_survives_a_snapshot_and_a_bad_one_is_refused() -> None:
    import pytest

    from engine import SnapshotError, decode_state, encode_state

    state = _room(T0)
    observe_presence(state, T0, USER, "dnd", GAME, False, CFG)
    assert decode_state(encode_state(state)).opportunities[0].status == "dnd"
    state.opportunities[0].status = "busy"
    with pytest.raises(SnapshotError, match="presence status"):
        decode_state(encode_state(state))
