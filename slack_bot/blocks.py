"""Block Kit for every message and view the bot sends. Pure functions from data to JSON-ready
dicts, kept inside Slack's limits (3,000 characters a section, 10 fields, 50 blocks)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from core import Estimate, PairedComparison

from .report import CandidateLine, Paired, ReportData

Block = dict[str, Any]
SECTION_MAX = 3000
FIELD_MAX = 2000
ACTIONS = {"approve": "review_approve", "reject": "review_reject",
           "evaluate": "review_evaluate", "edit": "review_edit"}
EDIT_CALLBACK = "edit_candidate"
EDIT_BLOCK, EDIT_INPUT = "prompt", "prompt_text"
COMMENT_BLOCK, COMMENT_INPUT = "comment", "comment_text"
INPUT_MAX = 3000  # the most a plain_text_input holds


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: str, limit: int = SECTION_MAX - 200) -> str:
    body = cut(text.replace("```", "'''"), limit)
    return f"```{body}```"


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_MAX)}}


def fields(*items: str) -> Block:
    return {"type": "section",
            "fields": [{"type": "mrkdwn", "text": cut(t, FIELD_MAX)} for t in items[:10]]}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, SECTION_MAX)}]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, 150)}}


def divider() -> Block:
    return {"type": "divider"}


def points(value: float) -> str:
    return f"{value * 100:+.0f} pts"


def fmt_diff(c: PairedComparison | Paired) -> str:
    return f"{points(c.diff)} [{c.diff_low * 100:+.0f}, {c.diff_high * 100:+.0f}]"


def button_value(run_id: str, candidate_id: str) -> str:
    return json.dumps({"run": run_id, "cand": candidate_id}, separators=(",", ":"))


def review_buttons(run_id: str, candidate_id: str, *, evaluate: bool = True,
                   edit: bool = True) -> Block:
    value = button_value(run_id, candidate_id)
    elements: list[Block] = [
        {"type": "button", "action_id": ACTIONS["approve"], "style": "primary", "value": value,
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": ACTIONS["reject"], "style": "danger", "value": value,
         "text": {"type": "plain_text", "text": "Reject"}},
    ]
    if evaluate:
        elements.append({"type": "button", "action_id": ACTIONS["evaluate"], "value": value,
                         "text": {"type": "plain_text", "text": "Evaluate on more examples"}})
    if edit:
        elements.append({"type": "button", "action_id": ACTIONS["edit"], "value": value,
                         "text": {"type": "plain_text", "text": "Edit"}})
    return {"type": "actions", "block_id": f"cand:{candidate_id}", "elements": elements}


# -- a run ----------------------------------------------------------------------------------------

def parent_text(user_id: str, what: str, run_id: str) -> str:
    return f"<@{user_id}> started {what} · run `{run_id}`. Progress and the report follow in this thread."


def candidate_blocks(c: CandidateLine, run_id: str, rank: int, label: str = "") -> list[Block]:
    made_by = c.operator or "original"
    tag = f" · {label}" if label and label != made_by else ""
    title = (f"*#{rank}* `{c.id}`{tag} · {made_by} · {c.estimate.fmt()}"
             + (" (partial)" if c.partial else ""))
    return [section(f"{title}\n{code(c.text(), 1500)}"), review_buttons(run_id, c.id)]


def report_blocks(data: ReportData) -> list[Block]:
    where = " (held out)" if data.heldout else ""
    score_fields = [f"*Original* `{data.original.id}`{where}\n{data.original.estimate.fmt()}",
                    f"*Winner* `{data.best.id}`{where}\n{data.best.estimate.fmt()}"]
    if data.paired is not None:
        p = data.paired
        score_fields += [f"*Paired difference (winner − original)*\n{fmt_diff(p)}",
                         f"*p-value*\n{p.p_value:.3g} (paired permutation test, n={p.n})"]
    else:
        score_fields += ["*Paired difference*\nnone: the original is kept",
                         "*p-value*\nn/a (no challenger won)"]
    cost = f"{data.calls} calls · {data.cache_hits} cached · {data.tokens:,} tokens · ${data.cost:.4f}"
    score_fields += [f"*Cost*\n{cost}", f"*Time*\n{data.duration_s:.1f} s"]
    verdict = ":trophy: A better prompt was found." if data.improved else \
        ":information_source: No candidate beat the original; it is kept."
    blocks: list[Block] = [
        header(f"Tuning report: {data.task_name}"),
        section(verdict + ("" if data.status == "finished" else f" (status: {data.status})")),
        fields(*score_fields),
        context(data.explanation + (" Scores are on held-out examples the search never saw."
                                    if data.heldout else " Scores are measured on the examples "
                                    "the search used; confirm small differences on more examples.")),
    ]
    if data.improved:
        blocks.append(section("*Winner vs original*\n" + code(data.diff or "(same text)", 2600)))
    blocks += [divider(), section(f"*Top {len(data.top)} candidates* — review them here")]
    for rank, c in enumerate(data.top, start=1):
        label = "original" if c.id == data.original.id else ("winner" if c.id == data.best.id else "")
        blocks += candidate_blocks(c, data.run_id, rank, label)
    if data.safety:
        blocks.append(context(":shield: " + data.safety))
    if data.warnings:
        blocks.append(context(":warning: " + " · ".join(data.warnings)))
    return blocks[:50]


def failure_text(run_id: str, message: str) -> str:
    return f":x: Run `{run_id}` stopped: {message}"


# -- reviews, evaluations, A/B tests --------------------------------------------------------------

def review_text(user_id: str, verdict: str, candidate_id: str, version: int | None) -> str:
    word = {"approve": "approved :white_check_mark:", "reject": "rejected :no_entry_sign:"}[verdict]
    v = f" (v{version})" if version else ""
    return f"<@{user_id}> {word} `{candidate_id}`{v}"


def evaluation_blocks(candidate_id: str, est: Estimate, before: Estimate | None, n_all: int,
                      outcomes: dict[str, int]) -> list[Block]:
    was = f" (in the run: {before.fmt()})" if before is not None else ""
    tally = " · ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    text = f"*`{candidate_id}` on {n_all} examples:* {est.fmt()}{was}"
    return [section(text), context(f"outcomes: {tally}")] if tally else [section(text)]


def comparison_blocks(title: str, name_a: str, est_a: Estimate, name_b: str, est_b: Estimate,
                      c: PairedComparison, verdict: str) -> list[Block]:
    return [
        section(f"*{title}*"),
        fields(f"*A* {name_a}\n{est_a.fmt()}", f"*B* {name_b}\n{est_b.fmt()}",
               f"*Difference (B − A)*\n{fmt_diff(c)}",
               f"*p-value*\n{c.p_value:.3g} (paired permutation test, n={c.n})"),
        section(f"*Verdict:* {verdict}"),
    ]


def split_for_inputs(text: str) -> tuple[list[str], list[str]]:
    """``text`` in pieces of at most ``INPUT_MAX`` characters, and how each joins the one before:
    at a line break when there is one (the break itself is the join), else mid-line (no join)."""
    pieces: list[str] = []
    joins: list[str] = []
    rest = text
    while len(rest) > INPUT_MAX:
        at = rest.rfind("\n", 0, INPUT_MAX + 1)
        if at > 0:
            pieces.append(rest[:at])
            joins.append("\n")
            rest = rest[at + 1:]
        else:
            pieces.append(rest[:INPUT_MAX])
            joins.append("")
            rest = rest[INPUT_MAX:]
    pieces.append(rest)
    return pieces, joins


def edit_block_id(part: int) -> str:
    """The input block of the ``part``-th piece (0-based) of the prompt in the edit modal."""
    return EDIT_BLOCK if part == 0 else f"{EDIT_BLOCK}_{part + 1}"


def edit_modal(run_id: str, candidate_id: str, text: str, channel: str, thread_ts: str,
               max_chars: int = 4000) -> Block:
    """The Edit modal. A Slack text input holds at most 3,000 characters, so a longer prompt is
    shown in several inputs (enough for the whole prompt and for ``max_chars``), joined again on
    submit as ``private_metadata`` says (``edited_text``): nothing is cut."""
    pieces, joins = split_for_inputs(text)
    count = max(len(pieces), -(-max_chars // INPUT_MAX))
    joins += ["\n"] * (count - len(pieces))
    meta = json.dumps({"run": run_id, "cand": candidate_id, "channel": channel,
                       "thread_ts": thread_ts, "joins": joins}, separators=(",", ":"))
    inputs: list[Block] = []
    for part in range(count):
        element: Block = {"type": "plain_text_input", "action_id": EDIT_INPUT, "multiline": True,
                          "max_length": INPUT_MAX}
        if part < len(pieces) and pieces[part]:
            element["initial_value"] = pieces[part]
        label = "Prompt" if count == 1 else f"Prompt, part {part + 1} of {count}"
        block: Block = {"type": "input", "block_id": edit_block_id(part),
                        "label": {"type": "plain_text", "text": label}, "element": element}
        if part:
            block["optional"] = True
            block["hint"] = {"type": "plain_text", "text": (
                "Joined to the part above on a new line." if joins[part - 1] == "\n"
                else "Continues the part above directly, with no line break.")}
        inputs.append(block)
    return {
        "type": "modal", "callback_id": EDIT_CALLBACK, "private_metadata": meta,
        "title": {"type": "plain_text", "text": "Edit candidate"},
        "submit": {"type": "plain_text", "text": "Save and evaluate"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            context(f"Editing `{candidate_id}`. Lines `[system]` and `[user]` start chat turns; "
                    "keep the `{{ slots }}` the task's examples fill."
                    + (" A long prompt spans several boxes." if count > 1 else "")),
            *inputs,
            {"type": "input", "block_id": COMMENT_BLOCK, "optional": True,
             "label": {"type": "plain_text", "text": "Why this edit (optional)"},
             "element": {"type": "plain_text_input", "action_id": COMMENT_INPUT}},
        ],
    }


def edited_text(values: dict[str, Any], joins: Sequence[str]) -> str:
    """The prompt a submitted edit modal holds: its pieces joined as the modal said (an emptied
    piece drops out with its join)."""
    text = ""
    for part in range(len(joins) + 1):
        piece = ((values.get(edit_block_id(part)) or {}).get(EDIT_INPUT) or {}).get("value") or ""
        if not piece:
            continue
        text = text + joins[part - 1] + piece if text and part else text + piece
    return text


# -- history and status --------------------------------------------------------------------------

def history_blocks(task_name: str, rows: Sequence[dict[str, Any]],
                   reviews: Sequence[dict[str, Any]], scores: dict[str, Estimate]) -> list[Block]:
    if not rows:
        return [section(f"No versions of `{task_name}` yet. Start one with `task:{task_name}`.")]
    by_cand: dict[str, list[dict[str, Any]]] = {}
    for r in reviews:
        by_cand.setdefault(r["candidate_id"], []).append(r)
    blocks: list[Block] = [header(f"Versions of {task_name}")]
    shown = list(rows)[-20:]
    if len(rows) > len(shown):
        blocks.append(context(f"showing the latest {len(shown)} of {len(rows)} versions"))
    for row in shown:
        est = scores.get(row["id"])
        score = est.fmt() if est is not None else "not scored"
        verdict = {"approve": " :white_check_mark:", "reject": " :no_entry_sign:"}.get(
            row.get("latest_verdict") or "", "")
        lines = [f"*v{row['version']}* `{row['id']}` · {row.get('operator') or 'original'} · "
                 f"{score} · {row['approvals']} approved, {row['rejections']} rejected{verdict}"]
        for r in by_cand.get(row["id"], [])[-3:]:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["created_at"]))
            comment = f": {cut(r['comment'], 200)}" if r.get("comment") else ""
            lines.append(f"  • <@{r['reviewer']}> {r['verdict']} · {when} UTC{comment}")
        blocks.append(section("\n".join(lines)))
    return blocks[:50]


def help_text(command: str) -> str:
    c = command
    return "\n".join([
        "*prompt-tuner* tunes prompts for small models and posts a scored report in a thread.",
        f"• `{c} <prompt> --task \"what it is for\"` — tune a prompt (quick form, judged 0-10)",
        f"• `{c} task:<name>` — tune a task file from the bot's task folder",
        "   options: `--target NAME` `--strategy refine` `--budget CALLS` `--profile quick|thorough`"
        " `--review` (stop after each round for the team's review)",
        f"• `{c} history <task>` — versions with scores and reviews",
        f"• `{c} compare <task> <vA> <vB>` — A/B test two versions, answered in a thread",
        f"• `{c} ab <task> --strategies refine,fewshot [--seeds 2]` — which strategy tunes it "
        "best, on held-out examples",
        f"• `{c} status` — runs in progress · `{c} cancel <run>` — stop one",
    ])
