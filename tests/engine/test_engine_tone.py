"""How the room feels (issue 22 part 3; ``engine.tone``): reactions, deletions and timeouts
make a negative room, where she posts nothing playful and joins only in moods that fit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    decide,
    decode_state,
    encode_state,
    new_state,
    note_timeout,
    observe_deletions,
    observe_message,
    observe_presence,
    observe_reaction,
    record_action,
    tone_label,
)
from engine.tone import HALF_LIFE_S, JOINS_IN_NEGATIVE_ROOM, MAX_REACTIONS, clears_at, net
from tests.kit.enginekit import (
    GID,
    NO_QUIET,
    T0,
    copy_state,
    events,
    lively_state,
    replay,
    snowflake,
)

UNPROMPTED = ("break_silence", "share_tweet")


def _sad(state, t: float, n: int = 6) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        observe_reaction(state, t, i, -0.35)  # about a crying face (runtime's table)


def _quiet_room(mood: str):  # type: ignore[no-untyped-def]
    """A room silent for 3 hours, someone online: a silence-breaker or share is due."""
    state = new_state(GID, T0 - 6 * 3600, mood=mood)
    record_action(state, T0 - 3 * 3600, "join_conversation")
    observe_message(state, T0 - 3 * 3600 + 1)
    observe_presence(state, T0 - 3600, 7, "online", None, False, NO_QUIET)
    return state


def _acts(state, actions: tuple[str, ...], start: float, minutes: int) -> bool:  # type: ignore[no-untyped-def]
    return any(decide(state, NO_QUIET, start + m * 60, s).action in actions
               for m in range(minutes) for s in range(4))


def test_a_sad_room_gets_no_silence_breaker_and_no_share() -> None:
    """Excited (breaks silences and shares): a quiet room gets an unprompted post; the same
    room after six sad reactions gets none until the tone has cleared."""
    assert _acts(_quiet_room("excited"), UNPROMPTED, T0, 30)
    state = _quiet_room("excited")
    _sad(state, T0 - 60)
    assert tone_label(state, T0) == "sad"
    assert not _acts(state, UNPROMPTED, T0, 30)
    d = decide(state, NO_QUIET, T0, 0, explain=True)
    tone = [c for r in d.checks if r.action in UNPROMPTED for c in r.conditions
            if c.name == "tone"]
    assert tone and not any(c.ok for c in tone)
    # It clears by itself: the decision says when, and she may speak after.
    clear = clears_at(state)
    assert T0 < clear < T0 + 3 * HALF_LIFE_S
    assert decide(state, NO_QUIET, T0, 0).next_at <= clear
    assert _acts(state, UNPROMPTED, clear + 1, 60)


def test_in_a_negative_room_only_the_fitting_moods_join() -> None:
    """A lively chat, a tense room (a timeout): bubbly does not join (nor FOMO); serious and
    melancholy join when they would have (given their message counts), and never FOMO."""
    joins = ("join_conversation", "fomo_response")
    bubbly = lively_state("bubbly")
    assert _acts(bubbly, joins, T0, 10)
    bubbly = lively_state("bubbly")
    note_timeout(bubbly, T0 - 30)
    assert tone_label(bubbly, T0) == "tense"
    assert not _acts(bubbly, joins, T0, 10)
    d = decide(bubbly, NO_QUIET, T0, 0, explain=True)
    assert [c.ok for r in d.checks if r.action == "join_conversation" for c in r.conditions
            if c.name == "tone"] == [False]
    for mood in JOINS_IN_NEGATIVE_ROOM:
        a = lively_state(mood, since_appearance=35, per_minute=5)  # under their FOMO counts
        b = lively_state(mood, since_appearance=35, per_minute=5)
        note_timeout(b, T0 - 30)
        da = [decide(a, NO_QUIET, T0 + m * 60, s).action for m in range(10) for s in range(3)]
        db = [decide(b, NO_QUIET, T0 + m * 60, s).action for m in range(10) for s in range(3)]
        assert "join_conversation" in da
        b2 = lively_state(mood, since_appearance=60, per_minute=5)  # past FOMO's count
        note_timeout(b2, T0 - 30)
        assert all(decide(b2, NO_QUIET, T0 + m * 60, s).action != "fomo_response"
                   for m in range(10) for s in range(3))
        assert [x == "join_conversation" for x in da] == [x == "join_conversation" for x in db]


def test_labels_removal_and_decay() -> None:
    """Cheerful reactions make a cheerful room; removing a reaction takes back what it still
    weighs (an unknown removal nothing); deletions and a timeout are tense; all decays."""
    state = new_state(GID, T0)
    assert tone_label(state, T0) is None and net(state, T0) == 0.0
    for i in range(4):
        observe_reaction(state, T0, i, 0.6)
    assert tone_label(state, T0) == "cheerful"
    observe_reaction(state, T0 + HALF_LIFE_S, 0, 0.6, added=False)
    assert abs(net(state, T0 + HALF_LIFE_S) - 0.9) < 1e-9
    observe_reaction(state, T0 + HALF_LIFE_S, 0, 0.6, added=False)  # twice: nothing more
    observe_reaction(state, T0 + HALF_LIFE_S, 99, -1.0, added=False)  # never added
    assert abs(net(state, T0 + HALF_LIFE_S) - 0.9) < 1e-9
    room = new_state(GID, T0)
    ids = [snowflake(T0 + i, i) for i in range(8)]
    for i, mid in enumerate(ids):
        observe_message(room, T0 + i, message_id=mid)
    observe_deletions(room, T0 + 10, ids)
    assert tone_label(room, T0 + 10) == "tense"
    assert tone_label(room, T0 + 10 + 4 * HALF_LIFE_S) is None


def test_tone_is_bounded_snapshotted_and_its_take_back_memory_is_not() -> None:
    """The score stays within -10..10 however many reactions; at most 256 remembered to take
    back; the snapshot keeps the tone (not the memory) and decodes the same room."""
    state = new_state(GID, T0)
    for i in range(1000):
        observe_reaction(state, T0, i, -1.0)
        note_timeout(state, T0)
    assert state.tone is not None
    assert (state.tone.score, state.tone.trouble) == (-10.0, 10.0)
    assert len(state.reacted) == MAX_REACTIONS
    back = decode_state(encode_state(state))
    assert back.tone == state.tone and back.reacted == {}
    assert tone_label(back, T0 + 60) == tone_label(state, T0 + 60) == "tense"


@settings(max_examples=80, deadline=None)
@given(events(max_size=60), st.integers(0, 2**16), st.sampled_from(["timeout", "sad"]),
       st.sampled_from(["bubbly", "excited", "curious", "serious", "shy", "silly"]))
def test_a_more_negative_room_never_makes_a_playful_post_or_a_join_likelier(
        history: list, seed: int, worse: str, mood: str) -> None:
    """Monotone: the same guild with one more negative signal never posts unprompted, joins,
    FOMOs or reacts at a moment the less negative one would not."""
    a, t = replay(history, NO_QUIET, mood=mood)
    b = copy_state(a)
    observe_reaction(a, t, 1_000_001, 0.0)  # the same moment of decay for both, nothing more
    if worse == "timeout":
        note_timeout(b, t)
    else:
        observe_reaction(b, t, 1_000_001, -1.0)
    for m in range(0, 240, 7):
        now = t + m * 60
        da, db = decide(copy_state(a), NO_QUIET, now, seed), decide(copy_state(b), NO_QUIET,
                                                                  now, seed)
        if db.action in ("break_silence", "share_tweet", "join_conversation",
                         "fomo_response", "react"):
            assert da.action == db.action, (now, da, db)



def test_in_a_negative_room_she_reacts_only_in_the_moods_that_join_there() -> None:
    """A lively chat a shy mood does not join yet gets a reaction; after a timeout (a tense
    room) it gets none until the tone clears, and the decision says the tone held it;
    melancholy, a mood that fits such a room, still reacts (its emoji are quiet ones)."""
    from tests.engine.test_engine_react import lively

    def reactions(mood: str, tense: bool) -> list[tuple[int, int]]:
        found = []
        for seed in range(60):
            state, t = lively(mood)
            if tense:
                note_timeout(state, t - 30)
                assert tone_label(state, t) == "tense"
            for minute in range(5):
                if decide(state, NO_QUIET, t + 60 * minute, seed).action == "react":
                    found.append((seed, minute))
        return found

    assert reactions("shy", False)
    assert reactions("shy", True) == []
    assert reactions("melancholy", True) == reactions("melancholy", False) != []
    state, t = lively("shy")
    note_timeout(state, t - 30)
    d = decide(state, NO_QUIET, t, 0, explain=True)
    assert [c.ok for r in d.checks if r.action == "react" for c in r.conditions
            if c.name == "tone"] == [False]
