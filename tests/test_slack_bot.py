"""The Slack bot end to end, talked to as Slack does: signed HTTP requests to the real Bolt app on
127.0.0.1, whose Web API calls go to a recording loopback fake, with the fake model server as
every model (see ``tests/fakes/slack_harness.py`` for the tuning world)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import Store, compare_paired
from slack_bot.blocks import COMMENT_BLOCK, COMMENT_INPUT, EDIT_BLOCK, EDIT_INPUT
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.slack_api import FakeSlackApi, Message
from tests.fakes.slack_harness import (
    BOT_TOKEN,
    GOOD,
    MARKER,
    REVIEWS,
    SIGNING_SECRET,
    TASK,
    Running,
    running_bot,
    world,
    write_world,
)

CHANNEL = "C0001"


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


def block_text(blocks: list[dict[str, Any]]) -> str:
    """Every piece of text in a message's blocks, joined (what a reader sees)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)


def parent_of(api: FakeSlackApi) -> Message:
    parents = [m for m in api.posts(CHANNEL) if m.thread_ts is None]
    assert len(parents) == 1, [m.text for m in parents]
    return parents[0]


def report_in(api: FakeSlackApi, thread_ts: str) -> Message | None:
    for m in api.thread(CHANNEL, thread_ts):
        if "Tuning report" in block_text(m.blocks):
            return m
    return None


async def finished(bot: Running) -> tuple[Message, Message]:
    """Wait for the run's report and its uploaded file; the parent and the report message."""
    api = bot.api
    await api.until(lambda a: [m for m in a.posts(CHANNEL) if m.thread_ts is None], 10, "parent")
    parent = parent_of(api)
    report = await api.until(lambda a: report_in(a, parent.ts), 60, "the report")
    await api.until(lambda a: a.calls("files.completeUploadExternal"), 20, "the upload")
    return parent, report


# -- 1. ack at once, the run in the background, everything in the thread ------------------------

async def test_a_tune_is_acked_at_once_and_reported_with_scores_in_its_thread(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    model = fake_server(latency=0.2)
    model.configure(**world())
    paths = write_world(tmp_path, model)
    async with running_bot(paths, slack_api) as bot:
        started = time.monotonic()
        response = await bot.slack.command(f"task:{TASK}")
        ack_s = time.monotonic() - started

        assert response.status_code == 200
        ack = response.json()
        assert ack["response_type"] == "ephemeral" and "Started run" in ack["text"]
        assert ack_s < 3.0
        parent, report = await finished(bot)
        run_s = time.monotonic() - started

    assert run_s > 3.0 and run_s > 5 * ack_s  # the tune went on long after the ack
    # every post after the parent is a reply in its thread, the upload too
    posts = slack_api.calls("chat.postMessage")
    assert posts[0].body.get("thread_ts") is None
    assert [c.body.get("thread_ts") for c in posts[1:]] == [parent.ts] * (len(posts) - 1)
    updates = slack_api.calls("chat.update")
    progress = slack_api.thread(CHANNEL, parent.ts)[0]
    assert len(updates) >= 2 and {c.body["ts"] for c in updates} == {progress.ts}
    assert "Finished" in progress.text and f"{result_calls(paths)} / 400 calls" in progress.text
    # the cost so far, from the config's price table, ends where the report's total does
    spent = re.search(r"\$\d+\.\d{4}", progress.text)
    assert spent and f"· {spent.group(0)}" in block_text(report.blocks) and spent.group(0) != "$0.0000"
    (complete,) = slack_api.calls("files.completeUploadExternal")
    assert complete.body["thread_ts"] == parent.ts and complete.body["channel_id"] == CHANNEL

    # the report: both scores with their CIs, the paired difference and its p-value, the cost
    store = Store(paths.store)
    (run,) = store.runs()
    result = json.loads(run["result_json"])
    store.close()
    text = block_text(report.blocks)
    cands = {c["id"]: c for c in result["candidates"]}
    for cid in (result["original_id"], result["best_id"]):
        c = cands[cid]
        assert f"{c['score']:.0%} [{c['ci'][0]:.0%}, {c['ci'][1]:.0%}] (n={c['n']})" in text
    assert result["baseline_score"] == 0.0 and result["best_score"] == 1.0
    n = len(REVIEWS)
    paired = compare_paired([0.0] * n, [1.0] * n)
    assert f"*p-value*\n{paired.p_value:.3g}" in text
    assert "+100 pts" in text and f"{result['calls']} calls" in text
    assert MARKER in text and "+ZEBRA" in text.replace(" ", "")  # the diff of winner vs original
    buttons = [e["action_id"] for b in report.blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons.count("review_approve") == len([b for b in report.blocks if b["type"] == "actions"])

    # the uploaded report: the HTML rendering and the Markdown, both complete
    files = {u["filename"]: u for u in slack_api.uploads.values()}
    html = files[f"report-{run['id']}.html"]["content"].decode()
    assert files[f"report-{run['id']}.md"]["completed"]
    assert run["id"] in html and "<script" not in html
    assert 'data-chart="rounds"' in html  # the core's report, with its charts


def result_calls(paths: Any) -> int:
    store = Store(paths.store)
    try:
        return len(store.responses(store.runs()[0]["id"]))
    finally:
        store.close()


# -- 2. reviews: Approve, and an edit in the modal, end up in the version history ---------------

async def test_approve_and_an_edited_candidate_land_in_the_version_history(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model)
    async with running_bot(paths, slack_api) as bot:
        await bot.slack.command(f"task:{TASK}")
        parent, report = await finished(bot)
        store = Store(paths.store)
        (run,) = store.runs()
        best_id = run["best_id"]

        response = await bot.slack.click(report, "review_approve", block_id=f"cand:{best_id}",
                                         user="U0002")
        assert response.status_code == 200
        await slack_api.until(lambda a: store.reviews(TASK), 10, "the approval")
        (approval,) = store.reviews(TASK)
        assert (approval["candidate_id"], approval["verdict"], approval["reviewer"],
                approval["source"], approval["run_id"]) == (best_id, "approve", "U0002", "slack",
                                                             run["id"])

        await bot.slack.click(report, "review_edit", block_id=f"cand:{best_id}", user="U0003")
        opened = await slack_api.until(lambda a: a.calls("views.open"), 10, "the modal")
        view = {**opened[0].body["view"], "id": "V0000001"}
        initial = view["blocks"][1]["element"]["initial_value"]
        assert initial == GOOD
        edited = GOOD.replace("one word", "exactly one word")
        response = await bot.slack.submit_view(
            view, {EDIT_BLOCK: {EDIT_INPUT: edited}, COMMENT_BLOCK: {COMMENT_INPUT: "stricter"}},
            user="U0003")
        assert response.status_code == 200 and response.text == ""  # the modal closes

        def ab_result(api: FakeSlackApi) -> Message | None:
            return next((m for m in api.thread(CHANNEL, parent.ts)
                         if "Verdict" in block_text(m.blocks)), None)

        ab = await slack_api.until(ab_result, 30, "the A/B test of the edit")
        versions = store.versions(TASK)
        edit = versions[-1]
        assert edit["operator"] == "edit" and json.loads(edit["parents_json"]) == [best_id]
        assert json.loads(edit["messages_json"]) == [{"role": "user", "content": edited}]
        reviews = store.reviews(TASK, edit["id"])
        assert [(r["verdict"], r["reviewer"], r["comment"]) for r in reviews] == [
            ("edit", "U0003", "stricter")]
        assert "A/B test" in block_text(ab.blocks) and "p-value" in block_text(ab.blocks)
        thread_text = "\n".join(m.text for m in slack_api.thread(CHANNEL, parent.ts))
        assert "<@U0002> approved" in thread_text and "<@U0003> edited" in thread_text

        history = await bot.slack.command(f"history {TASK}")
        shown = block_text(history.json()["blocks"])
        store.close()
    assert history.json()["response_type"] == "ephemeral"
    assert f"*v{edit['version']}* `{edit['id']}` · edit" in shown
    assert f"`{best_id}`" in shown and "1 approved" in shown
    assert "<@U0002> approve" in shown and "<@U0003> edit" in shown and "stricter" in shown


def fill_edit_modal(view: dict[str, Any], text: str) -> dict[str, dict[str, str]]:
    """What a person does with the Edit modal to enter ``text``: whole lines into each prompt box
    in turn, as much as the box takes (Slack enforces ``max_length``, at most 3,000), the line
    break between two boxes left out as the boxes' hints say."""
    boxes = [b for b in view["blocks"] if b["type"] == "input"
             and b["element"]["action_id"] == EDIT_INPUT]
    lines, values = text.split("\n"), {}
    for box in boxes:
        cap = min(box["element"].get("max_length", 3000), 3000)
        taken: list[str] = []
        while lines and len("\n".join([*taken, lines[0]])) <= cap:
            taken.append(lines.pop(0))
        values[box["block_id"]] = {EDIT_INPUT: "\n".join(taken)}
        assert "line break" not in str(box.get("hint", "")) or box["hint"]["text"].startswith("Joined")
    assert not lines, f"{len(lines)} lines do not fit in the modal's {len(boxes)} box(es)"
    return values


async def test_an_edit_longer_than_a_slack_text_box_is_saved_whole(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model)
    async with running_bot(paths, slack_api) as bot:
        await bot.slack.command(f"task:{TASK}")
        _, report = await finished(bot)
        store = Store(paths.store)
        best_id = store.runs()[0]["best_id"]
        await bot.slack.click(report, "review_edit", block_id=f"cand:{best_id}", user="U0003")
        opened = await slack_api.until(lambda a: a.calls("views.open"), 10, "the modal")
        view = {**opened[0].body["view"], "id": "V0000002"}
        rules = "\n".join(f"Rule {i}: read the whole review before you answer, word by word."
                           for i in range(60))
        edited = f"{GOOD}\n{rules}"
        assert 3000 < len(edited) <= 4000
        response = await bot.slack.submit_view(view, fill_edit_modal(view, edited), user="U0003")
        assert response.status_code == 200 and response.text == ""  # saved, the modal closes
        await slack_api.until(lambda a: store.versions(TASK)[-1]["operator"] == "edit", 10, "the edit")
        saved = json.loads(store.versions(TASK)[-1]["messages_json"])
        store.close()
    assert saved == [{"role": "user", "content": edited}]


# -- 3. signatures and retries ------------------------------------------------------------------

async def test_unsigned_wrongly_signed_and_stale_requests_get_401_and_start_nothing(
    slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    paths = write_world(tmp_path, None)
    async with running_bot(paths, slack_api) as bot:
        body = bot.slack.command_body(f"task:{TASK}")
        wrong = await bot.slack.send(body, secret="not-the-signing-secret")
        stale = await bot.slack.send(body, timestamp=int(time.time()) - 10 * 60)
        unsigned = await bot.slack.send(body, signature="")
        tampered = await bot.slack.send(body.replace("reviews", "other"),
                                        signature=_signature_of(bot, body))
        await asyncio.sleep(0.3)
        assert [r.status_code for r in (wrong, stale, unsigned, tampered)] == [401] * 4
        assert bot.bot.runs.active == {}
    assert slack_api.calls() == []  # not even auth.test: nothing ran
    assert not paths.store.exists() or Store(paths.store).runs() == []


def _signature_of(bot: Running, body: str) -> str:
    from tests.fakes.slack_api import sign

    return sign(SIGNING_SECRET, body, int(time.time()))


async def test_a_slash_command_slack_retries_starts_one_run_not_two(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    model = fake_server(latency=0.05)
    model.configure(**world())
    paths = write_world(tmp_path, model)
    async with running_bot(paths, slack_api) as bot:
        body = bot.slack.command_body(f"task:{TASK}")
        first, again, third = await asyncio.gather(
            bot.slack.send(body), bot.slack.send(body, retry_num=1),
            bot.slack.send(body, retry_num=2))
        await finished(bot)
    assert [r.status_code for r in (first, again, third)] == [200, 200, 200]
    started = [r for r in (first, again, third) if r.text and "Started run" in r.json()["text"]]
    assert len(started) == 1
    assert len([m for m in slack_api.posts(CHANNEL) if m.thread_ts is None]) == 1
    store = Store(paths.store)
    assert len(store.runs()) == 1
    store.close()


# -- 5. limits ----------------------------------------------------------------------------------------

async def test_per_user_limits_refuse_the_extra_run_with_an_ephemeral_message(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    model = fake_server(latency=0.3)
    model.configure(**world())
    paths = write_world(tmp_path, model)
    async with running_bot(paths, slack_api, runs_per_user=1, calls_per_run=200) as bot:
        first = await bot.slack.command(f"task:{TASK}", user="U0001")
        assert "Started run" in first.json()["text"]
        run_id = first.json()["text"].split("`")[1]

        extra = await bot.slack.command(f"task:{TASK}", user="U0001")
        over = await bot.slack.command(f"task:{TASK} --budget 5000", user="U0002")
        other = await bot.slack.command(f"task:{TASK} --budget 100", user="U0002")
        refusals = {"extra": extra.json(), "over": over.json()}
        stranger = await bot.slack.command(f"cancel {run_id}", user="U0002")
        cancel = await bot.slack.command(f"cancel {run_id}", user="U0001")
        await slack_api.until(lambda a: not bot.bot.runs.find_active(run_id), 10, "the cancel")
        bot.bot.runs.cancel(next(iter(bot.bot.runs.active.values())), "U0002")
        await asyncio.sleep(0.3)

    for reply in refusals.values():
        assert reply["response_type"] == "ephemeral"
    assert "already have 1 run" in refusals["extra"]["text"] and run_id in refusals["extra"]["text"]
    assert "cancel" in refusals["extra"]["text"]
    assert "over this bot's cap of 200" in refusals["over"]["text"]
    assert "Started run" in other.json()["text"]  # another person is not held up
    assert "Only <@U0001>" in stranger.json()["text"]
    assert "Cancelling run" in cancel.json()["text"]
    assert len([m for m in slack_api.posts(CHANNEL) if m.thread_ts is None]) == 2
    progress = [m for m in slack_api.posts(CHANNEL) if "Cancelled by <@U0001>" in m.text]
    assert len(progress) == 1


@pytest.mark.parametrize(("text", "says"), [
    ("task:nope", "no task `nope`"),
    ("x" * 5000, "5,000 characters"),
    (f"task:{TASK} --budget lots", "number of model calls"),
    (f"task:{TASK} --budget 3", "cannot compare even two prompts"),
    (f"task:{TASK} --target nosuch:model", "takes the name of one of this bot's models: `default`"),
    ("compare reviews v1", "two versions"),
    ("history ../etc", "one task name"),
    ("Write a haiku about {{ topic }}", "cannot be tuned as it is"),
])
async def test_mistakes_get_one_friendly_ephemeral_line(
    slack_api: FakeSlackApi, tmp_path: Path, text: str, says: str
) -> None:
    paths = write_world(tmp_path, None)
    async with running_bot(paths, slack_api) as bot:
        reply = (await bot.slack.command(text)).json()
    assert reply["response_type"] == "ephemeral"
    assert says in reply["text"] and "Traceback" not in reply["text"]
    assert len(reply["text"].splitlines()) == 1
    assert slack_api.calls("chat.postMessage") == []


async def test_allowlists_refuse_other_channels_and_users(
    slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    paths = write_world(tmp_path, None)
    async with running_bot(paths, slack_api, allowed_channels=["C0009"],
                           allowed_users=["U0001"]) as bot:
        channel = (await bot.slack.command(f"task:{TASK}", user="U0001")).json()["text"]
        user = (await bot.slack.command(f"task:{TASK}", user="U0005", channel="C0009")).json()["text"]
    assert "not enabled in this channel" in channel
    assert "not on this bot's list of users" in user


# -- reliability: Web API errors, failures, credentials --------------------------------------------

async def test_web_api_429_and_5xx_are_retried_and_a_model_outage_is_one_line_in_the_thread(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    model = fake_server()
    model.configure(down=True)
    paths = write_world(tmp_path, model)
    slack_api.fail("chat.postMessage", status=429, retry_after=1)
    slack_api.fail("chat.update", status=503)
    async with running_bot(paths, slack_api) as bot:
        await bot.slack.command(f"task:{TASK}")
        parent = await slack_api.until(
            lambda a: next((m for m in a.posts(CHANNEL) if m.thread_ts is None), None), 15)
        failure = await slack_api.until(
            lambda a: next((m for m in a.thread(CHANNEL, parent.ts) if "stopped" in m.text), None),
            30, "the failure line")
    statuses = [c.status for c in slack_api.calls("chat.postMessage")]
    assert statuses[:2] == [429, 200]
    assert [c.status for c in slack_api.calls("chat.update")][:2] == [503, 200]
    assert "Traceback" not in failure.text and len(failure.text.splitlines()) == 1
    assert "fake" in failure.text  # the model's name, from the core's error
    # credentials appear nowhere: not in logs, messages or the bodies Slack received
    everything = caplog.text + json.dumps([c.body for c in slack_api.calls()])
    everything += json.dumps([c.headers for c in slack_api.calls()])
    assert BOT_TOKEN not in everything and SIGNING_SECRET not in everything
    assert all(c.authorized for c in slack_api.calls() if c.method not in ("upload",))


# -- A/B tests, evaluations, status -----------------------------------------------------------------

async def test_compare_evaluate_and_status_answer_in_threads(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model)
    async with running_bot(paths, slack_api) as bot:
        await bot.slack.command(f"task:{TASK}")
        parent, report = await finished(bot)
        store = Store(paths.store)
        (run,) = store.runs()
        versions = {v["id"]: v["version"] for v in store.versions(TASK)}
        store.close()
        v_orig, v_best = versions[run["original_id"]], versions[run["best_id"]]

        reply = (await bot.slack.command(f"compare {TASK} v{v_orig} v{v_best}")).json()
        assert "Started the A/B test" in reply["text"]
        ab_parent = await slack_api.until(
            lambda a: next((m for m in a.posts(CHANNEL) if m.thread_ts is None
                            and "A/B test" in m.text), None), 10, "the A/B parent")
        verdict = await slack_api.until(
            lambda a: next((m for m in a.thread(CHANNEL, ab_parent.ts) if "Verdict" in block_text(m.blocks)),
                           None), 30, "the verdict")
        shown = block_text(verdict.blocks)
        assert "B is better" in shown and "0% [0%, 39%] (n=6)" in shown and "100% [61%, 100%] (n=6)" in shown
        assert "*p-value*" in shown and "+100 pts" in shown

        await bot.slack.click(report, "review_evaluate", block_id=f"cand:{run['best_id']}")
        evaluated = await slack_api.until(
            lambda a: next((m for m in a.thread(CHANNEL, parent.ts) if " examples:*" in block_text(m.blocks)),
                           None), 30, "the evaluation")
        assert f"`{run['best_id']}` on {len(REVIEWS)} examples:* 100%" in block_text(evaluated.blocks)
        assert "(in the run: 100% [61%, 100%] (n=6))" in block_text(evaluated.blocks)

        status = (await bot.slack.command("status")).json()["text"]
    assert "No runs in progress" in status and run["id"] in status and "finished" in status
