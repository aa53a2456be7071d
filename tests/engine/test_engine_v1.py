"""The V1 policy: a 10% roll every 15 minutes, at most once per slot, unaware of the channel;
and the policy objects the runtime chooses between."""

from __future__ import annotations

import collections

import pytest

from engine import (
    POLICY_NAMES,
    GuildConfig,
    V1Policy,
    V2Policy,
    decide,
    decide_v1,
    mark_pending,
    new_state,
    policy_for,
    record_action,
    seed_online,
)
from engine.policy import POLICIES
from engine.rules import ENGAGE_USER
from engine.v1 import V1_ACTIONS
from tests.kit.enginekit import CFG, GID, T0, lively_state

SLOT = 900.0


def test_v1_fires_about_ten_percent_of_slots_and_at_most_once_per_slot() -> None:
    """Over 20,000 slots, asked every minute, V1 acts in about 10% of the slots, never twice
    in one, and picks general / engage / share about evenly."""
    state = new_state(GID, T0, mood="asleep")  # V1 ignores the mood, and the chat
    start = (T0 // SLOT) * SLOT
    per_slot: collections.Counter[int] = collections.Counter()
    picks: collections.Counter[str] = collections.Counter()
    for minute in range(20_000 * 15):
        t = start + 60 * minute
        d = decide_v1(state, CFG, t, 99)
        assert d.policy == "v1"
        if d.action is not None:
            per_slot[int(t // SLOT)] += 1
            picks[d.action] += 1
            record_action(state, t, d.action)
    assert max(per_slot.values()) == 1
    rate = len(per_slot) / 20_000
    assert 0.09 < rate < 0.11
    assert set(picks) == set(V1_ACTIONS)
    assert all(abs(n / len(per_slot) - 1 / 3) < 0.04 for n in picks.values())


def test_v1_slot_tick_is_used_by_the_first_ask_and_next_at_is_the_next_slot() -> None:
    """The first ask in a slot is its tick; later asks in the slot decide nothing and say
    the next slot is when to look."""
    state = new_state(GID, T0)
    t = (T0 // SLOT) * SLOT + 10
    decide_v1(state, CFG, t, 1)
    again = decide_v1(state, CFG, t + 100, 1)
    assert (again.action, again.blocked_by, again.next_at) == (None, "tick_used", t - 10 + SLOT)


def test_v1_is_unaware_of_the_channel_but_keeps_the_runtime_gates() -> None:
    """V1 ignores chat, presence and moods, but not a disabled guild, a guild without an
    autonomous channel, a pending action or the minimum gap."""
    seed = next(s for s in range(1000)
                if decide_v1(new_state(GID, T0), CFG, T0, s).action is not None)
    busy = lively_state("asleep", per_minute=30)
    assert decide_v1(busy, CFG, T0, seed).action is not None
    for cfg, gate in ((GuildConfig(enabled=False), "disabled"),
                      (GuildConfig(has_channel=False), "no_autonomous_channel")):
        assert decide_v1(new_state(GID, T0), cfg, T0, seed).blocked_by == gate
    pending = new_state(GID, T0)
    mark_pending(pending, "general", 1, T0 + 60)
    d = decide_v1(pending, CFG, T0, seed)
    assert (d.blocked_by, d.next_at) == ("pending", T0 + 60)
    assert decide_v1(pending, CFG, T0 + 60, seed).action is not None  # the tick waited
    gap = new_state(GID, T0)
    record_action(gap, T0 - 5, "general")
    d = decide_v1(gap, CFG, T0, seed)
    assert (d.blocked_by, d.next_at) == ("min_gap", T0 + 25)
    assert decide_v1(gap, CFG, T0 + 25, seed).action is not None


def test_v1_engage_targets_an_online_human_or_nobody() -> None:
    """V1's ``engage_user`` names a random online human when there is one."""
    targets = set()
    for seed in range(3000):
        state = new_state(GID, T0)
        seed_online(state, [11, 12, 13])
        d = decide_v1(state, CFG, T0, seed)
        if d.action == ENGAGE_USER:
            targets.add(d.target_user_id)
            assert d.target_kind == "presence"
    assert targets == {11, 12, 13}


def test_policies_share_one_interface() -> None:
    """``policy_for`` gives V1 and V2 objects that decide like their functions; an unknown
    name is an error listing the valid ones."""
    assert isinstance(policy_for("v1"), V1Policy)
    assert isinstance(policy_for("v2"), V2Policy)
    assert set(POLICIES) == {"v1", "v2"} and "shadow" in POLICY_NAMES
    a, b = lively_state("bubbly"), lively_state("bubbly")
    assert policy_for("v2").decide(a, CFG, T0, 4) == decide(b, CFG, T0, 4)
    a, b = new_state(GID, T0), new_state(GID, T0)
    assert policy_for("v1").decide(a, CFG, T0, 4) == decide_v1(b, CFG, T0, 4)
    with pytest.raises(ValueError, match="v2, v1"):
        policy_for("v3")
