"""What a run's safety screening found (``core.safety``), for the Markdown and HTML reports: read
from the stored result, so any past run's report shows it."""

from __future__ import annotations

from typing import Any

from ..history import RunView

COUNTS = (("prompts_flagged", "prompt flagged for injection"),
          ("inputs_flagged", "example inputs flagged for injection"),
          ("requests_refused", "requests refused"),
          ("answers_flagged", "answers flagged by the deny-list"),
          ("answers_blocked", "answers blocked (scored 0)"))


def safety_facts(view: RunView) -> dict[str, Any] | None:
    """The screening's settings and counts; None when the run screened nothing."""
    raw = (view.result or {}).get("safety")
    if not isinstance(raw, dict):
        return None
    if not _screened(raw):
        return None
    deny = [str(d) for d in raw.get("deny") or []]
    moderation = str(raw.get("moderation") or "")
    rows = [{"key": key, "count": int(raw.get(key) or 0),
             "label": label + (" or the moderation model" if moderation and
                               key == "answers_flagged" else "")} for key, label in COUNTS]
    return {"injection": str(raw.get("injection") or "off"), "deny": len(deny),
            "moderation": moderation, "block": bool(raw.get("block")),
            "rows": rows, "flagged": any(r["count"] for r in rows),
            "notes": [str(n) for n in raw.get("notes") or []],
            "line": safety_line(raw)}


def _screened(raw: Any) -> bool:
    return isinstance(raw, dict) and (str(raw.get("injection") or "off") != "off"
                                      or bool(raw.get("deny")) or bool(raw.get("moderation")))


def safety_line(raw: dict[str, Any]) -> str:
    """The counts in one line, as the fronts show them."""
    return (f"{int(raw.get('prompts_flagged') or 0) + int(raw.get('inputs_flagged') or 0)} "
            f"prompt/inputs flagged · {int(raw.get('requests_refused') or 0)} requests refused · "
            f"{int(raw.get('answers_flagged') or 0)} answers flagged · "
            f"{int(raw.get('answers_blocked') or 0)} blocked")


def safety_summary(raw: Any) -> str | None:
    """``Safety: …`` with the counts of a run's result (its ``safety`` entry), for the Slack
    thread and the editor; None when the run screened nothing.

    Examples:
        >>> from core import safety_summary
        >>> safety_summary({"injection": "report", "inputs_flagged": 2, "answers_flagged": 1})
        'Safety: 2 prompt/inputs flagged · 0 requests refused · 1 answers flagged · 0 blocked'
        >>> safety_summary({"injection": "off"}) is None
        True
    """
    if not _screened(raw):
        return None
    return f"Safety: {safety_line(raw)}"
