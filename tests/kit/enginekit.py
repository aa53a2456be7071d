"""Helpers for the engine's tests: a fake clock, canned guild states, random event histories.

Imported by the engine tests as ``tests.kit.enginekit``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import msgspec
from hypothesis import strategies as st

from engine import (
    ACTIONS,
    WAKING_MOODS,
    Decision,
    GuildConfig,
    GuildState,
    MoodProfile,
    decide,
    decode_state,
    encode_state,
    mark_pending,
    new_state,
    note_message,
    note_timeout,
    observe_deletions,
    observe_join,
    observe_message,
    observe_presence,
    observe_reaction,
    record_action,
    record_failure,
    set_mood,
)

#: A Monday, noon UTC: outside the default quiet hours (1-7 local) in UTC.
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()
GID = 81_234_567_890_123_456
#: Moods do not rotate unless a test asks: the scenarios set them by hand.
CFG = GuildConfig(rotate_moods=False)
NO_QUIET = GuildConfig(rotate_moods=False, quiet_hours=None)


class FakeClock:
    """A clock the test moves by hand: ``clock()`` returns epoch seconds."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


def copy_state(state: GuildState) -> GuildState:
    """An independent copy, through the snapshot codec."""
    return decode_state(encode_state(state))


def chat(state: GuildState, start: float, count: int, per_minute: float) -> float:
    """``count`` human messages evenly spaced from ``start``; returns the last one's time."""
    gap = 60.0 / per_minute
    t = start
    for i in range(count):
        t = start + i * gap
        observe_message(state, t)
    return t


def lively_state(mood: str, *, per_minute: float = 3.0, since_appearance: int = 15,
                 since_action_s: float = 900.0, gid: int = GID) -> GuildState:
    """Scenario 1's room at ``T0``: an ongoing chat at ``per_minute``; the persona last acted
    ``since_action_s`` ago and last appeared just before the last ``since_appearance``
    messages (a steady chat for 10 minutes before that, too)."""
    state = new_state(gid, T0 - 3 * 3600, mood=mood)
    record_action(state, T0 - since_action_s, "join_conversation")
    gap = 60.0 / per_minute
    appear_at = T0 - since_appearance * gap
    chat(state, appear_at - 600.0, int(600 / gap), per_minute)  # chat before she appeared
    observe_message(state, appear_at - gap / 2, is_self=True)
    chat(state, appear_at, since_appearance, per_minute)
    return state


def first_action(state: GuildState, cfg: GuildConfig, seed: int, start: float, end: float,
                 step: float = 60.0, *, profile: MoodProfile | None = None,
                 want: str | None = None) -> tuple[float, Decision] | None:
    """Ask every ``step`` seconds from ``start`` to ``end`` with no new event; the first
    decision that acts (or that takes ``want``), with its time."""
    t = start
    while t <= end:
        d = decide(state, cfg, t, seed, profile=profile)
        if d.action is not None and (want is None or d.action == want):
            return t, d
        t += step
    return None


def decisions_equal(a: Decision, b: Decision) -> bool:
    return msgspec.to_builtins(a) == msgspec.to_builtins(b)


# --- random event histories (hypothesis) ---------------------------------------------------

#: An event: (kind, seconds after the previous event, an int argument).
Event = tuple[str, int, int]

KINDS = ("human", "human", "human", "said", "said", "burst", "bot", "self", "online", "offline",
         "activity", "related", "join", "acted", "failed", "no_item", "pending", "mood",
         "person", "engaged", "human_id", "deleted", "react", "unreact", "timeout")


def snowflake(t: float, seq: int = 0) -> int:
    """A Discord id made at ``t`` (epoch seconds), ``seq`` telling apart those of one ms."""
    return ((int(t * 1000) - 1420070400000) << 22) | (seq & 0x3FFFFF)


def events(max_size: int = 60, max_gap: int = 1800,
           min_size: int = 0) -> st.SearchStrategy[list[Event]]:
    """Histories mixing chat, presence, joins, results and mood changes, integer-timed."""
    gap = st.one_of(st.integers(0, 5), st.integers(0, 120), st.integers(0, max_gap))
    return st.lists(st.tuples(st.sampled_from(KINDS), gap, st.integers(0, 50)),
                    min_size=min_size, max_size=max_size)


def apply_event(state: GuildState, cfg: GuildConfig, t: float, kind: str, arg: int) -> None:
    """Apply one history event at ``t`` through the pure core."""
    if kind == "human":
        observe_message(state, t)
    elif kind == "said":  # a human message with its ids, as the actor gives it (react)
        note_message(state, t, int(t) * 64 + arg % 64 + 1, 1 + arg % 9)
        observe_message(state, t)
    elif kind == "burst":
        for _ in range(arg):
            observe_message(state, t)
    elif kind == "bot":
        observe_message(state, t, is_bot=True)
    elif kind == "self":
        observe_message(state, t, is_self=True)
    elif kind in ("online", "offline"):
        observe_presence(state, t, arg, kind, None, False, cfg)
    elif kind in ("activity", "related"):
        name = "Project DIVA Mega Mix" if kind == "related" else f"Game {arg % 7}"
        observe_presence(state, t, arg % 9, "online", name, False, cfg)
    elif kind == "join":
        observe_join(state, t, 1000 + arg, False)
    elif kind == "acted":
        record_action(state, t, ACTIONS[arg % len(ACTIONS)])
    elif kind == "person":  # a message by one of 9 people (affinity), to her from 40 up
        observe_message(state, t, author_id=arg % 9, to_her=arg >= 40)
    elif kind == "engaged":  # she engaged one of them (opens an affinity answer window)
        record_action(state, t, "engage_user", arg % 9, f"Game {arg % 7}")
    elif kind == "human_id":  # a human message with its id: deletable (engine.deletions)
        observe_message(state, t, message_id=snowflake(t, arg))
    elif kind == "deleted":  # a moderator deletes the last few counted (and one unknown id)
        ids = [*list(state.counted)[-(arg % 6):], snowflake(t, 4_000_000)] \
            if arg % 6 else [snowflake(t, arg)]
        observe_deletions(state, t, ids)
    elif kind in ("react", "unreact"):  # a reaction worth (arg - 25) / 25, on one of 9 keys
        observe_reaction(state, t, arg % 9, (arg - 25) / 25, kind == "react")
    elif kind == "timeout":
        note_timeout(state, t)
    elif kind == "failed":
        record_failure(state, t, ACTIONS[arg % len(ACTIONS)], "send rejected")
    elif kind == "no_item":
        record_failure(state, t, "share_tweet", "no item")
    elif kind == "pending":
        mark_pending(state, ACTIONS[arg % len(ACTIONS)], arg, t + 10 * arg)
    elif kind == "mood":
        set_mood(state, WAKING_MOODS[arg % len(WAKING_MOODS)])
    else:  # pragma: no cover - a typo in KINDS
        raise AssertionError(kind)


def replay(history: Iterable[Event], cfg: GuildConfig, *, mood: str = "bubbly",
           start: float = T0, gid: int = GID,
           each: Callable[[GuildState, float], None] | None = None) -> tuple[GuildState, float]:
    """A state built from ``history`` starting at ``start``; ``each(state, t)`` runs after
    every event. Returns the state and the last event's time."""
    state = new_state(gid, start - 3600.0, mood=mood)
    t = start
    for kind, gap, arg in history:
        t += gap
        apply_event(state, cfg, t, kind, arg)
        if each is not None:
            each(state, t)
    return state, t
