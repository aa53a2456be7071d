"""ops/inspect.py, run exactly as an operator runs it: ``python ops/inspect.py ...``."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from engine import (
    GuildConfig,
    GuildState,
    decide,
    encode_state,
    mark_pending,
    new_state,
    observe_message,
    observe_presence,
)
from runtime.ops.control import GuildRequest, ListRequest, Request, RequestError, serve_control
from runtime.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ops" / "inspect.py"
NOW = 1_800_000_000.0


async def inspect(*args: str, cwd: Path = ROOT) -> tuple[int, str, str]:
    """Run the script as a subprocess: its own folder comes first on sys.path."""
    proc = await anyio.run_process([sys.executable, str(SCRIPT), *args], cwd=cwd, check=False)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def _states() -> list[GuildState]:
    states = []
    for g, mood in [(101, "shy"), (202, "bubbly"), (303, "neutral")]:
        s = new_state(g, NOW - 3600, mood=mood)
        states.append(s)
    for i in range(12):  # guild 202 is chatting: momentum
        observe_message(states[1], NOW - 60 + i)
    observe_presence(states[1], NOW - 30, 55, "online", "Project DIVA", False, GuildConfig())
    mark_pending(states[2], "break_silence", 9, NOW + 120)
    return states


@pytest.fixture
async def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "snapshots.db"
    async with SQLiteStore(path, clock=lambda: NOW) as store:
        states = _states()
        await store.save_many([(s.guild_id, encode_state(s)) for s in states[:2]])
        await store.passivate_many([(303, encode_state(states[2]), NOW + 600)])
        await store.dead_letter(101, "MessageSeen", "Traceback\nZeroDivisionError: boom", NOW)
    return path


@pytest.mark.anyio
async def test_store_table(store_file: Path) -> None:
    """The default table lists every stored guild, '-' for what only a live process knows."""
    rc, out, err = await inspect("--store", str(store_file))
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["guild", "mood", "state", "mailbox", "overflow", "restarts",
                                "quarantined", "last", "action", "momentum"]
    assert lines[1].split()[:7] == ["101", "shy", "saved", "-", "-", "-", "-"]
    assert lines[2].split()[:2] == ["202", "bubbly"]
    assert lines[2].split()[-1] == "0.6"  # 12 messages in 5 min, full at 20
    assert lines[3].split()[:3] == ["303", "neutral", "passivated"]
    assert lines[-1] == "3 guilds"


@pytest.mark.anyio
async def test_store_json(store_file: Path) -> None:
    """--json gives {"guilds": [...]} and {"guild": {...}} with the stored state."""
    rc, out, err = await inspect("--store", str(store_file), "--json")
    assert rc == 0, err
    guilds = json.loads(out)["guilds"]
    assert [(g["guild_id"], g["mood"], g["passivated"]) for g in guilds] == [
        (101, "shy", False), (202, "bubbly", False), (303, "neutral", True)]
    assert guilds[1]["momentum"] == pytest.approx(0.6)
    assert guilds[0]["mailbox_depth"] is None
    rc, out, err = await inspect("--store", str(store_file), "--json", "303")
    assert rc == 0, err
    guild = json.loads(out)["guild"]
    assert guild["state"]["mood"] == "neutral"
    assert guild["pending"] == {"action": "break_silence", "request_id": 9,
                                "deadline": NOW + 120}
    assert guild["wake_at"] == NOW + 600
    assert guild["decisions"] is None
    rc, out, _ = await inspect("--store", str(store_file), "--json", "101")
    assert json.loads(out)["guild"]["dead_letters"][0]["event_type"] == "MessageSeen"


@pytest.mark.anyio
async def test_store_guild_text(store_file: Path) -> None:
    """One guild in full: state, signals, pending action, dead letters."""
    rc, out, err = await inspect("--store", str(store_file), "202")
    assert rc == 0, err
    assert out.startswith("guild 202 (from the store)")
    assert "signals:" in out and "msgs_5m" in out
    assert "pending: none" in out
    rc, out, _ = await inspect("--store", str(store_file), "101")
    assert "dead letter: " in out and "ZeroDivisionError: boom" in out


@pytest.mark.anyio
async def test_learned_hours_indexes_are_shown_as_the_times_they_count(store_file: Path
                                                                       ) -> None:
    """``hours_at`` is an epoch *hour* and ``hours_slot`` an epoch 10-minute slot: shown as
    the UTC time each begins (with the index), never as seconds since 1970."""
    rc, out, err = await inspect("--store", str(store_file), "202")
    assert rc == 0, err
    fields = dict(line.split(None, 1) for line in out.splitlines()
                  if line.startswith("  hours_"))
    hour = int(NOW - 60) // 3600
    slot = int(NOW - 49) // 600
    assert fields["hours_at"] == f"2027-01-15T07:00:00Z (epoch hour {hour})"
    assert fields["hours_slot"] == f"2027-01-15T07:50:00Z (epoch 10-min slot {slot})"
    assert "1970" not in out


@pytest.mark.anyio
async def test_errors_are_one_line(store_file: Path, tmp_path: Path) -> None:
    """Unknown guild, missing store, a file that is not a store, a missing socket: exit 2
    with one line naming the problem."""
    cases = [
        (("--store", str(store_file), "999"), "unknown guild 999"),
        (("--store", str(tmp_path / "missing.db")), "no such file"),
        (("--store", str(SCRIPT)), "not a snapshot store"),
        (("--socket", str(tmp_path / "missing.sock")), "no such socket"),
    ]
    for args, message in cases:
        rc, out, err = await inspect(*args)
        assert rc == 2, (args, out, err)
        assert err.count("\n") == 1 and err.startswith("inspect: ") and message in err, err
        assert out == ""


@pytest.mark.anyio
async def test_runs_from_its_own_folder(store_file: Path) -> None:
    """Run from inside ops/ too (the folder that holds inspect.py is the working directory)."""
    rc, out, err = await inspect("--store", str(store_file), "--json", cwd=SCRIPT.parent)
    assert rc == 0, err
    assert len(json.loads(out)["guilds"]) == 3


# --- live, against a control server with the supervisor's reply shapes --------------------

def _decision() -> dict[str, Any]:
    """A real engine decision, explained, as the supervisor would send it."""
    state = new_state(202, NOW - 7200, mood="bubbly")
    for i in range(20):
        observe_message(state, NOW - 60 + i)
    d = decide(state, GuildConfig(quiet_hours=None), NOW, seed=1, explain=True)
    return msgspec.to_builtins(d)


LIST = [
    {"guild_id": 101, "mood": "shy", "live": True, "mailbox_depth": 3, "overflow": 0,
     "restarts": 1, "quarantined": False, "last_action": None, "momentum": 0.25,
     "shard": 0},
    {"guild_id": 202, "mood": "bubbly", "live": False, "mailbox_depth": 0, "overflow": 7,
     "restarts": 0, "quarantined": True, "last_action": "join_conversation", "momentum": 1.0,
     "shard": 1},
    {"guild_id": 303, "live": False, "passivated": True, "wake_at": NOW + 600, "restarts": 0,
     "quarantined": False},
]
#: A decision as the actor records it: compact reasons, {rule: {condition: [value, need, ok]}}.
RECORD = {"at": NOW + 5, "action": "engage_user", "policy": "v2", "request_id": 8,
          "target_user_id": 55, "target_activity": "Project DIVA",
          "reasons": {"signals": {"msgs_5m": 0, "momentum": 0.0, "online": 3},
                      "blocked_by": None,
                      "rules": {"engage_user": {"new_activity_or_join": ["Project DIVA",
                                                                          "un-engaged", True],
                                                "sociability_roll": [0.2, "< 0.770", True]}}}}


async def fake_supervisor(req: Request) -> Any:
    match req:
        case ListRequest():
            return LIST
        case GuildRequest(guild_id=202):
            return {"guild_id": 202, "state": {"mood": "bubbly", "last_action_at": NOW},
                    "signals": {"msgs_5m": 12, "momentum": 0.6},
                    "pending": {"action": "join_conversation", "request_id": 4},
                    "decisions": [_decision(), RECORD,
                                  {"action": None, "at": NOW + 9, "reasons": "asleep"}],
                    "now": {"action": None, "at": NOW + 10, "blocked_by": "pending"},
                    "mailbox": {"depth": 0, "coalesced": 3}}
        case GuildRequest(guild_id=g):
            raise RequestError(f"unknown guild {g}")
    raise RequestError("not supported")


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="insp", dir="/tmp") as d:
        yield Path(d)


@pytest.fixture
async def live_socket(sock_dir: Path) -> AsyncIterator[str]:
    path = str(sock_dir / "control.sock")
    async with anyio.create_task_group() as tg:
        await tg.start(serve_control, path, fake_supervisor)
        yield path
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_live_table(live_socket: str) -> None:
    """The live table has every column filled, plus unknown keys as extra columns."""
    rc, out, err = await inspect("--socket", live_socket)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[-1] == "shard"
    assert lines[1].split() == ["101", "shy", "live", "3", "0", "1", "no", "-", "0.25", "0"]
    assert lines[2].split() == ["202", "bubbly", "passivated", "0", "7", "0", "yes",
                                "join_conversation", "1", "1"]
    assert lines[3].split() == ["303", "-", "passivated", "-", "-", "0", "no", "-", "-", "-"]
    rc, out, err = await inspect("--socket", live_socket, "--json")
    assert json.loads(out) == {"guilds": LIST}


@pytest.mark.anyio
async def test_live_guild(live_socket: str) -> None:
    """One live guild: decisions with their reasons, extra keys rendered generically."""
    rc, out, err = await inspect("--socket", live_socket, "202")
    assert rc == 0, err
    assert out.startswith("guild 202 (live)")
    assert "pending: action=join_conversation, request_id=4" in out
    assert "decisions (3, oldest first):" in out
    first = _decision()
    if first["action"]:
        assert f"why {first['action']}: " in out
    else:
        assert "not join_conversation: " in out
    assert "engage_user  -> user 55 (Project DIVA)" in out
    assert "why engage_user: new_activity_or_join=Project DIVA (need un-engaged); " in out
    assert "signals: msgs_5m=0, momentum=0, online=3" in out
    assert "no action\n      reason: asleep" in out
    assert "right now:\n" in out and "(blocked by pending)" in out
    assert "mailbox" in out and "coalesced=3" in out
    rc, out, err = await inspect("--socket", live_socket, "202", "--json")
    assert json.loads(out)["guild"]["decisions"][1]["action"] == "engage_user"
    rc, out, err = await inspect("--socket", live_socket, "5")
    assert (rc, err) == (2, "inspect: unknown guild 5\n")


@pytest.mark.anyio
async def test_a_store_row_with_wrong_column_types_is_reported_not_a_traceback(
        store_file: Path) -> None:
    """Rows with a TEXT saved_at or wake_at, or TEXT data, are reported (in the table, or
    in one line with exit status 2), never with a traceback; good rows still show."""
    import sqlite3

    conn = sqlite3.connect(store_file)
    good = conn.execute("SELECT data FROM snapshots WHERE guild_id = 101").fetchone()[0]
    conn.execute("INSERT INTO snapshots (guild_id, data, saved_at, wake_at) VALUES (?, ?, ?, ?)",
                 (404, good, "yesterday", "soon"))
    conn.commit()
    code, out, err = await inspect("--store", str(store_file), "--json")
    assert code == 0 and "Traceback" not in err
    rows = {g["guild_id"]: g for g in json.loads(out)["guilds"]}
    assert rows[101]["mood"] == "shy"
    assert "saved_at" in rows[404]["error"] and rows[404]["mood"] == "?"
    code, out, err = await inspect("--store", str(store_file), "404")
    assert code == 0 and "Traceback" not in err and "saved_at" in out
    conn.execute("UPDATE snapshots SET data = 'not bytes' WHERE guild_id = 404")
    conn.commit()
    conn.close()
    code, out, err = await inspect("--store", str(store_file))
    assert "Traceback" not in err
    assert (code == 0 and "data" in out) or (code == 2 and err.count("\n") == 1)
