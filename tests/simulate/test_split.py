"""A virtual-time run split over processes (``--processes``) reports what one process does:
guilds are isolated, so only the snapshot batches (each process writes its own) differ."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from runtime.simulate.channel import SentRecord
from runtime.simulate.setup import RunResult, RunSetup
from runtime.simulate.shards import run_split, split_traffic
from runtime.simulate.traffic import Traffic, generate_traffic
from tests.kit.simulate import options, run, without_timing

_PER_PROCESS = {"snapshot_batches"}


def _comparable(report: dict[str, Any]) -> str:
    """The report as JSON without what depends on the process count."""
    out = copy.deepcopy(without_timing(report))
    out["params"] = {k: v for k, v in out["params"].items()
                     if k not in ("processes", "transcript")}
    for runtime in (out["runtime"], out["v2"]["runtime"]):
        for key in _PER_PROCESS:
            runtime.pop(key, None)
    for variants in (out.get("chattiness"), out.get("learning")):
        for v in (variants or {}).values():
            for key in _PER_PROCESS:
                (v.get("runtime") or {}).pop(key, None)
    return json.dumps(out, sort_keys=True)


def test_one_two_or_three_processes_give_the_same_report_and_transcript(
        tmp_path: Path) -> None:
    """The same sends, counters, examples, comparisons and words whatever the split."""
    argv = ("--guilds", "7", "--hours", "12", "--seed", "4", "--compare-learning")
    reports, transcripts = {}, {}
    for n in (1, 2, 3):
        path = tmp_path / f"words-{n}.jsonl"
        reports[n] = run(*argv, "--processes", str(n), "--transcript", str(path))
        transcripts[n] = path.read_text(encoding="utf-8")
        assert reports[n]["params"]["processes"] == n
    assert reports[1]["v2"]["actions"] > 0 and transcripts[1].count("\n") > 10
    assert _comparable(reports[2]) == _comparable(reports[1])
    assert _comparable(reports[3]) == _comparable(reports[1])
    assert transcripts[2] == transcripts[1] == transcripts[3]
    # Each process writes its own batches, on the same schedule (a minute in which none of
    # its guilds changed writes none).
    one = reports[1]["runtime"]["snapshot_batches"]
    assert one < reports[2]["runtime"]["snapshot_batches"] <= 2 * one


def test_the_default_is_two_processes_and_one_where_a_run_must_be_one(tmp_path: Path) -> None:
    """Two by default; one with a store, a control socket, a log or the wall clock, and
    asking for more then is refused with the reason."""
    assert options("--guilds", "4").processes == 2
    store = str(tmp_path / "s.sqlite3")
    assert options("--store", store).processes == 1
    assert options("--realtime", "--hours", "0.01").processes == 1
    assert options("--log-file", str(tmp_path / "log.jsonl")).processes == 1
    for argv, flag in ((("--store", store), "--store"),
                       (("--control-socket", str(tmp_path / "c.sock")), "--control-socket"),
                       (("--log-dir", str(tmp_path)), "--log-dir")):
        with pytest.raises(ValueError, match=f"--processes 2 and {flag}: one process only"):
            options(*argv, "--processes", "2").check()
    with pytest.raises(ValueError, match=r"--processes must be 1\.\.64, got 0"):
        options("--processes", "0").check()
    options("--store", store, "--processes", "1").check()


def test_guilds_are_shared_out_by_index_and_never_more_shares_than_guilds() -> None:
    """Guild i goes to share i mod N; with fewer guilds than processes, one share each."""
    traffic = generate_traffic(seed=2, guilds=5, hours=1)
    shares = split_traffic(traffic, 2)
    assert [[g.plan.index for g in s.guilds] for s in shares] == [[0, 2, 4], [1, 3]]
    assert sum(s.event_count for s in shares) == traffic.event_count
    assert len(split_traffic(traffic, 8)) == 5


def test_a_share_that_fails_fails_the_run_with_its_error() -> None:
    """An exception in one process reaches the caller as itself."""
    traffic = generate_traffic(seed=2, guilds=4, hours=1)

    def runner(share: Traffic, policy: str, setup: RunSetup) -> RunResult:
        if share.guilds[0].plan.index == 1:
            raise RuntimeError(f"share of guild {share.guilds[0].plan.guild_id} broke")
        return RunResult(policy, "virtual", [], {"traffic_events": share.event_count}, 0.0)

    with pytest.raises(RuntimeError, match=r"share of guild .* broke"):
        run_split(traffic, "v2", RunSetup(), 2, runner)


def test_a_share_whose_process_dies_fails_the_run_and_says_so() -> None:
    """A process killed mid-run (out of memory) ends the run with that said, not a hang."""
    traffic = generate_traffic(seed=2, guilds=4, hours=1)

    def runner(share: Traffic, policy: str, setup: RunSetup) -> RunResult:
        if share.guilds[0].plan.index == 1:
            os._exit(9)
        return RunResult(policy, "virtual", [], {"traffic_events": share.event_count}, 0.0)

    with pytest.raises(RuntimeError, match="one of the 2 processes of the run ended abruptly"):
        run_split(traffic, "v2", RunSetup(), 2, runner)


def test_shares_merge_sends_in_order_and_add_their_counters() -> None:
    """Sends come back in time order across the shares; counters are summed."""
    traffic = generate_traffic(seed=2, guilds=6, hours=2)

    def runner(share: Traffic, policy: str, setup: RunSetup) -> RunResult:
        sent = [SentRecord(g.plan.guild_id, "break_silence", share.start + 60.0 * g.plan.index,
                           "neutral", 5, 5, None, None, False) for g in share.guilds]
        return RunResult(policy, "virtual", sent, {"traffic_events": share.event_count}, 0.0)

    merged = run_split(traffic, "v2", RunSetup(), 3, runner)
    assert [r.at for r in merged.sent] == sorted(r.at for r in merged.sent)
    assert len(merged.sent) == 6
    assert merged.runtime["traffic_events"] == traffic.event_count
