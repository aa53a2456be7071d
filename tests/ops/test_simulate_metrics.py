"""The simulator on the wall clock serves the runtime's metrics: visible without a token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def test_realtime_simulation_serves_metrics(tmp_path: Path) -> None:
    """``simulate --realtime --metrics-address`` prints where it serves; a scrape there lists
    the simulated guilds live and events delivered; Ctrl-C still ends it with a report."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime", "simulate", "--guilds", "30", "--hours", "1",
         "--realtime", "--skip-grace", "--no-v1", "--metrics-address", "127.0.0.1:0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("metrics: http://127.0.0.1:"), line
        url = line.split(" ", 1)[1].strip()
        deadline = time.monotonic() + 30
        live = delivered = 0.0
        with httpx.Client() as http:
            # The guilds come live as their opening events are handled: poll the other
            # process (it has no event to wait on from here).
            while time.monotonic() < deadline and not (live >= 30 and delivered >= 30):
                values = {s.name + str(sorted(s.labels.items())): s.value
                          for f in text_string_to_metric_families(http.get(url).text)
                          for s in f.samples}
                live = values.get("miku_guilds[('state', 'live')]", 0.0)
                delivered = values.get("miku_supervisor_delivered_total[]", 0.0)
                time.sleep(0.1)
            assert (live, delivered >= 30) == (30, True)
            ready = http.get(url.replace("/metrics", "/readyz"))
            assert (ready.status_code, ready.text) == (200, "ready\n")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Runtime (V2):" in out  # the report of what ran until the interrupt
    # A few seconds of a planned hour: counted per guild in what ran, never per day.
    assert "(interrupted; 1 h planned)" in out
    assert "guild-day" not in out and "actions per guild in " in out
