"""``prompt-tuner runs``, ``show RUN_ID``, ``export RUN_ID``, ``versions TASK``: the run history in
the terminal, read from the store.

Tables fit 100 columns; on a pipe rich prints them without control codes. ``--json`` prints one
JSON document; ``export`` writes CSV or JSON lines (to stdout, or ``--output FILE``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from core import (
    EXPORT_FIELDS,
    PromptTunerError,
    RunSummary,
    Settings,
    Store,
    VersionView,
    export_rows,
    is_regular_file,
    list_runs,
    load_run,
    load_task,
    resolve_run_id,
    task_versions,
)

from .checks import positive
from .show import print_show
from .termcharts import emit, emit_json
from .termcharts import table as new_table

COMMANDS = ("runs", "show", "export", "versions")
FORMATS = ("csv", "jsonl")
PREVIEW = 60


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``runs``, ``show``, ``export`` and ``versions``; ``common`` adds --profile/--config/
    --store."""
    r = sub.add_parser("runs", help="list past runs, newest first",
                       description="Past runs, newest first: date, task, target, baseline → "
                       "best score, whether the gain is significant, and what the run cost.")
    r.add_argument("--task", metavar="NAME", help="only the runs of this task")
    r.add_argument("--limit", type=positive, default=20, metavar="N",
                   help="show at most N runs (default 20)")
    common(r)
    r.add_argument("--json", action="store_true", help="print the runs as one JSON list")

    s = sub.add_parser("show", help="a run's result, rounds, leaderboard, prompt and cost",
                       description="Show a stored run: status, task and models, baseline → best "
                       "with 95% intervals and the paired test, the best score after each "
                       "round, the top candidates, the winning prompt and the cost. RUN_ID is "
                       "an id, a unique prefix of one, or `last`.")
    s.add_argument("run_id", metavar="RUN_ID", help="a run id (see `prompt-tuner runs`) or `last`")
    s.add_argument("--top", type=positive, default=10, metavar="N",
                   help="candidates in the leaderboard (default 10)")
    common(s)

    e = sub.add_parser("export", help="every scored answer of a run as CSV or JSON lines",
                       description="Write every evaluation of a run (one scored answer each: "
                       "candidate, split, example, inputs, expected, answer, score, tokens, "
                       "latency) as CSV or JSON lines, to stdout or --output FILE.")
    e.add_argument("run_id", metavar="RUN_ID", help="a run id (see `prompt-tuner runs`) or `last`")
    e.add_argument("--format", choices=FORMATS, default=None,
                   help="csv (default) or jsonl; taken from --output's suffix when left out")
    e.add_argument("--output", "-o", type=Path, metavar="FILE",
                   help="write to FILE instead of stdout")
    common(e)

    v = sub.add_parser("versions", help="how a task's prompt evolved across runs",
                       description="Every prompt ever tried for a task, across all its runs, as "
                       "numbered versions with their parent version, operator, best score, the "
                       "runs that returned it and its reviews.")
    v.add_argument("task", metavar="TASK", help="a task name, or a task file")
    common(v)
    v.add_argument("--json", action="store_true", help="print the versions as one JSON list")


def run(args: argparse.Namespace, out: Console, settings: Settings) -> int:
    """Run one of ``COMMANDS``. User mistakes raise ``PromptTunerError`` (one line, exit 2 in the
    CLI's main)."""
    if args.command not in COMMANDS:
        raise PromptTunerError(f"unknown command {args.command}", "see `prompt-tuner --help`")
    store = Store.existing(settings.store_file())
    try:
        return _dispatch(store, args, out)
    except BrokenPipeError:  # `prompt-tuner export RUN | head`: the reader has all it wants
        _quiet_stdout(out)
        return 0
    finally:
        store.close()


def _quiet_stdout(out: Console) -> None:
    """After a broken pipe, send what is left for stdout (Python flushes it at exit) nowhere."""
    if out.file is sys.stdout:
        with contextlib.suppress(OSError, ValueError):  # no real file descriptor behind it
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _dispatch(store: Store, args: argparse.Namespace, out: Console) -> int:
    if args.command == "runs":
        return _runs(store, args, out)
    if args.command == "show":
        print_show(out, load_run(store, args.run_id), top=args.top)
        return 0
    if args.command == "export":
        return _export(store, args, out)
    return _versions(store, args, out)


def _short(text: str, width: int = PREVIEW) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# -- runs -------------------------------------------------------------------------------------------


UNFINISHED = ("running", "interrupted", "failed")


def _model(spec: str, short: bool = False) -> str:
    """The model without its endpoint: ``openai:llama3@http://host:8080/v1`` → ``openai:llama3``
    (``short``: ``llama3``)."""
    name = spec.partition("@")[0]
    return name.partition(":")[2] or name if short else name


def _change(s: RunSummary) -> Text:
    """``50% → 75%``, with ``*`` when the numbers are not held-out ones."""
    if s.baseline is None:
        return Text("—", "dim")
    best = s.best or s.baseline
    text = Text(f"{s.baseline.mean:.0%} → ")
    text.append(f"{best.mean:.0%}", "bold green" if s.significant else "")
    if not s.heldout:
        text.append("*", "dim")
    return text


def _significance(s: RunSummary) -> Text:
    if s.status in UNFINISHED:
        return Text(s.status, "yellow")
    if s.p_value is None:
        return Text("no gain", "dim")
    p = f"p={s.p_value:.2g}"
    return Text(f"yes {p}", "green") if s.significant else Text(f"no {p}", "yellow")


def runs_table(summaries: list[RunSummary], width: int = 100) -> Table:
    """One row a run. Task and target share what the other columns leave; when that is too
    little the date goes (a run id starts with it) and the target loses its provider, then the
    target goes."""
    costs = any(s.cost for s in summaries)
    fixed = 22 + 15 + 11 + 5 + (8 if costs else 0) + 2 * (6 + costs)  # widths and gaps
    dated = width - fixed - 12 >= 16
    room = width - fixed - (12 if dated else 0)
    targeted = room >= 14
    if not targeted:
        room += 2
    task_w = max(4, min(max(len(s.task) for s in summaries), room // 2 if targeted else room))
    table = new_table()
    table.add_column("run", style="cyan", no_wrap=True, min_width=22)
    if dated:
        table.add_column("date", no_wrap=True, min_width=10)
    table.add_column("task", no_wrap=True, max_width=task_w, overflow="ellipsis")
    if targeted:
        table.add_column("target", no_wrap=True, max_width=room - task_w, overflow="ellipsis")
    table.add_column("baseline → best", no_wrap=True, min_width=13)
    table.add_column("significant", no_wrap=True, min_width=11)
    table.add_column("calls", justify="right", no_wrap=True, min_width=5)
    if costs:
        table.add_column("cost", justify="right", no_wrap=True)
    for s in summaries:
        cells: list[str | Text] = [
            s.id, *([s.started[:10]] if dated else []), s.task,
            *([_model(s.target, short=not dated)] if targeted else []), _change(s),
            _significance(s), f"{s.calls:,}", *([f"${s.cost:.2f}"] if costs else [])]
        table.add_row(*cells)
    return table


def _runs(store: Store, args: argparse.Namespace, out: Console) -> int:
    summaries = list_runs(store, task=args.task, limit=args.limit)
    if args.json:
        emit_json(out, [s.to_json() for s in summaries])
        return 0
    if not summaries:
        where = f" of task '{args.task}'" if args.task else ""
        out.print(f"no runs{where} in {store.path}", highlight=False)
        return 0
    emit(out, runs_table(summaries, out.width))
    notes = []
    if any(s.baseline is not None and not s.heldout for s in summaries):
        notes.append("* dev scores (nothing held out, or unfinished)")
    notes.append("more: prompt-tuner show RUN_ID")
    emit(out, Text(" · ".join(notes), "dim"))
    return 0


# -- export -----------------------------------------------------------------------------------------


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    suffix = args.output.suffix.lower().lstrip(".") if args.output else ""
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    return "csv"


def write_rows(rows: Iterable[dict[str, Any]], fmt: str, stream: IO[str]) -> int:
    """Write evaluations as CSV (a header, then one row each) or JSON lines; returns the count."""
    count = 0
    if fmt == "jsonl":
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.DictWriter(stream, fieldnames=list(EXPORT_FIELDS), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def _export(store: Store, args: argparse.Namespace, out: Console) -> int:
    fmt = _format(args)
    run_id = resolve_run_id(store, args.run_id)  # a wrong id fails before a file is created
    if args.output is None:
        write_rows(export_rows(store, run_id), fmt, out.file)
        out.file.flush()
        return 0
    target: Path = args.output
    try:
        with target.open("w", encoding="utf-8", newline="") as stream:
            count = write_rows(export_rows(store, run_id), fmt, stream)
    except OSError as exc:
        raise PromptTunerError(f"cannot write {target}: {exc.strerror or exc}",
                               "give a writable --output path") from None
    out.print(f"wrote {count} evaluations of run {run_id} to {target} ({fmt})", highlight=False,
              markup=False, soft_wrap=True)
    return 0


# -- versions ---------------------------------------------------------------------------------------


def task_name(ref: str) -> str:
    """A task name as given, or the name inside a task file."""
    path = Path(ref)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or is_regular_file(path):
        if not is_regular_file(path):
            raise PromptTunerError(f"no task file {path}", "give a task name or a task file")
        return load_task(path).name
    return ref


def _reviews(v: VersionView) -> Text:
    text = Text()
    if v.approvals:
        text.append(f"✓{v.approvals}", "green")
    if v.rejections:
        text.append((" " if text else "") + f"✗{v.rejections}", "red")
    if v.latest_verdict and v.approvals and v.rejections:
        text.append(f" ({v.latest_verdict}d last)", "dim")
    return text


def _version_json(v: VersionView) -> dict[str, Any]:
    return {"version": v.version, "id": v.id, "first_seen": v.first_seen, "runs": v.runs,
            "best_score": v.best_score,
            "score": None if v.score is None else {"mean": v.score.mean, "low": v.score.low,
                                                   "high": v.score.high, "n": v.score.n},
            "scored_in": v.scored_in, "parents": v.parents, "parent_version": v.parent_version,
            "operator": v.operator, "returned_by": v.returned_by, "approvals": v.approvals,
            "rejections": v.rejections, "latest_verdict": v.latest_verdict, "text": v.text}


def _versions(store: Store, args: argparse.Namespace, out: Console) -> int:
    name = task_name(args.task)
    versions = task_versions(store, name)
    if args.json:
        emit_json(out, [_version_json(v) for v in versions])
        return 0
    emit(out, Text.assemble((f"task {name}", "bold"),
                            f" · {len(versions)} versions in {store.path}"))
    emit(out, versions_table(versions, out.width))
    for v in versions:
        if v.returned_by:
            emit(out, Text(f"v{v.version} ({v.id}) returned by {', '.join(v.returned_by)}",
                           "dim"))
    reviewed = " · reviews: ✓ approvals ✗ rejections" if any(
        v.approvals or v.rejections for v in versions) else ""
    emit(out, Text(f"from: parent version · score: its dev measurement on the most examples, in "
                   f"any run{reviewed}", "dim"))
    return 0


def _score(v: VersionView, width: int) -> str:
    """Its score as every front shows it; under 120 columns without the interval."""
    if v.score is None:
        return "—"
    return v.score.fmt() if width >= 120 else f"{v.score.mean:.0%} (n={v.score.n})"


def versions_table(versions: list[VersionView], width: int = 100) -> Table:
    """One line a version; the prompt's first words fill what the other columns leave. Under 100
    columns the first-seen time is left out (the date stays), under 120 the score's interval;
    without reviews, their column."""
    reviewed = any(v.approvals or v.rejections for v in versions)
    rows: list[list[str | Text]] = []
    for v in versions:
        parent = f"v{v.parent_version}" if v.parent_version else ("—" if not v.parents else "?")
        rows.append([str(v.version), v.first_seen if width >= 100 else v.first_seen[:10],
                     parent, v.operator[:10],
                     _score(v, width), str(v.runs),
                     str(len(v.returned_by)) if v.returned_by else "",
                     *([_reviews(v)] if reviewed else [])])
    names = ["v", "first seen", "from", "operator", "score", "runs", "returned",
             *(["reviews"] if reviewed else [])]
    used = sum(max(len(name), *(len(str(r[i])) for r in rows)) + 2
               for i, name in enumerate(names))
    preview = max(12, width - used)
    table = new_table()
    for name in names:
        table.add_column(name, no_wrap=True, justify="left" if name in (
            "first seen", "operator", "reviews") else "right")
    table.add_column("prompt", no_wrap=True)
    for v, row in zip(versions, rows, strict=True):
        table.add_row(*row, Text(_short(v.text, preview)))
    return table
