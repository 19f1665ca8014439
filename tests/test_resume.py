"""A run killed with SIGKILL mid-search is resumed with `tune --resume` and finishes exactly as
an uninterrupted run with the same seed would, sending no answered request again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fakes.films import N, film_task, label, review
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 2
DECIDE = "Decide the mood of this film review: "


def world(server: FakeServer) -> None:
    """The optimizer always proposes the "Decide the mood" prompt, which is right on every
    review; the original is right on the "great" ones only."""
    rules = [["New prompt:", f"<<<\n{DECIDE}{{{{ text }}}}\n>>>"]]
    for i in range(N):
        rules.append([f"{DECIDE}{review(i)}", label(i)])
        rules.append([f"Review: {review(i)}", "positive" if i % 2 else "no idea"])
    server.configure(rules=rules, reply="fixed:no idea", latency=0.05)


def tune(args: list[str], store: Path, tmp: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_TUNER_")}
    env.update({"PROMPT_TUNER_CACHE__ENABLED": "false", "PYTHONPATH": str(ROOT)})
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())", "tune",
         *args, "--store", str(store), "--run-dir", str(tmp / "runs"), "--json", "-q"],
        cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def common(server: FakeServer) -> list[str]:
    spec = f"openai:fake@{server.base_url}"
    return ["--target", spec, "--optimizer", spec, "--strategy", "refine", "--rounds", "2",
            "--variations", "2", "--seed", "7", "--concurrency", str(CONCURRENCY)]


def bodies(server: FakeServer) -> list[str]:
    return [json.dumps(r["body"], sort_keys=True) for r in server.requests()]


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_sigkill_then_resume_sends_no_answered_request_again_and_ends_the_same(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    world(server)
    task = film_task(tmp_path, "resume-me")

    # the reference: the same run, never interrupted
    reference = finish(tune([str(task), *common(server)], tmp_path / "ref.db", tmp_path))
    want = bodies(server)
    assert len(want) > 30 and len(set(want)) == len(want)  # every request is distinct
    server.reset()
    world(server)

    store = tmp_path / "store.db"
    proc = tune([str(task), *common(server)], store, tmp_path)
    deadline = time.monotonic() + 60
    while len(server.requests()) < len(want) // 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = bodies(server)
    db = sqlite3.connect(store)
    (run_id, status), = db.execute("select id, status from runs").fetchall()
    assert status == "running"  # killed: nothing got to mark it
    answered = db.execute("select count(*) from responses where run_id = ?", [run_id]).fetchone()[0]
    db.close()
    assert 0 < answered <= len(before) < len(want)

    resumed = finish(tune(["--resume", run_id, *common(server)], store, tmp_path))
    sent = bodies(server)
    # everything the reference sent was sent, and nothing else
    assert set(sent) == set(want)
    # a request goes out twice only if the kill cut it off before its answer was stored:
    # at most one per connection in flight, and only among the last ones before the kill
    twice = [b for b, count in Counter(sent).items() if count > 1]
    assert len(twice) <= CONCURRENCY
    assert all(b in before[-2 * CONCURRENCY:] for b in twice)
    assert len(sent) - len(want) == len(twice)

    assert resumed["run_id"] == run_id
    assert reference["improved"] and DECIDE in reference["best_prompt"]  # the search found it
    for key in ("best_id", "best_prompt", "baseline_score", "best_score", "p_value", "improved"):
        assert resumed[key] == reference[key], key
    assert resumed["cache_hits"] >= answered  # the stored answers were replayed
    db = sqlite3.connect(store)
    assert db.execute("select status from runs where id = ?", [run_id]).fetchone()[0] == "finished"
    db.close()
