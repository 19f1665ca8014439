"""Block Kit for a round under review: the round's ranked candidates (score with CI, the diff
against the parent), Drop/Keep and Edit on each, then "Add a prompt", "Continue" and "Stop here";
and the modal in which a person writes or edits a prompt. Pure functions from data to JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

from core import ReviewEntry, RoundDecision, RoundReview, prompt_diff

from .blocks import INPUT_MAX, Block, code, context, cut, header, section

SHOWN = 8                     # candidates shown (Slack allows 50 blocks a message)
ROUND_ACTIONS = {"drop": "round_drop", "keep": "round_keep", "edit": "round_edit",
                 "add": "round_add", "continue": "round_continue", "stop": "round_stop",
                 "enable": "round_enable"}
ROUND_EDIT_CALLBACK, ROUND_ADD_CALLBACK = "round_edit_prompt", "round_add_prompt"
PROMPT_BLOCK, PROMPT_INPUT = "round_prompt", "round_prompt_text"
DIFF_CHARS = 1200


def round_value(run_id: str, number: int, candidate_id: str = "") -> str:
    """What a round's button carries: the run, the round and (on a candidate's) its id."""
    data: dict[str, Any] = {"run": run_id, "round": number}
    if candidate_id:
        data["cand"] = candidate_id
    return json.dumps(data, separators=(",", ":"))


def _button(action: str, text: str, value: str, style: str | None = None) -> Block:
    out: Block = {"type": "button", "action_id": ROUND_ACTIONS[action], "value": value,
                  "text": {"type": "plain_text", "text": text}}
    if style:
        out["style"] = style
    return out


def diff_text(entry: ReviewEntry) -> str:
    """The entry against its parent as changed lines (``-``/``+``), or its whole text."""
    if entry.parent_text is None or entry.is_original:
        return code(entry.text, DIFF_CHARS)
    lines = prompt_diff(entry.parent_text, entry.text, changes_only=True)
    if not lines:
        return "_same text as its parent_"
    return f"vs `{entry.parent_id}`:\n" + code("\n".join(lines), DIFF_CHARS)


def entry_blocks(entry: ReviewEntry, review: RoundReview, rank: int, dropped: bool,
                 dropped_by: str = "") -> list[Block]:
    made = "original" if entry.is_original else f"{entry.strategy}/{entry.operator}"
    tags = [t for t, on in (("new this round", entry.is_new), ("best", entry.id == review.best_id),
                            (entry.status, entry.status != "evaluated")) if on]
    title = (f"*#{rank}* `{entry.id}` · {made} · {entry.estimate.fmt()}"
             + (f" · _{', '.join(tags)}_" if tags else ""))
    if dropped:
        title = f"~{title}~ · dropped" + (f" by <@{dropped_by}>" if dropped_by else "")
    blocks: list[Block] = [section(f"{title}\n{diff_text(entry)}")]
    value = round_value(review.run_id, review.round, entry.id)
    buttons: list[Block] = []
    if not entry.is_original:
        buttons.append(_button("keep", "Keep", value) if dropped
                       else _button("drop", "Drop", value, "danger"))
    buttons.append(_button("edit", "Edit", value))
    blocks.append({"type": "actions", "block_id": f"round:{entry.id}", "elements": buttons})
    return blocks


def round_blocks(review: RoundReview, *, dropped: dict[str, str], deciders: Collection[str],
                 deadline: float, closed: str = "") -> list[Block]:
    """The round's message: ``dropped`` maps a candidate id to who dropped it; ``closed`` (the
    decision, once taken) replaces the buttons with what was decided."""
    spent = (f"{review.calls} of {review.max_calls} calls" if review.max_calls
             else f"{review.calls} calls")
    blocks: list[Block] = [header(f"Round {review.round} of {review.rounds}: your review"),
                           context(f"Run `{review.run_id}` · {spent} spent · scores are on the dev "
                                   "examples (95% interval, n)")]
    shown = list(review.entries[:SHOWN])
    for rank, entry in enumerate(shown, start=1):
        if closed:
            blocks.append(section(f"*#{rank}* `{entry.id}` · {entry.estimate.fmt()}"
                                  + (" · dropped" if entry.id in dropped else "")))
        else:
            blocks += entry_blocks(entry, review, rank, entry.id in dropped,
                                   dropped.get(entry.id, ""))
    if len(review.entries) > len(shown):
        blocks.append(context(f"{len(review.entries) - len(shown)} more candidates scored lower; "
                              "they stay in the race unless dropped"))
    if closed:
        blocks.append(section(closed))
        return blocks
    value = round_value(review.run_id, review.round)
    blocks.append({"type": "actions", "block_id": "round:decide", "elements": [
        _button("add", "Add a prompt", value),
        _button("continue", "Continue", value, "primary"),
        _button("stop", "Stop here", value, "danger")]})
    who = ("Only " + ", ".join(f"<@{u}>" for u in deciders) + " may decide." if deciders
           else "Anyone in this channel may decide.")
    when = time.strftime("%H:%M UTC", time.gmtime(deadline))
    blocks.append(context(f"{who} Without a decision by {when} the run continues with what is "
                          "marked here."))
    return blocks


def decision_text(decision: RoundDecision, user: str | None) -> str:
    """One line saying what was decided, and by whom (None: nobody, the time ran out)."""
    parts = []
    if decision.drop:
        parts.append("dropped " + ", ".join(f"`{c}`" for c in decision.drop))
    if decision.edits:
        parts.append("edited " + ", ".join(f"`{c}`" for c, _ in decision.edits))
    if decision.add:
        parts.append(f"added {len(decision.add)} prompt" + ("s" if len(decision.add) > 1 else ""))
    then = ("stop here" if decision.stop else "score the new prompts, then review again"
            if decision.edits or decision.add else "continue")
    what = (", ".join(parts) + "; " if parts else "") + then
    if user is None:
        return f":hourglass: No decision in time: the run goes on ({what})."
    return f":ballot_box_with_check: <@{user}> decided: {what}."


def prompt_modal(callback: str, review: RoundReview, candidate_id: str, text: str,
                 max_chars: int) -> Block:
    """The modal for a new prompt (``Add a prompt``) or an edit of a candidate's main message."""
    meta = json.dumps({"run": review.run_id, "round": review.round, "cand": candidate_id},
                      separators=(",", ":"))
    slots = ", ".join(f"`{{{{ {s} }}}}`" for s in review.inputs) or "none"
    element: Block = {"type": "plain_text_input", "action_id": PROMPT_INPUT, "multiline": True,
                      "max_length": min(INPUT_MAX, max_chars)}
    if text:
        element["initial_value"] = cut(text, min(INPUT_MAX, max_chars))
    editing = callback == ROUND_EDIT_CALLBACK
    note = (f"Editing `{candidate_id}`'s main message; the edit joins this round as its child."
            if editing else "A prompt of your own joins this round and is scored on the dev "
            "examples before the round goes on. Write the main message, or a whole prompt with "
            "`[system]` and `[user]` lines.")
    return {
        "type": "modal", "callback_id": callback, "private_metadata": meta,
        "title": {"type": "plain_text", "text": "Edit candidate" if editing else "Add a prompt"},
        "submit": {"type": "plain_text", "text": "Score it"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [context(f"{note} The examples fill: {slots}."),
                   {"type": "input", "block_id": PROMPT_BLOCK,
                    "label": {"type": "plain_text", "text": "Prompt"}, "element": element}],
    }


def enable_button(run_id: str) -> Block:
    """On a run's first message: make the run stop for the team's review after each round."""
    return {"type": "actions", "block_id": "round:enable", "elements": [
        _button("enable", "Review each round", json.dumps({"run": run_id}, separators=(",", ":")))]}
