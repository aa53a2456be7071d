"""The simulator end to end: reproducible, V2 against V1 on the same traffic, moods, the
command line as a real process, logs per guild, the store it leaves behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from runtime.__main__ import main
from runtime.store import SQLiteStore
from tests.kit.simulate import run, without_timing

REPO = Path(__file__).resolve().parents[2]
REQUIRED = ("actions", "empty_room_actions", "conversations_joined", "quiet_hour_actions")


@pytest.fixture(scope="module")
def day_of_30() -> dict[str, Any]:
    """One simulated day of 30 guilds, V2 and V1 on the same traffic."""
    return run("--guilds", "30", "--hours", "24", "--seed", "3")


def test_the_report_is_the_same_for_the_same_seed() -> None:
    """Two runs with one seed (SQLite store, control socket, snapshots) give the same JSON,
    byte for byte, apart from wall-clock timings; another seed gives another report."""
    argv = ("--guilds", "8", "--hours", "24", "--seed", "5")
    first = json.dumps(without_timing(run(*argv)), sort_keys=True)
    second = json.dumps(without_timing(run(*argv)), sort_keys=True)
    assert first == second
    other = json.dumps(without_timing(run("--guilds", "8", "--hours", "24", "--seed", "6")),
                       sort_keys=True)
    assert other != first


def test_v2_speaks_into_empty_rooms_far_less_often_than_v1(day_of_30: dict[str, Any]) -> None:
    """On the same traffic, V1's timer speaks to nobody at night and in quiet hours; V2
    does not, joins far more lively conversations and greets more new games."""
    v1, v2 = day_of_30["v1"], day_of_30["v2"]
    assert v1["empty_room_actions"] >= 15
    assert v2["empty_room_actions"] <= v1["empty_room_actions"] // 10
    assert v2["quiet_hour_actions"] <= v1["quiet_hour_actions"] // 5
    assert v2["conversations_joined"] > 2 * v1["conversations_joined"]
    assert v2["games_greeted"] > 2 * v1["games_greeted"]
    assert v2["lively_conversations"] == v1["lively_conversations"] > 0
    assert v1["replies"] == v2["replies"] > 0  # both answer whoever speaks to her


def test_the_report_adds_up(day_of_30: dict[str, Any]) -> None:
    """Per-type and per-mood counts sum to the actions; the runtime saw every event, sent
    what it decided, and nothing carried a ping."""
    for policy in ("v1", "v2"):
        p = day_of_30[policy]
        assert sum(x["count"] for x in p["by_action"].values()) == p["actions"]
        assert sum(x["count"] for x in p["by_mood"].values()) == p["actions"]
        assert p["pinged_messages"] == 0
        rt = p["runtime"]
        assert rt["traffic_events"] == day_of_30["traffic"]["events"]
        assert rt["pool_sent"] == p["actions"] + p["replies"]
    rt = day_of_30["v2"]["runtime"]
    assert rt["restarts"] == rt["mailbox_overflow"] == rt["events_refused"] == 0
    assert day_of_30["v1"]["runtime"]["decisions"] >= day_of_30["v1"]["actions"]
    assert set(day_of_30["v1"]["by_action"]) <= {"general", "engage_user", "share_tweet"}
    rt = day_of_30["runtime"]
    assert rt["snapshots_written"] > 0 and rt["passivations"] > 0
    t = day_of_30["traffic"]
    assert 300 < t["human_messages_per_guild_day"] < 700


def test_shy_guilds_act_less_than_bubbly_ones() -> None:
    """The same guilds and traffic, pinned shy and then bubbly: shy acts far less, and
    joins conversations (join or FOMO) less."""
    argv = ("--guilds", "24", "--hours", "24", "--seed", "4", "--no-v1", "--pin-moods")
    shy = run(*argv, "shy")["v2"]
    bubbly = run(*argv, "bubbly")["v2"]
    assert set(shy["by_mood"]) == {"shy"} and set(bubbly["by_mood"]) == {"bubbly"}
    assert shy["actions"] < 0.8 * bubbly["actions"]

    def joins(p: dict[str, Any]) -> int:
        return sum(p["by_action"].get(a, {}).get("count", 0)
                   for a in ("join_conversation", "fomo_response"))

    assert joins(shy) < 0.6 * joins(bubbly)
    assert shy["conversations_joined"] < bubbly["conversations_joined"]


def test_the_command_runs_as_a_process_and_writes_the_json(tmp_path: Path) -> None:
    """``python -m runtime simulate --guilds 5 --hours 2 --report-json F`` exits 0, prints
    the tables and writes the JSON with the required keys."""
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "runtime", "simulate", "--guilds", "5", "--hours", "2",
         "--report-json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=100, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "V2 (rules)" in proc.stdout and "V1 (timer)" in proc.stdout
    report = json.loads(out.read_text())
    assert {"v1", "v2", "runtime", "params", "traffic", "timing"} <= set(report)
    for policy in ("v1", "v2"):
        assert all(k in report[policy] for k in REQUIRED)
    assert {"events_delivered", "restarts", "snapshots_written", "pool_sent", "pool_stale",
            "pool_failed", "mailbox_overflow"} <= set(report["runtime"])
    assert report["params"]["guilds"] == 5 and report["params"]["hours"] == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["--llm-url", "http://127.0.0.1:9/v1"], "--llm-url needs --realtime"),
    (["--pin-moods", "shy,grumpy"], "unknown mood 'grumpy'"),
    (["--guilds", "0"], "--guilds must be at least 1"),
    (["--hours", "-1"], "--hours must be > 0"),
])
def test_options_that_make_no_sense_exit_2_with_one_line(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad option is one line on stderr and exit status 2, before anything runs."""
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_an_existing_store_file_is_refused(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The simulator starts from an empty store; it never writes over a file."""
    store = tmp_path / "bot.sqlite3"
    store.write_bytes(b"precious")
    assert main(["simulate", "--store", str(store)]) == 2
    assert "exists" in capsys.readouterr().err
    assert store.read_bytes() == b"precious"


def test_help_says_real_sockets_and_virtual_time_do_not_mix(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` explains why --llm-url needs --realtime."""
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    assert "real sockets and a virtual clock do not mix" in " ".join(
        capsys.readouterr().out.split())


def test_logs_per_guild_and_the_store_left_behind(tmp_path: Path) -> None:
    """--log-dir writes one JSON-lines file per guild (every line with its guild_id,
    decisions with their reasons, no content); --store keeps the V2 run's snapshots."""
    store, logs = tmp_path / "sim.sqlite3", tmp_path / "logs"
    report = run("--guilds", "3", "--hours", "6", "--seed", "2", "--skip-grace", "--no-v1",
                 "--store", str(store), "--log-dir", str(logs))
    assert report["v1"] is None and report["v2"]["actions"] > 0
    files = sorted(logs.glob("guild-*.jsonl"))
    assert len(files) == 3
    decisions = 0
    for f in files:
        gid = int(f.stem.removeprefix("guild-"))
        for line in f.read_text().splitlines():
            entry = json.loads(line)
            assert entry["guild_id"] == gid
            assert "content" not in entry and "text" not in entry
            if entry["event"] == "decision":
                decisions += 1
                assert entry["reasons"]["signals"] is not None
    assert decisions == report["v2"]["actions"]
    assert (logs / "runtime.jsonl").stat().st_size > 0

    async def stored() -> list[int]:
        s = await SQLiteStore(store).open()
        try:
            return await s.load_all_ids()
        finally:
            await s.close()

    assert len(anyio.run(stored)) == 3
