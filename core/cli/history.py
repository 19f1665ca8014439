"""``prompt-tuner lineage`` and ``prompt-tuner diff``: a run's candidates as a tree of who came from
whom, and word diffs between two of its prompts.

Styled text is built as ``rich.text.Text`` (no markup is parsed, so prompt text prints as it is);
on plain output (a pipe, a log) diffs use ``[-deleted-]{+inserted+}`` markers instead of colour.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from core import (
    LineageNode,
    PromptTunerError,
    Settings,
    Store,
    candidate_extras,
    candidate_parents,
    candidate_text,
    find_version,
    resolve_candidate,
    resolve_run_id,
    run_lineage,
    walk_lineage,
    word_diff,
)

from .termcharts import emit_json

COMMANDS = ("lineage", "diff")
_NOTE_WIDTH = 60
_RUN_HELP = "a run id, a unique prefix of one, or `last` (see `prompt-tuner runs`)"


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``lineage`` and ``diff`` to the CLI's subcommands; ``common`` adds --profile/--config/
    --store."""
    lg = sub.add_parser("lineage", help="the tree of a run's candidates, with their scores",
                        description="Show every candidate of a run under the one it came from "
                        "(a crossover under its first parent), with operator, generation and "
                        "score; the original and the best are marked.")
    lg.add_argument("run_id", metavar="RUN_ID", help=_RUN_HELP)
    common(lg)
    lg.add_argument("--json", action="store_true", help="print the nodes as one JSON list")

    d = sub.add_parser("diff", help="word diff of a candidate against its parent or another one",
                       description="Word diff of CANDIDATE against OTHER, or against its first "
                       "parent when OTHER is left out. A candidate is an id, a unique prefix of "
                       "4+ characters, `original` or `best`.")
    d.add_argument("run_id", metavar="RUN_ID", help=_RUN_HELP)
    d.add_argument("candidate", metavar="CANDIDATE", help="the newer prompt")
    d.add_argument("other", metavar="OTHER", nargs="?",
                   help="the prompt to compare against (default: CANDIDATE's first parent)")
    common(d)
    d.add_argument("--json", action="store_true", help="print the segments as JSON")


def run(args: argparse.Namespace, out: Console, settings: Settings) -> int:
    """Run ``lineage`` or ``diff``. User mistakes raise ``PromptTunerError`` (one line, exit 2 in
    the CLI's main)."""
    if args.command not in COMMANDS:
        raise PromptTunerError(f"unknown command {args.command}", "see `prompt-tuner --help`")
    store = Store.existing(settings.store_file())
    try:
        run_id = resolve_run_id(store, args.run_id)  # a full id, a unique prefix, or `last`
        if args.command == "lineage":
            return _lineage(store, run_id, args, out)
        return _diff(store, run_id, args, out)
    finally:
        store.close()


# -- lineage ----------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "?" if x is None else f"{x:.0%}"


def score_text(node: LineageNode) -> str:
    """``72% [60%, 82%] n=40``, or ``unevaluated``."""
    if not node.evaluated:
        return "unevaluated"
    return f"{_pct(node.score)} [{_pct(node.ci_low)}, {_pct(node.ci_high)}] n={node.n}"


def _short(text: str, width: int = _NOTE_WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _kind(node: LineageNode) -> str:
    """``vary (refine, gen 1)``; the strategy is left out when it says the same as the operator."""
    gen = f"gen {node.generation}" if node.generation is not None else "gen ?"
    inside = gen if node.strategy in ("", node.operator) else f"{node.strategy}, {gen}"
    return f"{node.operator or '?'} ({inside})"


def node_label(node: LineageNode) -> Text:
    if node.external:
        label = Text.assemble((node.id, "bold"), (" not in this run", "dim"))
        if node.secondary_of:
            label.append(f" · also a parent of {', '.join(node.secondary_of)}", "dim")
        return label
    dim = node.status != "evaluated"
    label = Text(style="dim" if dim else "")
    label.append(node.id, "bold cyan" if not dim else "bold")
    label.append(f" {_kind(node)}: ")
    label.append(score_text(node), "" if dim else "bold")
    if node.status not in ("evaluated", "proposed"):
        label.append(f" ({node.status})")
    if node.is_original:
        label.append("  ◆ original", "bold blue")
    if node.is_best:
        label.append("  ★ best", "bold green")
    if node.other_parents:
        label.append(f"  × also from {', '.join(node.other_parents)}", "magenta")
    if node.note:
        label.append(f"  — {_short(node.note)}", "dim")
    return label


def _header(store: Store, run_id: str, roots: list[LineageNode]) -> Text:
    run = store.get_run(run_id)
    count = sum(1 for _, n in walk_lineage(roots) if not n.external)
    return Text.assemble(("run ", "bold"), (run_id, "bold"),
                         f" · {run.get('task_name') or '?'} · {run.get('status') or '?'} · "
                         f"{count} candidates")


def lineage_tree(store: Store, run_id: str, roots: list[LineageNode]) -> Tree:
    """The tree for a terminal (labels wrap under their guides)."""
    tree = Tree(_header(store, run_id, roots), guide_style="dim")
    stack = [(tree, node) for node in reversed(roots)]
    while stack:
        parent, node = stack.pop()
        branch = parent.add(node_label(node))
        stack.extend((branch, child) for child in reversed(node.children))
    return tree


def lineage_lines(store: Store, run_id: str, roots: list[LineageNode]) -> list[str]:
    """The tree as plain lines, one per node however long (for pipes and logs)."""
    lines = [_header(store, run_id, roots).plain]
    stack = [(node, "", i == 0) for i, node in enumerate(reversed(roots))]
    while stack:
        node, prefix, last = stack.pop()
        lines.append(prefix + ("└── " if last else "├── ") + node_label(node).plain)
        below = prefix + ("    " if last else "│   ")
        stack.extend((child, below, i == 0) for i, child in enumerate(reversed(node.children)))
    return lines


def _lineage(store: Store, run_id: str, args: argparse.Namespace, out: Console) -> int:
    roots = run_lineage(store, run_id)
    if args.json:
        emit_json(out, [node.to_json(depth) for depth, node in walk_lineage(roots)])
        return 0
    if out.is_terminal:
        out.print(lineage_tree(store, run_id, roots))
    else:
        for line in lineage_lines(store, run_id, roots):
            out.out(line, highlight=False)
    if not roots:
        out.print(Text("(no candidates stored for this run)", "dim"))
    return 0


# -- diff -------------------------------------------------------------------------------------------


def _summary(row: dict[str, Any], in_run: bool) -> dict[str, Any]:
    return {key: row.get(key) for key in ("id", "operator", "strategy", "generation", "status",
                                          "score", "ci_low", "ci_high", "n", "note")} | {
        "parents": candidate_parents(row), "extras": candidate_extras(row), "in_run": in_run}


def _side(row: dict[str, Any], in_run: bool) -> Text:
    node = LineageNode(id=str(row["id"]), operator=row.get("operator") or "",
                strategy=row.get("strategy") or "", generation=row.get("generation"),
                score=row.get("score"), ci_low=row.get("ci_low"), ci_high=row.get("ci_high"),
                n=row.get("n"))
    text = Text.assemble((node.id, "bold cyan"), f" {_kind(node)} ", (score_text(node), "bold"))
    if not in_run:
        text.append(" (from another run)", "dim")
    return text


def _against(store: Store, run_id: str, new: dict[str, Any], other: str | None
             ) -> tuple[dict[str, Any], bool]:
    """The row to diff against, and whether it is one of the run's candidates."""
    if other is not None:
        return resolve_candidate(store, run_id, other), True
    parents = candidate_parents(new)
    if not parents:
        what = ("is the original prompt of" if new["operator"] == "original"
                or store.get_run(run_id).get("original_id") == new["id"] else "has no parent in")
        raise PromptTunerError(
            f"{new['id']} {what} run {run_id}: there is no parent to diff it against",
            f"give another candidate to compare with: `prompt-tuner diff {run_id} {new['id']} best`")
    pid = parents[0]
    in_run = [r for r in store.candidates(run_id) if r["id"] == pid]
    if in_run:
        return in_run[0], True
    found = find_version(store, pid)
    if found is None:
        raise PromptTunerError(f"the parent {pid} of {new['id']} is not in the store",
                               "give another candidate of the run to compare with")
    return found, False


def diff_text(segments: list[tuple[str, str]], *, plain: bool) -> Text:
    """The diff as one text: red strike-through deletions and green insertions, or, ``plain``,
    ``[-deleted-]{+inserted+}`` markers."""
    text = Text()
    for op, part in segments:
        if op == "equal":
            text.append(part)
        elif plain:
            text.append(f"[-{part}-]" if op == "delete" else f"{{+{part}+}}")
        else:
            text.append(part, "red strike" if op == "delete" else "green")
    return text


def _words(segments: list[tuple[str, str]], op: str) -> int:
    return sum(len(part.split()) for kind, part in segments if kind == op)


def _diff(store: Store, run_id: str, args: argparse.Namespace, out: Console) -> int:
    new = resolve_candidate(store, run_id, args.candidate)
    old, old_in_run = _against(store, run_id, new, args.other)
    segments = word_diff(candidate_text(old), candidate_text(new))
    if args.json:
        emit_json(out, {"run_id": run_id, "old": _summary(old, old_in_run),
                         "new": _summary(new, True),
                         "segments": [{"op": op, "text": part} for op, part in segments]})
        return 0
    plain = not out.is_terminal
    header = _side(old, old_in_run)
    header.append(" → ")
    header.append_text(_side(new, True))
    out.print(header, soft_wrap=plain)
    if new.get("note"):
        out.print(Text(f"note: {_short(new['note'], 200)}", "dim"), soft_wrap=plain)
    changed = any(op != "equal" for op, _ in segments)
    summary = (f"{_words(segments, 'delete')} words deleted, {_words(segments, 'insert')} inserted"
               if changed else "no differences in the text")
    out.print(Text(summary, "dim"), soft_wrap=plain)
    out.print()
    out.print(diff_text(segments, plain=plain), soft_wrap=plain)
    return 0
