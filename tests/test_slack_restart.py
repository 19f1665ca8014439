"""A bot process killed mid-run (SIGKILL: no goodbye) and started again finishes the run in the
same Slack thread, paying for no model call that was already answered."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from tests.fakes.fixtures import StartFakeServer
from tests.fakes.slack_api import FakeSlackApi, SlackSender
from tests.fakes.slack_harness import BOT_TOKEN, SIGNING_SECRET, TASK, Paths, world, write_world

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"listening on (http://\S+)")
CHANNEL = "C0001"


class BotProcess:
    """``python -m slack_bot`` on a free port, its stderr collected."""

    def __init__(self, paths: Paths, api: FakeSlackApi) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMPT_TUNER_", "SLACK_"))}
        env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                   PROMPT_TUNER_SLACK_API_URL=api.base_url,
                   PROMPT_TUNER_SLACK_TASK_DIR=str(paths.tasks),
                   PROMPT_TUNER_SLACK_DB_PATH=str(paths.ledger),
                   PROMPT_TUNER_SLACK_PROGRESS_INTERVAL_S="0.2", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "slack_bot", "--host", "127.0.0.1", "--port", "0",
             "--config", str(paths.config)],
            cwd=paths.root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        stderr = self.proc.stderr
        assert stderr is not None
        threading.Thread(target=self._pump, args=(stderr,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.log.append(line)
            self.lines.put(line)

    def url(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            found = LISTENING.search(line)
            if found:
                return found.group(1)
        raise AssertionError("the bot did not start:\n" + "".join(self.log))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def stored_answers(store: Path) -> int:
    if not store.exists():
        return 0
    db = sqlite3.connect(store)
    try:
        return int(db.execute("SELECT count(*) FROM responses").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_a_bot_killed_mid_run_finishes_it_in_the_same_thread_without_paying_twice(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    model = fake_server(latency=0.3)
    model.configure(**world())
    paths = write_world(tmp_path, model)
    with FakeSlackApi() as api:
        first = BotProcess(paths, api)
        try:
            sender = SlackSender(first.url(), SIGNING_SECRET, api)
            ack = asyncio.run(sender.command(f"task:{TASK}")).json()
            run_id = ack["text"].split("`")[1]
            deadline = time.monotonic() + 60
            while stored_answers(paths.store) < 7 and time.monotonic() < deadline:
                time.sleep(0.05)
            first.kill()  # mid-run: the baseline is scored, the proposals are on their way
        finally:
            first.stop()
        leg1 = model.requests()
        answered_before = {json.dumps(r["body"], sort_keys=True) for r in leg1 if r["status"] == 200}
        assert 7 <= len(answered_before) < 15
        parent = next(m for m in api.posts(CHANNEL) if m.thread_ts is None)
        progress = api.thread(CHANNEL, parent.ts)[0]
        assert not any("Tuning report" in m.text for m in api.thread(CHANNEL, parent.ts))

        second = BotProcess(paths, api)
        try:
            second.url()
            api.wait_for(lambda a: a.calls("files.completeUploadExternal"), 60, "the report")
        finally:
            assert second.stop() == 0, "".join(second.log)

    # one thread: the report, the upload and the progress edits all went to the first parent
    assert [m for m in api.posts(CHANNEL) if m.thread_ts is None] == [parent]
    thread = api.thread(CHANNEL, parent.ts)
    assert any(m.text.startswith(f"Tuned {TASK}") for m in thread)
    assert api.calls("files.completeUploadExternal")[0].body["thread_ts"] == parent.ts
    assert api.messages[(CHANNEL, progress.ts)].text.count("Resumed after a bot restart") == 1
    assert "Finished" in api.messages[(CHANNEL, progress.ts)].text
    # no model call answered before the kill was sent again after the restart
    leg2 = model.requests()[len(leg1):]
    resent = [r for r in leg2 if json.dumps(r["body"], sort_keys=True) in answered_before]
    assert resent == []
    assert leg2, "the restarted bot finished the run"
    db = sqlite3.connect(paths.store)
    (status, result_json), = db.execute("SELECT status, result_json FROM runs WHERE id = ?",
                                        [run_id]).fetchall()
    db.close()
    assert status == "finished" and json.loads(result_json)["best_score"] == 1.0
    ledger = sqlite3.connect(paths.ledger)
    assert ledger.execute("SELECT status FROM threads WHERE run_id = ?", [run_id]).fetchone() == (
        "finished",)
    ledger.close()
    assert "Traceback" not in "".join(first.log + second.log)
    assert BOT_TOKEN not in "".join(first.log + second.log)
