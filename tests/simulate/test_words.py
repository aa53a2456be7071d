"""Her words in the simulator: a transcript of every message she sent (hers only), three
examples in the report, and the LLM server checked once before a run against it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from runtime.__main__ import main
from runtime.simulate.channel import BOT_LINES, CHAT_LINES, TO_HER_LINES
from tests.kit.simulate import run


def test_the_transcript_has_every_message_she_sent_and_nothing_else(tmp_path: Path) -> None:
    """One JSON line per message she sent (actions and replies), with exactly the five
    keys; none of them is a simulated human's line; the report shows three examples."""
    out = tmp_path / "words.jsonl"
    report = run("--guilds", "4", "--hours", "12", "--seed", "6", "--skip-grace", "--no-v1",
                 "--transcript", str(out))
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    v2 = report["v2"]
    assert len(lines) == v2["actions"] + v2["replies"] == report["runtime"]["pool_sent"] > 3
    humans = set(CHAT_LINES) | set(TO_HER_LINES) | set(BOT_LINES)
    for line in lines:
        assert set(line) == {"guild_id", "action", "mood", "sim_time", "text"}
        assert line["text"].strip() and line["text"] not in humans
        assert line["sim_time"].startswith("2026-03-02T")
    assert sorted(x["action"] for x in lines if x["action"] != "reply") == sorted(
        a for a, c in v2["by_action"].items() for _ in range(c["count"]))
    examples = report["examples"]
    assert len(examples) == 3 and all(e in lines for e in examples)
    assert len({e["action"] for e in examples}) == 3


def test_a_server_that_is_down_is_one_line_before_the_run(
        capsys: pytest.CaptureFixture[str]) -> None:
    """--llm-url on a port nobody listens on: exit 2 with the server's one-line problem,
    before any traffic runs."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    code = main(["simulate", "--realtime", "--hours", "0.01", "--guilds", "1",
                 "--llm-url", f"http://127.0.0.1:{port}/v1", "--llm-model", "nope"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--llm-url" in err
