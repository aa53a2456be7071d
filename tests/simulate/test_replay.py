"""The V1 replay through the engine alone sends exactly what the runtime's own V1 run sends
on the same traffic: the same actions, at the same moments, in the same moods, to the same
people, and the same replies."""

from __future__ import annotations

import pytest

from runtime.simulate.replay import replay_v1
from runtime.simulate.run import run_virtual
from runtime.simulate.setup import RunSetup
from runtime.simulate.traffic import generate_traffic


def _key(r: object) -> tuple[object, ...]:
    return (r.guild_id, r.action, r.at, r.mood, r.priority,  # type: ignore[attr-defined]
            r.target_user_id)  # type: ignore[attr-defined]


@pytest.mark.parametrize("moods", [(), ("shy", "curious")])
def test_the_replay_sends_what_the_runtime_sends_under_v1(moods: tuple[str, ...]) -> None:
    """Six guilds for a day and a half (rotating moods, or pinned ones): the replay's sends
    equal the runtime's, one for one."""
    traffic = generate_traffic(seed=9, guilds=6, hours=36)
    setup = RunSetup(seed=9, pinned_moods=moods)
    runtime = run_virtual(traffic, "v1", setup)
    replay = replay_v1(traffic, setup)
    assert replay.policy == "v1" and replay.clock == "replay"
    assert len(runtime.sent) > 20
    assert [_key(r) for r in replay.sent] == [_key(r) for r in runtime.sent]
    assert replay.runtime["pool_sent"] == runtime.runtime["pool_sent"]


def test_a_guild_that_runs_out_of_items_fails_its_shares() -> None:
    """Past the three dozen items a guild can share, a V1 share fails (nothing is sent)
    and is counted."""
    traffic = generate_traffic(seed=3, guilds=1, hours=24 * 14)
    result = replay_v1(traffic, RunSetup(seed=3))
    shares = [r for r in result.sent if r.action == "share_tweet"]
    assert len(shares) == 36
    assert result.runtime["pool_failed"] > 0
    assert result.runtime["decisions"] == len([r for r in result.sent if r.priority]) \
        + result.runtime["pool_failed"]
