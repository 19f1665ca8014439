"""``prompt-tuner insights``: what went with gains over the parent candidate, across every stored
run, per target model: operators and prompt changes with n, mean gain and a 95% CI.

The table fits 100 columns; on a pipe rich prints it without control codes. ``--json`` prints one
JSON document.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from core import (
    Gain,
    Insight,
    Settings,
    Store,
    describe_calibration,
    group_gains,
    insight_gains,
    load_settings,
    predictor_calibration,
)

from .checks import positive
from .runs import task_name
from .termcharts import emit, emit_json
from .termcharts import table as new_table

COMMAND = "insights"
_STYLE = {"helps": "green", "hurts": "red", "no clear effect": "dim"}


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``insights``; ``common`` adds --profile/--config/--store."""
    p = sub.add_parser(COMMAND, help="which operators and prompt changes went with gains",
                       description="Across every finished run: each candidate against its "
                       "parent on the dev examples both were scored on, grouped per target "
                       "model by operator and by what the candidate changed (added "
                       "demonstrations, stated the output format, …), with n, mean gain, a 95% "
                       "CI and the share of children that beat their parent.")
    p.add_argument("--task", metavar="NAME", help="only the runs of this task (a name or file)")
    p.add_argument("--target", metavar="SPEC",
                   help="only this target model (its spec, with or without the endpoint)")
    p.add_argument("--min-n", type=positive, default=3, metavar="N",
                   help="hide factors seen in fewer than N child/parent pairs (default 3)")
    common(p)
    p.add_argument("--json", action="store_true", help="print the insights as one JSON document")


def _settings(args: argparse.Namespace) -> Settings:
    store = getattr(args, "store", None)
    return load_settings(config_file=getattr(args, "config", None),
                         profile=getattr(args, "profile", None),
                         flags={"store_path": str(store)} if store else {}).settings


def cmd_insights(args: argparse.Namespace, out: Console, settings: Settings | None = None) -> int:
    """Print the insights (a table, or ``--json``). ``settings``: as the CLI loaded them; left
    out, they are loaded from ``args`` (--config, --profile, --store). A missing store is an
    error (``PromptTunerError``); an empty one, one line and exit 0."""
    store = Store.existing((settings or _settings(args)).store_file())
    try:
        task = task_name(args.task) if args.task else None
        found = insight_gains(store, task=task, target=args.target)
        shown = group_gains(found, args.min_n)
        cal = predictor_calibration(store, target=args.target)
        if args.json:
            emit_json(out, {**_document(store, args, task, found, shown),
                            "predictor": cal.to_json()})
        elif not found:
            where = "".join([f" of task '{task}'" if task else "",
                             f" on target '{args.target}'" if args.target else ""])
            out.print(f"nothing to learn from yet: no finished run{where} in {store.path} has a "
                      "candidate scored on dev beside its parent", highlight=False,
                      markup=False, soft_wrap=True)
        else:
            _print(out, found, shown, args.min_n)
        if not args.json and (cal.n or cal.skipped):
            where = args.target or "every target"
            emit(out, Text(f"predictor ({where}): {describe_calibration(cal)}", "dim"))
        return 0
    finally:
        store.close()


def _document(store: Store, args: argparse.Namespace, task: str | None, found: list[Gain],
              shown: list[Insight]) -> dict[str, Any]:
    return {"store": str(store.path), "task": task, "target": args.target, "min_n": args.min_n,
            "pairs": len(found), "runs": len({g.run_id for g in found}),
            "insights": [i.to_json() for i in shown]}


def _pts(x: float) -> str:
    return f"{x * 100:+.0f}"


def insights_table(rows: list[Insight], width: int = 100) -> Table:
    """One row a factor; the factor's name takes what the numbers leave."""
    table = new_table()
    table.add_column("factor", no_wrap=True, overflow="ellipsis", max_width=max(20, width - 52))
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("gain", justify="right", no_wrap=True)
    table.add_column("95% CI", justify="right", no_wrap=True, min_width=10)
    table.add_column("beat parent", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for i in rows:
        table.add_row(i.factor, str(i.n), _pts(i.mean), f"[{_pts(i.low)}, {_pts(i.high)}]",
                      f"{i.beat_parent:.0%}", Text(i.verdict, _STYLE[i.verdict]))
    return table


def _print(out: Console, found: list[Gain], shown: list[Insight], min_n: int) -> None:
    runs = len({g.run_id for g in found})
    pairs = f"{len(found)} child/parent pair{'' if len(found) == 1 else 's'}"
    emit(out, Text.assemble(("insights", "bold"), f" · {pairs} from {runs} "
                            f"run{'' if runs == 1 else 's'}"))
    if not shown:
        emit(out, Text(f"no operator or change was seen in {min_n}+ pairs yet; lower --min-n "
                       "to see rarer ones", "yellow"))
        return
    for target in dict.fromkeys(i.target for i in shown):
        emit(out, Text(f"\ntarget {target or '(unknown)'}", "bold"))
        emit(out, insights_table([i for i in shown if i.target == target], out.width))
    emit(out, Text("gain in points: child − parent on shared dev examples · helps/hurts: its "
                   "95% CI excludes 0", "dim"))
