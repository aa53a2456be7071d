"""Restarts: a run leaves its store and a sidecar behind, and ``--resume`` continues the
same simulated guilds from it after ``--downtime``, with each GuildReady a few seconds
after the start, staggered."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from runtime.__main__ import main
from runtime.simulate.resume import READY_AFTER_S, staggered_readies
from runtime.simulate.traffic import START_EPOCH, generate_traffic
from tests.kit.simulate import run

#: The core branch's readiness (a restored guild waits for GuildReady, then one gap).


def test_readies_come_a_few_seconds_after_the_start_in_guild_order() -> None:
    """Each GuildReady is 2-8 s after the start, later for later guilds, never on a whole
    second; the events are untouched."""
    traffic = generate_traffic(seed=1, guilds=5, hours=1)
    late = staggered_readies(traffic)
    times = [g.ready.at - traffic.start for g in late.guilds]
    assert times == sorted(times) and READY_AFTER_S <= times[0] and times[-1] <= 8.0
    assert all(t != math.floor(t) for t in times)
    assert [g.events for g in late.guilds] == [g.events for g in traffic.guilds]
    assert [g.ready.online_user_ids for g in late.guilds] == [
        g.ready.online_user_ids for g in traffic.guilds]


def test_a_resumed_run_continues_the_store_after_the_downtime(tmp_path: Path) -> None:
    """The first run writes the sidecar; the resumed one starts downtime seconds after the
    first one's end, restores the guilds from the store, and reports the restart."""
    store = str(tmp_path / "sim.sqlite3")
    first = run("--guilds", "6", "--hours", "3", "--seed", "4", "--store", store, "--no-v1")
    side = json.loads(Path(store + ".sim.json").read_text())
    assert side == {"seed": 4, "guilds": 6, "end": START_EPOCH + 3 * 3600, "version": 1}
    assert "restart" not in first
    second = run("--guilds", "6", "--hours", "1", "--seed", "4", "--store", store,
                 "--resume", "--downtime", "10800", "--no-v1")
    assert second["params"]["start"] == START_EPOCH + 6 * 3600
    r = second["restart"]
    assert r["guilds"] == 6 and r["window_s"] == 120.0 and 0 <= r["guilds_acted"] <= 6
    assert second["runtime"]["traffic_events"] == second["traffic"]["events"]
    assert second["runtime"]["events_refused"] == 0
    side = json.loads(Path(store + ".sim.json").read_text())
    assert side["end"] == START_EPOCH + 7 * 3600


def test_resuming_other_guilds_than_the_store_holds_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A resume with another seed or number of guilds says which the store holds."""
    store = str(tmp_path / "sim.sqlite3")
    run("--guilds", "2", "--hours", "1", "--seed", "4", "--store", store, "--no-v1")
    assert main(["simulate", "--guilds", "3", "--hours", "1", "--seed", "4", "--store", store,
                 "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--guilds 2 --seed 4" in err and err.count("\n") == 1
    Path(store + ".sim.json").unlink()
    assert main(["simulate", "--guilds", "2", "--seed", "4", "--store", store,
                 "--resume"]) == 2
    assert "sim.json is missing" in capsys.readouterr().err


def test_after_a_three_hour_downtime_almost_no_guild_acts_in_the_first_two_minutes(
        tmp_path: Path) -> None:
    """Restored guilds wait for their GuildReady, then one minimum gap, and count silence and
    the last hour from then: after 3 hours down none of 100 guilds posts unprompted (break a
    silence, share) within 2 minutes of the start. What does go out answers something that
    happened after the restart (a game started), at no more than a few per 100 guilds (at 500
    guilds, seed 1: 5 engages, 1.0 %; docs/BENCHMARKS.md)."""
    store = str(tmp_path / "sim.sqlite3")
    run("--guilds", "100", "--hours", "12", "--seed", "5", "--store", store, "--no-v1")
    after = run("--guilds", "100", "--hours", "0.5", "--seed", "5", "--store", store,
                "--resume", "--downtime", "10800", "--no-v1")
    r = after["restart"]
    assert r["first_action_after_s"] is None or r["first_action_after_s"] >= 32.0
    assert r["by_action"].get("break_silence", 0) == 0
    assert r["by_action"].get("share_tweet", 0) == 0
    assert set(r["by_action"]) <= {"engage_user", "reply"}
    assert r["guilds_acted"] <= 5
