"""The Slack bot's pure parts: reading ``/tune`` texts, limits, settings, the ledger, redaction,
and Block Kit staying inside Slack's limits."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from core import ConfigError, Estimate, Message
from slack_bot import redact
from slack_bot.blocks import SECTION_MAX, candidate_blocks, history_blocks, report_blocks
from slack_bot.commands import (
    CancelCommand,
    CompareCommand,
    HelpCommand,
    HistoryCommand,
    StatusCommand,
    TuneCommand,
    UsageError,
    parse,
)
from slack_bot.ledger import Ledger, ThreadRecord
from slack_bot.limits import Running, check_capacity, resolve_budget
from slack_bot.report import CandidateLine, Paired, ReportData
from slack_bot.settings import BotLimits, SlackSecrets, load_bot_settings


@pytest.mark.parametrize(("text", "want"), [
    ("", HelpCommand()),
    ("help", HelpCommand()),
    ("status", StatusCommand()),
    ("cancel 20250101-120000-abc123", CancelCommand("20250101-120000-abc123")),
    ("history movie-sentiment", HistoryCommand("movie-sentiment")),
    ("compare sentiment v1 v4", CompareCommand("sentiment", "v1", "v4")),
    ("task:sentiment", TuneCommand(task_name="sentiment")),
    ("task:sentiment --target openai:gpt-4o-mini@http://h:1/v1 --budget 200 --strategy OPRO",
     TuneCommand(task_name="sentiment", target="openai:gpt-4o-mini@http://h:1/v1", budget=200,
                 strategy="opro")),
    ('Write a haiku about rain --task "a haiku, 5-7-5"',
     TuneCommand(prompt="Write a haiku about rain", description="a haiku, 5-7-5")),
    # Slack's curly quotes and HTML escapes; an apostrophe in the prompt; "--" inside text
    ("“Summarise the user&#39;s note &amp; keep -- short” --task “two lines”",
     TuneCommand(prompt="Summarise the user's note & keep -- short", description="two lines")),
    ("Write a poem about a cat's day --profile quick",
     TuneCommand(prompt="Write a poem about a cat's day", profile="quick")),
    ("[system]\nYou are terse.\n[user]\nSay hi --task greeting",
     TuneCommand(prompt="[system]\nYou are terse.\n[user]\nSay hi", description="greeting")),
])
def test_parse_reads_every_command_form(text: str, want: object) -> None:
    assert parse(text) == want


@pytest.mark.parametrize(("text", "says"), [
    ("task:sentiment --budget 0", "number of model calls"),
    ("task:sentiment --budget", "needs a value"),
    ("task:sentiment --task 'x'", "quick-form prompt"),
    ("Say hi --task a --task b", "given twice"),
    ("--task 'no prompt'", "give the prompt"),
    ("task:../../etc/passwd", "one task name"),
    ("compare sentiment v1 v1", "two different versions"),
    ("cancel", "needs the run id"),
    ("Say hi --profile turbo", "unknown profile"),
    ("Say hi --target open ai", "without spaces"),
])
def test_parse_refuses_with_the_fix(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says) as info:
        parse(text)
    assert "`" in str(info.value)  # it shows what to type


def test_capacity_checks_user_then_channel_then_total_then_daily_budgets() -> None:
    limits = BotLimits(runs_per_user=1, runs_per_channel=2, runs_total=3,
                       calls_per_user_per_day=500, calls_per_channel_per_day=800)
    mine = Running("r1", "U1", "C1")

    def check(running: list[Running], budget: int = 100, user_reserved: int = 0,
              channel_reserved: int = 0) -> str | None:
        return check_capacity(limits, user_id="U1", channel="C1", running=running, budget=budget,
                              user_reserved=user_reserved, channel_reserved=channel_reserved,
                              command="/tune")

    assert check([]) is None
    assert "already have 1 run" in (check([mine]) or "")
    assert "This channel already has 2" in (check([Running("a", "U2", "C1"),
                                                 Running("b", "U3", "C1")]) or "")
    assert "busy with 3 runs" in (check([Running(x, "U9", "C9") for x in "abc"]) or "")
    assert "daily cap of 500 (you have 50 left" in (check([], 100, user_reserved=450) or "")
    assert "channel over its daily cap" in (check([], 100, channel_reserved=750) or "")
    assert resolve_budget(limits, None) == (limits.calls_per_run, None)
    assert resolve_budget(limits, 10_000)[0] is None


def test_bot_settings_come_from_file_then_environment(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "prompt-tuner-slack.yaml"
    cfg.write_text("command: /tuner\nlimits: {runs_per_user: 3, allowed_channels: [C1]}\n")
    monkeypatch.setenv("PROMPT_TUNER_SLACK_LIMITS__RUNS_PER_USER", "5")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")
    settings = load_bot_settings(cwd=tmp_path)
    assert settings.command == "/tuner"
    assert settings.limits.runs_per_user == 5 and settings.limits.allowed_channels == ["C1"]
    secrets = SlackSecrets()
    assert secrets.bot_token is not None and "xoxb-from-env" not in repr(secrets)
    cfg.write_text("limts: {}\n")
    with pytest.raises(ConfigError, match="unknown bot setting 'limts'"):
        load_bot_settings(cwd=tmp_path)


def test_the_ledger_takes_a_request_once_and_remembers_threads(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "bot.db")
    assert ledger.claim("command:1.2.3") and not ledger.claim("command:1.2.3")
    rec = ThreadRecord(run_id="20250101-000000-aaaaaa", kind="tune", channel="C1", user_id="U1",
                       task_name="t", budget=50, request={"a": 1})
    ledger.add(rec)
    ledger.update(rec.run_id, thread_ts="1.1", progress_ts="1.2", status="running")
    ledger.close()
    again = Ledger(tmp_path / "bot.db")  # a restarted bot
    (back,) = again.unfinished()
    assert (back.thread_ts, back.progress_ts, back.request) == ("1.1", "1.2", {"a": 1})
    assert again.reserved_calls(time.time() - 60, user_id="U1") == 50
    assert again.reserved_calls(time.time() - 60, user_id="U2") == 0
    assert [r.run_id for r in again.find("20250101")] == [rec.run_id]
    again.close()


def test_log_records_never_carry_tokens(caplog: pytest.LogCaptureFixture) -> None:
    redact.install(["s3cr3t-signing-value"])
    caplog.set_level(logging.INFO)
    log = logging.getLogger("slack_bot.test")
    log.info("token %s and %s", "xoxb-123-456-abcdef", "s3cr3t-signing-value")
    try:
        raise ValueError("bad xapp-1-A0-123-zzz")
    except ValueError:
        log.exception("failed")
    assert "xoxb-123" not in caplog.text and "s3cr3t" not in caplog.text
    assert "xapp-1" not in caplog.text and caplog.text.count("[redacted]") == 3


def _line(cid: str, text: str, mean: float) -> CandidateLine:
    return CandidateLine(cid, "vary", Estimate(mean, max(0.0, mean - 0.2), min(1.0, mean + 0.2), 24),
                         False, (Message("user", text),))


def test_report_blocks_stay_inside_slack_limits_with_huge_prompts() -> None:
    huge = "Classify this review. " * 800
    orig, best = _line("aaaaaaaaaaaa", huge, 0.5), _line("bbbbbbbbbbbb", huge + " Be brief.", 0.8)
    data = ReportData(run_id="r", task_name="t" * 300, status="finished", improved=True,
                      original=orig, best=best, paired=Paired(24, 0.3, 0.1, 0.5, 0.004, "B"),
                      heldout=True, explanation="x" * 5000, calls=10, cache_hits=0, tokens=1,
                      cost=0.0, duration_s=1.0, top=[best, orig], diff="+" * 9000)
    blocks = report_blocks(data)
    assert len(blocks) <= 50
    for b in blocks:
        for text in [b.get("text", {}).get("text", "")] + [f["text"] for f in b.get("fields", [])]:
            assert len(text) <= SECTION_MAX
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
    shown = str(blocks)
    assert "(held out)" in shown and "+30 pts [+10, +50]" in shown and "0.004" in shown
    assert len(candidate_blocks(best, "r", 1)[0]["text"]["text"]) <= SECTION_MAX


def test_history_shows_each_version_with_its_reviews() -> None:
    rows = [{"id": "aaaaaaaaaaaa", "version": 1, "operator": "original", "approvals": 0,
             "rejections": 1, "latest_verdict": "reject"},
            {"id": "bbbbbbbbbbbb", "version": 2, "operator": "edit", "approvals": 1,
             "rejections": 0, "latest_verdict": "approve"}]
    reviews = [{"candidate_id": "bbbbbbbbbbbb", "reviewer": "U1", "verdict": "approve",
                "comment": "ship it", "created_at": 0.0}]
    text = str(history_blocks("t", rows, reviews, {"bbbbbbbbbbbb": Estimate(0.9, 0.7, 1.0, 20)}))
    assert "*v2* `bbbbbbbbbbbb` · edit · 90% [70%, 100%] (n=20) · 1 approved" in text
    assert "<@U1> approve · 1970-01-01 00:00 UTC: ship it" in text
    assert "*v1* `aaaaaaaaaaaa` · original · not scored" in text


@pytest.mark.parametrize(("args", "env", "says"), [
    ([], {}, "SLACK_BOT_TOKEN is not set"),
    ([], {"SLACK_BOT_TOKEN": "xoxb-1-2-abc"}, "SLACK_SIGNING_SECRET is not set"),
    (["--socket-mode"], {"SLACK_BOT_TOKEN": "xoxb-1-2-abc"}, "--socket-mode needs SLACK_APP_TOKEN"),
])
def test_the_console_script_refuses_missing_credentials_in_one_line(
    args: list[str], env: dict[str, str], says: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], cli_console: None
) -> None:
    from slack_bot.app import main

    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main([*args, "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and err[0].startswith("prompt-tuner-slack: error:")
    assert "xoxb-1-2-abc" not in err[0]


@pytest.mark.parametrize("text", [
    "short prompt {{ text }}",
    "\n".join(f"line {i} " + "x" * 70 for i in range(50)),   # 3,9xx characters in lines
    "y" * 3500,                                              # one line longer than a box
    "a" * 2999 + "\n" + "b" * 10 + "\n" + "c" * 3100,         # a break at the edge, then a long line
])
def test_the_edit_modal_holds_a_whole_prompt_and_joins_it_back(text: str) -> None:
    import json

    from slack_bot.blocks import EDIT_INPUT, INPUT_MAX, edit_modal, edited_text

    view = edit_modal("r", "c", text, "C1", "1.1", max_chars=4000)
    boxes = [b for b in view["blocks"] if b["type"] == "input" and b["element"]["action_id"] == EDIT_INPUT]
    assert len(boxes) >= 2  # room for a prompt of max_prompt_chars
    values = {b["block_id"]: {EDIT_INPUT: {"value": b["element"].get("initial_value")}} for b in boxes}
    for b in boxes:
        assert len(b["element"].get("initial_value") or "") <= INPUT_MAX == b["element"]["max_length"]
    joins = json.loads(view["private_metadata"])["joins"]
    assert edited_text(values, joins) == text  # nothing cut, nothing added
    assert len(view["private_metadata"]) <= 3000


def test_bot_targets_are_aliases_and_default_is_reserved(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text("targets:\n  Small: openai:gpt-4o-mini\n", encoding="utf-8")
    monkeypatch.setenv("PROMPT_TUNER_SLACK_TARGETS__LOCAL", "openai:llama@http://llama:8080/v1")
    assert load_bot_settings(path).targets == {"small": "openai:gpt-4o-mini",  # the two merge
                                               "local": "openai:llama@http://llama:8080/v1"}
    monkeypatch.delenv("PROMPT_TUNER_SLACK_TARGETS__LOCAL")
    assert load_bot_settings(path).targets == {"small": "openai:gpt-4o-mini"}
    for bad, says in (("default: openai:x", "always the core's models.target"),
                      ("'a b': openai:x", "is not an alias"), ("x: 'openai:a b'", "without spaces")):
        path.write_text(f"targets:\n  {bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=says):
            load_bot_settings(path)


def test_slack_credentials_that_are_blank_are_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", " \n")
    monkeypatch.setenv("SLACK_BOT_TOKEN", " xoxb-1-2-abc\n")
    monkeypatch.setenv("SLACK_APP_TOKEN", "")
    secrets = SlackSecrets()
    assert secrets.signing_secret is None and secrets.app_token is None
    assert secrets.bot_token is not None and secrets.bot_token.get_secret_value() == "xoxb-1-2-abc"


def test_posts_are_scrubbed_of_every_model_key() -> None:
    from pydantic import SecretStr

    from core import Secrets

    keys = Secrets(openai_api_key=SecretStr("sk-open-123456"), hf_token=SecretStr("hf_abcdefgh"))
    values = redact.secret_values(keys)
    assert set(values) == {"sk-open-123456", "hf_abcdefgh"}
    redact.install(values)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "said sk-open-123456"}},
              {"type": "context", "elements": [{"text": "hf_abcdefgh and xoxb-1-2-abc"}]}]
    assert "sk-open" not in str(redact.scrub(blocks)) and "hf_abc" not in str(redact.scrub(blocks))
    assert "xoxb-1" not in str(redact.scrub(blocks))


def test_the_budget_check_fits_dev_to_the_budget_as_the_engine_does() -> None:
    """The engine scores as much of dev as the budget affords (never fewer than 24); the bot's
    ack-time check must judge the same plan, not all of a large dev split."""
    from core import Example, Settings, Task
    from slack_bot.commands import UsageError
    from slack_bot.slash import check_plan

    examples = tuple(Example(inputs={"text": f"t{i}"}, expected="yes" if i % 2 else "no")
                     for i in range(300))
    task = Task(name="big", messages=(Message("user", "{{ text }}"),), examples=examples,
                metric="exact", splits={"train": tuple(range(100)), "dev": tuple(range(100, 200)),
                                        "test": tuple(range(200, 300))})
    settings = Settings.model_validate({"budget": {"max_calls": 150}})
    check_plan(task, settings, 150)  # enough for 24 dev examples: accepted
    with pytest.raises(UsageError, match="cannot compare even two prompts"):
        check_plan(task, Settings.model_validate({"budget": {"max_calls": 20}}), 20)
