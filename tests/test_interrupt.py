"""Ctrl-C during a run: a clean stop, one line, and the run kept in the store."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.fakes.fixtures import StartFakeServer

ROOT = Path(__file__).resolve().parents[1]
# A child started from a background job inherits SIGINT ignored, and Python keeps it so: give the
# CLI the handler a terminal would (Ctrl-C raises KeyboardInterrupt) whatever ran the tests.
INTERRUPTIBLE = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                 "from core.cli import main; sys.exit(main())")


def test_ctrl_c_stops_cleanly_and_keeps_what_was_measured(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai", latency=0.3)
    spec = f"openai:fake@{server.base_url}"
    store = tmp_path / "store.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE,
         "tune", str(ROOT / "examples" / "sentiment.tune.yaml"), "--target", spec,
         "--optimizer", spec, "--store", str(store), "--run-dir", str(tmp_path / "runs"),
         "--concurrency", "2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(server.requests()) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("prompt-tuner:")]
    assert len(lines) == 1 and "interrupted: run " in lines[0] and str(store) in lines[0]
    db = sqlite3.connect(store)
    (run_id, status, error), = db.execute("select id, status, error from runs").fetchall()
    assert status == "interrupted" and error == "interrupted by the user"
    assert run_id in lines[0]
    scored = db.execute("select count(*) from evaluations where run_id = ?", [run_id]).fetchone()
    assert scored[0] >= 2  # answers that came back before the stop are kept
