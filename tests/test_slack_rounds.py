"""Team review through the rounds in Slack, driven as Slack drives the bot: signed slash
commands, button clicks and modal submissions to the real Bolt app, whose Web API is the
loopback fake (it records every call), with the fake model server behind the core.

The world (tests/fakes/slack_harness.py): round 1 proposes GOOD (100%) and a format rewrite of
the original (0%); a prompt a person adds is answered wrongly (0%).
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core import load_settings
from slack_bot.app import build_bot
from slack_bot.commands import TuneCommand, parse
from slack_bot.round_blocks import PROMPT_BLOCK, PROMPT_INPUT
from slack_bot.settings import SlackSecrets
from slack_bot.web import HttpServer
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.slack_api import FakeSlackApi, Message, SlackSender
from tests.fakes.slack_harness import (
    BOT_TOKEN,
    GOOD,
    SIGNING_SECRET,
    SLOT,
    TASK,
    Paths,
    bot_settings,
    world,
    write_world,
)
from tests.test_slack_restart import BotProcess, stored_answers

CHANNEL = "C0001"
ADDED = f"Reply with positive or negative only.\nReview: {SLOT}"


def rounds_posted(api: FakeSlackApi, number: int) -> list[Message]:
    return [m for m in api.posts(CHANNEL) if m.text.startswith(f"Round {number} of run")]


def droppable(message: Message) -> list[str]:
    """Candidates with a Drop button, best first (the original has none)."""
    out = []
    for block in message.blocks:
        if block.get("type") == "actions" and any(
                e.get("action_id") == "round_drop" for e in block.get("elements", [])):
            out.append(str(block["block_id"]).removeprefix("round:"))
    return out


def rows(db_path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(db_path)
    try:
        return list(db.execute(sql, args).fetchall())
    finally:
        db.close()


def test_review_is_asked_for_with_a_flag() -> None:
    assert parse("task:reviews --review --budget 50") == TuneCommand(
        task_name="reviews", budget=50, review=True)
    assert parse('Write a haiku --task "a haiku" --review').review
    assert parse("task:reviews").review is False


# -- must-show: a reviewed run, the bot killed in round 2 and started again -------------------------


def test_a_reviewed_run_survives_a_kill_in_round_2_with_the_decisions_honoured(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    model = fake_server(latency=0.2)
    model.configure(**world())
    paths = write_world(tmp_path, model, rounds=2)
    with FakeSlackApi() as api:
        first = BotProcess(paths, api)
        try:
            slack = SlackSender(first.url(), SIGNING_SECRET, api)
            ack = asyncio.run(slack.command(f"task:{TASK} --review")).json()
            run_id = ack["text"].split("`")[1]
            (round1,) = api.wait_for(lambda a: rounds_posted(a, 1), 60, "round 1")
            *_, dropped = droppable(round1)  # the lowest-ranked candidate a person may drop
            asyncio.run(slack.click(round1, "round_drop", block_id=f"round:{dropped}"))
            api.wait_for(lambda a: "dropped by <@U0001>" in json.dumps(
                a.messages[(CHANNEL, round1.ts)].blocks), 20, "the drop marked")
            asyncio.run(slack.click(round1, "round_add"))
            opened = api.wait_for(lambda a: a.calls("views.open"), 20, "the Add modal")
            view = {**opened[-1].body["view"], "id": "V0000001"}
            response = asyncio.run(slack.submit_view(view, {PROMPT_BLOCK: {PROMPT_INPUT: ADDED}}))
            assert response.status_code == 200 and response.text == ""  # the modal closes
            # the added prompt is scored, then the round is shown again with it
            again = api.wait_for(lambda a: rounds_posted(a, 1)[1:], 60, "round 1 shown again")
            assert ADDED.split("\n")[0] in json.dumps(again[0].blocks)
            assert dropped not in json.dumps(again[0].blocks)  # carried out: out of the race
            before = stored_answers(paths.store)
            asyncio.run(slack.click(again[0], "round_continue"))
            api.wait_for(lambda a: stored_answers(paths.store) >= before + 2, 60, "round 2 going")
            first.kill()  # SIGKILL during round 2: no goodbye
            asked = len(rounds_posted(api, 2))  # round 2 may have been shown before the kill
        finally:
            first.stop()
        leg1 = model.requests()
        answered_before = {json.dumps(r["body"], sort_keys=True) for r in leg1 if r["status"] == 200}
        parent = next(m for m in api.posts(CHANNEL) if m.thread_ts is None)

        second = BotProcess(paths, api)
        try:
            slack = SlackSender(second.url(), SIGNING_SECRET, api)
            round2 = api.wait_for(lambda a: rounds_posted(a, 2)[asked:], 120,
                                  "round 2 after the restart")
            asyncio.run(slack.click(round2[-1], "round_continue", user="U0002"))
            api.wait_for(lambda a: a.calls("files.completeUploadExternal"), 60, "the report")
        finally:
            assert second.stop() == 0, "".join(second.log)

    # the same thread, start to end; round 1 was not asked again after the restart
    assert [m for m in api.posts(CHANNEL) if m.thread_ts is None] == [parent]
    thread = api.thread(CHANNEL, parent.ts)
    assert any(m.text.startswith(f"Tuned {TASK}") for m in thread)
    assert len(rounds_posted(api, 1)) == 2 and len(rounds_posted(api, 2)) == asked + 1
    assert "<@U0002> decided: continue" in json.dumps(api.messages[(CHANNEL, round2[-1].ts)].blocks)
    # no model call answered before the kill was sent again
    leg2 = model.requests()[len(leg1):]
    assert [r for r in leg2 if json.dumps(r["body"], sort_keys=True) in answered_before] == []
    # the decisions, honoured and on record
    ((status,),) = rows(paths.store, "SELECT status FROM runs WHERE id = ?", run_id)
    assert status == "finished"
    assert rows(paths.store, "SELECT status FROM candidates WHERE run_id = ? AND id = ?",
                run_id, dropped) == [("dropped",)]
    added = rows(paths.store, "SELECT operator, n FROM candidates WHERE run_id = ? AND "
                 "messages_json LIKE ?", run_id, "%Reply with positive or negative only.%")
    assert len(added) == 1 and added[0][0] == "user" and added[0][1] > 0
    ((decision,),) = rows(paths.store, "SELECT decision_json FROM rounds WHERE run_id = ? AND "
                          "round = 1", run_id)
    on_record = json.loads(decision)
    assert on_record["drop"] == [dropped] and on_record["add"] == [ADDED]
    who = rows(paths.store, "SELECT reviewer, verdict, json_extract(meta_json, '$.round') FROM "
               "reviews WHERE run_id = ? ORDER BY id", run_id)
    assert who == [("U0001", "drop", 1), ("U0001", "add", 1), ("U0001", "continue", 1),
                   ("U0002", "continue", 2)]
    assert "Traceback" not in "".join(first.log + second.log)


# -- in one process: who may decide, time running out, stale buttons, the first message's button --


@asynccontextmanager
async def bot(paths: Paths, api: FakeSlackApi, **more: Any) -> AsyncIterator[SlackSender]:
    core = load_settings(config_file=paths.config)
    secrets = SlackSecrets(bot_token=SecretStr(BOT_TOKEN), signing_secret=SecretStr(SIGNING_SECRET))
    settings = bot_settings(paths, api).model_copy(update=more)
    built = build_bot(settings, core, secrets)
    server = HttpServer(built.bolt, "127.0.0.1", 0, "/slack/events")
    await server.start()
    try:
        yield SlackSender(server.url, SIGNING_SECRET, api)
    finally:
        await built.close()
        await server.stop()


def ephemerals(api: FakeSlackApi, user: str) -> list[str]:
    return [str(c.body.get("text")) for c in api.calls("chat.postEphemeral")
            if c.body.get("user") == user]


async def test_only_the_configured_reviewers_decide_and_a_closed_round_refuses_clicks(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model, rounds=2)
    with FakeSlackApi() as api:
        async with bot(paths, api, round_reviewers=["U0009"]) as slack:
            await slack.command(f"task:{TASK} --review")
            (round1,) = await api.until(lambda a: rounds_posted(a, 1), 30, "round 1")
            assert "Only <@U0009> may decide" in json.dumps(round1.blocks)
            stale = copy.deepcopy(round1)  # a client still showing the round's buttons
            await slack.click(round1, "round_stop", user="U0001")
            await api.until(lambda a: ephemerals(a, "U0001"), 10, "the refusal")
            assert "Only <@U0009>" in ephemerals(api, "U0001")[0]
            await slack.click(round1, "round_continue", user="U0009")
            await api.until(lambda a: rounds_posted(a, 2), 30, "round 2")
            await slack.click(stale, "round_stop", user="U0009")  # round 1 is over
            await api.until(lambda a: ephemerals(a, "U0009"), 10, "the stale click")
            assert "closed" in ephemerals(api, "U0009")[0]
            await slack.click(rounds_posted(api, 2)[0], "round_stop", user="U0009")
            await api.until(lambda a: a.calls("files.completeUploadExternal"), 30, "the report")
    store = paths.store
    assert [v for (v,) in rows(store, "SELECT verdict FROM reviews ORDER BY id")] == [
        "continue", "stop"]


async def test_without_a_decision_in_time_the_run_goes_on_with_what_is_marked(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model, rounds=2)
    with FakeSlackApi() as api:
        async with bot(paths, api, round_review_timeout_s=1.5) as slack:
            ack = (await slack.command(f"task:{TASK} --review")).json()
            run_id = ack["text"].split("`")[1]
            (round1,) = await api.until(lambda a: rounds_posted(a, 1), 30, "round 1")
            *_, dropped = droppable(round1)
            await slack.click(round1, "round_drop", block_id=f"round:{dropped}")
            await api.until(lambda a: a.calls("files.completeUploadExternal"), 30, "the report")
            closed = json.dumps(api.messages[(CHANNEL, round1.ts)].blocks)
    assert "No decision in time" in closed and f"dropped `{dropped}`" in closed
    assert rows(paths.store, "SELECT status FROM candidates WHERE run_id = ? AND id = ?",
                run_id, dropped) == [("dropped",)]
    assert len(rounds_posted(api, 2)) == 1  # asked, then timed out too


async def test_the_first_messages_button_turns_on_review_from_the_next_round(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    model = fake_server(latency=0.3)
    model.configure(**world())
    paths = write_world(tmp_path, model, rounds=2)
    with FakeSlackApi() as api:
        async with bot(paths, api) as slack:
            await slack.command(f"task:{TASK}")
            parent = await api.until(lambda a: [m for m in a.posts(CHANNEL) if m.thread_ts is None],
                                     10, "the run's first message")
            await slack.click(parent[0], "round_enable", user="U0002")
            (round1,) = await api.until(lambda a: rounds_posted(a, 1), 30, "round 1")
            assert any("<@U0002> turned on round review" in m.text for m in api.posts(CHANNEL))
            await slack.click(round1, "round_stop")
            await api.until(lambda a: a.calls("files.completeUploadExternal"), 30, "the report")
    assert not rounds_posted(api, 2)  # stopped after round 1, as decided


async def test_a_prompt_with_a_slot_no_example_fills_is_refused_in_the_modal(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model, rounds=1)
    with FakeSlackApi() as api:
        async with bot(paths, api) as slack:
            await slack.command(f"task:{TASK} --review")
            (round1,) = await api.until(lambda a: rounds_posted(a, 1), 30, "round 1")
            best = droppable(round1)[0]
            await slack.click(round1, "round_edit", block_id=f"round:{best}")
            opened = await api.until(lambda a: a.calls("views.open"), 10, "the Edit modal")
            view = {**opened[-1].body["view"], "id": "V0000002"}
            assert view["blocks"][1]["element"]["initial_value"] == GOOD
            bad = await slack.submit_view(view, {PROMPT_BLOCK: {PROMPT_INPUT: "Hi {{ author }}"}})
            assert bad.json()["response_action"] == "errors"
            assert "{{ author }}" in bad.json()["errors"][PROMPT_BLOCK]
            good = await slack.submit_view(view, {PROMPT_BLOCK: {PROMPT_INPUT: GOOD + " Thanks."}})
            assert good.status_code == 200 and good.text == ""
            again = await api.until(lambda a: rounds_posted(a, 1)[1:], 30, "round 1 again")
            await slack.click(again[0], "round_continue")
            await api.until(lambda a: a.calls("files.completeUploadExternal"), 30, "the report")
    edits = rows(paths.store, "SELECT parents_json, operator FROM candidates WHERE operator = 'edit'")
    assert edits == [(json.dumps([best]), "edit")]
