"""Issue 11's manners: no monologues, quiet hours as a gate on every action, the chattiness
dial and the daily cap; and old snapshots still restore."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    MOODS,
    SHARE_TWEET,
    AutonomousEngine,
    GuildConfig,
    GuildState,
    decide,
    new_state,
    observe_message,
    observe_presence,
    record_action,
    restore_state,
    seed_online,
)
from engine.params import params_for
from engine.presence import engaged_key
from engine.rules import ENGAGE_USER, JOIN_CONVERSATION, UNPROMPTED
from engine.state import NEVER, SCHEMA_VERSION
from tests.kit.enginekit import (
    GID,
    T0,
    Event,
    FakeClock,
    apply_event,
    events,
    lively_state,
)

DATA = Path(__file__).parent / "data"
QUIET_3AM = datetime(2026, 11, 24, 3, 0, tzinfo=UTC).timestamp()


# --- quiet hours ------------------------------------------------------------------------------

@pytest.mark.parametrize("mood", ["bubbly", "excited", "silly"])
def test_quiet_hours_hold_every_action_even_with_a_pinned_mood(mood: str) -> None:
    """With moods pinned (``rotate_moods = false``) a lively chat and a related game at
    03:00, inside quiet hours 1-7, get no action (without quiet hours they would); the gate
    names quiet hours, and their end is when to look next."""
    def room(cfg: GuildConfig) -> GuildState:
        state = new_state(GID, QUIET_3AM - 3 * 3600, mood=mood)
        record_action(state, QUIET_3AM - 2700, JOIN_CONVERSATION)
        for i in range(60):
            observe_message(state, QUIET_3AM - 600 + i * 10)
        observe_presence(state, QUIET_3AM, 7, "online", "Project DIVA Mega Mix", False, cfg)
        return state
    free = GuildConfig(rotate_moods=False, quiet_hours=None)
    assert any(decide(room(free), free, QUIET_3AM, s).action for s in range(5))
    cfg = GuildConfig(rotate_moods=False, quiet_hours=(1, 7))
    for s in range(5):
        d = decide(room(cfg), cfg, QUIET_3AM, s, explain=True)
        assert (d.action, d.blocked_by) == (None, "quiet_hours")
        assert d.next_at == datetime(2026, 11, 24, 7, 0, tzinfo=UTC).timestamp()


def test_the_seed_api_never_acts_in_quiet_hours() -> None:
    """The seed API pins moods by default: a bubbly guild in a lively chat at 03:00 UTC
    still waits for the quiet hours to end."""
    clock = FakeClock(QUIET_3AM - 600)
    eng = AutonomousEngine(clock=clock, seed=1, startup_grace_s=0)
    eng.update_mood(GID, "bubbly")
    eng.track_presence(GID, 5, "online", "Project DIVA Mega Mix")
    for _ in range(300):
        clock.advance(2)
        eng.track_message(GID)
        assert eng.should_take_action(GID) is None


# --- no monologues -----------------------------------------------------------------------------

def _silent_day(mood: str, cfg: GuildConfig, seed: int) -> list[float]:
    state = new_state(GID, T0 - 7200, mood=mood)
    seed_online(state, [1, 2])
    posts = []
    t = T0
    while t < T0 + 86400:
        d = decide(state, cfg, t, seed)
        if d.action is not None:
            record_action(state, t, d.action)
            posts.append(t)
        t += 60
    return posts


@pytest.mark.parametrize("mood", ["curious", "excited"])
def test_a_silent_room_gets_no_hourly_stream_of_shares(mood: str) -> None:
    """A sharing mood in a silent room (someone online, nobody speaking) posts at most once
    per silence threshold, not every hour."""
    cfg = GuildConfig(rotate_moods=False, quiet_hours=None)
    posts = _silent_day(mood, cfg, 3)
    threshold = params_for(MOODS[mood]).silence_s
    assert posts, "she says something in a day of silence"
    assert all(b - a >= threshold for a, b in itertools.pairwise(posts))
    assert len(posts) <= 86400 / threshold + 1


def _drive(history: list[Event], cfg: GuildConfig, mood: str, seed: int
           ) -> tuple[list[tuple[float, str, str]], list[float]]:
    """Play the actor over ``history``: decide after every event and every minute between,
    record every action as sent. The actions (time, name, mood) and human message times."""
    state = new_state(GID, T0 - 3600, mood=mood)
    seed_online(state, [1])
    acted: list[tuple[float, str, str]] = []
    humans: list[float] = []
    t = T0

    def ask(at: float) -> None:
        d = decide(state, cfg, at, seed)
        if d.action is not None:
            record_action(state, at, d.action, d.target_user_id, d.target_activity)
            acted.append((at, d.action, state.mood))

    for kind, gap, arg in history:
        for probe in range(60, gap, 60):
            ask(t + probe)
        t += gap
        if kind in ("acted", "engaged", "pending", "failed", "no_item"):
            continue  # the driver records her actions itself
        if kind == "mood":
            arg = arg % 2
            state.mood = ("curious", "excited")[arg]
            continue
        apply_event(state, cfg, t, kind, arg)
        if kind in ("human", "human_id", "said", "person", "burst") and (kind != "burst" or arg):
            humans.append(t)
        ask(t)
    for probe in range(60, 6 * 3600, 60):
        ask(t + probe)
    return acted, humans


@settings(max_examples=60, deadline=None)
@given(history=events(max_size=40, max_gap=7200), seed=st.integers(0, 2**32),
       c=st.sampled_from([0.5, 1.0, 1.5, 2.0]))
def test_no_monologues(history: list[Event], seed: int, c: float) -> None:
    """Between two unprompted posts (break_silence, share_tweet) a human spoke, or the
    mood's whole silence threshold (at that chattiness) passed."""
    cfg = GuildConfig(rotate_moods=False, quiet_hours=None, chattiness=c)
    acted, humans = _drive(history, cfg, "curious", seed)
    posts = [(t, m) for t, a, m in acted if a in UNPROMPTED]
    for (t1, _), (t2, mood2) in itertools.pairwise(posts):
        spoke = any(t1 < h <= t2 for h in humans)
        assert spoke or t2 - t1 >= params_for(MOODS[mood2], c).silence_s, (t1 - T0, t2 - T0)


# --- chattiness --------------------------------------------------------------------------------

def test_chattiness_zero_takes_no_autonomous_action() -> None:
    """At chattiness 0 nothing is ever decided: the gate says so."""
    cfg = GuildConfig(rotate_moods=False, quiet_hours=None, chattiness=0.0)
    state = lively_state("bubbly")
    observe_presence(state, T0, 7, "online", "Project DIVA Mega Mix", False, cfg)
    for t in range(0, 86400, 300):
        d = decide(state, cfg, T0 + t, 1, explain=t == 0)
        assert d.action is None
        assert d.blocked_by == "chattiness_zero"


def _first_action(history: list[Event], cfg: GuildConfig, mood: str, seed: int) -> float:
    state = new_state(GID, T0 - 3600, mood=mood)
    seed_online(state, [1])
    t = T0
    for kind, gap, arg in history:
        for probe in range(30, gap, 30):
            if decide(state, cfg, t + probe, seed).action is not None:
                return t + probe
        t += gap
        apply_event(state, cfg, t, kind, arg)
        if decide(state, cfg, t, seed).action is not None:
            return t
    for probe in range(30, 8 * 3600, 30):
        if decide(state, cfg, t + probe, seed).action is not None:
            return t + probe
    return math.inf


@settings(max_examples=150, deadline=None)
@given(history=events(max_size=40), seed=st.integers(0, 2**32),
       low=st.floats(0.05, 2.0), more=st.floats(0.0, 2.0),
       mood=st.sampled_from(sorted(m for m in MOODS if m != "asleep")))
def test_a_chattier_guild_never_acts_later(history: list[Event], seed: int, low: float,
                                           more: float, mood: str) -> None:
    """Given the same events, a higher chattiness never takes its first action later."""
    high = min(2.0, low + more)
    a = _first_action(history, GuildConfig(rotate_moods=False, quiet_hours=None,
                                           chattiness=high), mood, seed)
    b = _first_action(history, GuildConfig(rotate_moods=False, quiet_hours=None,
                                           chattiness=low), mood, seed)
    assert a <= b, (a - T0, b - T0)


def test_chattiness_scales_every_chance_and_wait() -> None:
    """Each of a mood's chances grows and each wait and count shrinks with chattiness."""
    for p in MOODS.values():
        lo, mid, hi = (params_for(p, c) for c in (0.5, 1.0, 2.0))
        for name in ("p_join", "p_silence", "p_engage", "p_engage_related", "p_engage_join",
                     "p_share", "silence_max_msgs", "share_max_msgs"):
            assert getattr(lo, name) <= getattr(mid, name) <= getattr(hi, name), name
        for name in ("join_momentum", "join_messages", "fomo_messages", "fomo_momentum",
                     "silence_s", "join_cooldown_s", "engage_cooldown_s", "fomo_cooldown_s",
                     "share_cooldown_s"):
            assert getattr(lo, name) >= getattr(mid, name) >= getattr(hi, name), name
        assert lo.silence_s > mid.silence_s > hi.silence_s


@pytest.mark.parametrize(("changes", "why"), [
    ({"chattiness": 2.5}, "chattiness must be a number from 0 to 2"),
    ({"chattiness": -0.1}, "chattiness must be a number from 0 to 2"),
    ({"chattiness": math.nan}, "chattiness"),
    ({"max_actions_per_day": -1}, "max_actions_per_day must be a whole number from 0 to 1000"),
    ({"max_actions_per_day": 5000}, "max_actions_per_day"),
])
def test_bad_chattiness_or_cap_is_an_error_naming_the_range(changes: dict[str, object],
                                                           why: str) -> None:
    """A chattiness outside [0, 2] or a cap outside 0..1000 is refused, saying the range."""
    with pytest.raises(ValueError, match=why):
        GuildConfig(**changes)  # type: ignore[arg-type]


# --- the daily cap -----------------------------------------------------------------------------

def test_at_most_n_actions_in_any_24_hours() -> None:
    """With ``max_actions_per_day = 3`` a chat going on for two days gets at most 3 actions
    in any 24 hours, and a blocked decision says when the cap opens."""
    cfg = GuildConfig(rotate_moods=False, quiet_hours=None, max_actions_per_day=3)
    state = new_state(GID, T0 - 3600, mood="bubbly")
    seed_online(state, [1])
    acts: list[float] = []
    t = T0
    while t < T0 + 2 * 86400:
        observe_message(state, t)
        d = decide(state, cfg, t, 2)
        if d.action is not None:
            record_action(state, t, d.action)
            acts.append(t)
        elif d.blocked_by == "daily_cap":
            assert d.next_at == acts[-3] + 86400
        t += 20
    assert len(acts) >= 4
    assert all(b - a >= 86400 for a, b in zip(acts, acts[3:], strict=False))
    assert len(state.day_actions) <= 3 + 1


# --- old snapshots ----------------------------------------------------------------------------

def test_a_version_1_snapshot_restores() -> None:
    """Bytes written by the version 1 engine (main before issue 11) restore: 0.0 "never"
    becomes NEVER, engaged keys and open opportunities carry over, pending is cleared."""
    data = (DATA / "snapshot_v1.msgpack").read_bytes()
    state, cleared = restore_state(data, 1795003300.0)
    assert isinstance(state, GuildState) and state.version == SCHEMA_VERSION
    assert cleared == JOIN_CONVERSATION
    assert state.last_action_at == 1795001400.0 - 0.0 or state.last_action_at > 0
    assert state.last_join_at == 1795002900.0
    assert state.unprompted_at == NEVER
    assert engaged_key(11, "Minecraft") in state.engaged
    assert [(o.user_id, o.activity) for o in state.opportunities] == [
        (12, "Project DIVA Mega Mix"), (99, None)]
    assert state.share_backoff_until > 0 and state.online == {11, 12, 13}
    d = decide(state, GuildConfig(rotate_moods=False), 1795003400.0, 1)
    assert d.action in (None, ENGAGE_USER, SHARE_TWEET, JOIN_CONVERSATION)
