"""``prompt-tuner ab TASK --strategies auto,fewshot,opro``: tune the task once per strategy and
seed at the same budget and compare the strategies' held-out results (see ``core.ab``).

Prints a table (each strategy's held-out score with its 95% CI, runs that improved, calls and
wall time), one verdict a pair and an overall line; ``--json`` prints one JSON document. While
the runs go, one line per finished run goes to stderr (not with ``-q``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from core import (
    AB_DEFAULT_SEEDS,
    ABError,
    ABReport,
    ABRun,
    LoadedSettings,
    Settings,
    Task,
    check_ab,
    endpoint_note,
    load_settings,
    load_task,
    resolve_models,
    run_ab,
    task_endpoints,
)

from .checks import non_negative, positive, writable_folder
from .termcharts import emit, emit_json, interval, score_bar
from .termcharts import table as new_table

COMMAND = "ab"


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``ab``; ``common`` adds --profile/--config/--store."""
    p = sub.add_parser(COMMAND, help="compare tuning strategies head to head on held-out examples",
                       description="Tune TASK once per strategy and seed at the same budget, "
                       "then compare the strategies' winners on the held-out (test) examples: "
                       "a paired permutation test over examples and seeds for every pair, "
                       "Holm-corrected, with a verdict in words. The task needs held-out "
                       "examples (a test split, or 30+ examples without splits).")
    p.add_argument("task", metavar="TASK", help="task file (.yaml/.json)")
    p.add_argument("--strategies", required=True, metavar="A,B[,C…]",
                   help="strategies to compare, e.g. auto,fewshot,opro")
    p.add_argument("--seeds", type=positive, default=AB_DEFAULT_SEEDS, metavar="N",
                   help=f"runs per strategy, seeds S, S+1, … (default {AB_DEFAULT_SEEDS})")
    p.add_argument("--seed", type=non_negative, metavar="S", help="the first seed (default: "
                   "tune.seed)")
    p.add_argument("--max-calls", type=positive, metavar="N", help="budget of each run")
    p.add_argument("--target", metavar="SPEC", help="model the prompt is for")
    p.add_argument("--optimizer", metavar="SPEC", help="model that proposes prompts")
    p.add_argument("--judge", metavar="SPEC", help="model that scores answers without expected outputs")
    p.add_argument("--concurrency", type=positive, metavar="N", help="model calls in flight")
    p.add_argument("--rounds", type=positive, metavar="N", help="search rounds at most")
    p.add_argument("--variations", type=positive, metavar="N", help="prompts to propose")
    common(p)
    p.add_argument("--run-dir", type=Path, metavar="DIR", help="where the runs' reports go")
    p.add_argument("--json", action="store_true", help="print the comparison as one JSON document")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per finished run")


def _loaded(args: argparse.Namespace) -> LoadedSettings:
    flags: dict[str, Any] = {
        "models.target": args.target, "models.optimizer": args.optimizer,
        "models.judge": args.judge, "budget.max_calls": args.max_calls,
        "tune.concurrency": args.concurrency, "limits.max_in_flight": args.concurrency,
        "tune.rounds": args.rounds, "tune.variations": args.variations, "tune.seed": args.seed,
        "store_path": args.store, "run_dir": args.run_dir,
    }
    return load_settings(config_file=args.config, profile=args.profile,
                         flags={k: str(v) if isinstance(v, Path) else v
                                for k, v in flags.items() if v is not None})


def run(args: argparse.Namespace, out: Console, settings: Settings | None = None) -> int:
    """Run the A/B and print it. ``settings`` is taken for the shape the subcommand modules
    share but not used: ab loads its own from ``args``, since it needs the secrets and where
    each model setting came from (a task file's ``models:`` applies as it does for ``tune``)."""
    err = Console(stderr=True)
    loaded = _loaded(args)
    task = load_task(Path(args.task))
    resolved = resolve_models(loaded, task.models)
    first = resolved.tune.seed
    seeds = list(range(first, first + args.seeds))
    strategies = check_ab(task, resolved, args.strategies.split(","), seeds)  # before any call
    writable_folder(resolved.runs_dir(), "the run folder",
                    "point --run-dir (run_dir) at a folder you can write to")
    _warn_endpoints(err, task, resolved)
    if not args.quiet:
        err.print(f"ab: {len(strategies)} strategies x {len(seeds)} seeds = "
                  f"{len(strategies) * len(seeds)} runs of {escape(task.name)}", highlight=False)
    on_run = None if args.quiet else _progress(err)
    report = asyncio.run(run_ab(task, resolved, strategies, seeds, secrets=loaded.secrets,
                                on_run=on_run))
    if args.json:
        emit_json(out, report.to_json())
    else:
        print_report(out, report)
    return 0


def _warn_endpoints(err: Console, task: Task, settings: Settings) -> None:
    """One line per model role whose URL or model file comes from the task file (untrusted)."""
    for named in task_endpoints(task):
        if getattr(settings.models, named.role) == named.spec:
            err.print(f"prompt-tuner: warning: {escape(endpoint_note(named, settings.key_bindings))}",
                      highlight=False, soft_wrap=True)


def _progress(err: Console) -> Callable[[ABRun, int, int], None]:
    def line(r: ABRun, done: int, total: int) -> None:
        score = (f"held-out {sum(r.scores.values()) / len(r.scores):.0%} (n={len(r.scores)})"
                 if r.scores else "no held-out scores")
        err.print(f"  [{done}/{total}] {escape(r.strategy)} seed {r.seed}: {score} · {r.calls} "
                  f"calls · {r.duration_s:.1f}s · run {r.run_id}", highlight=False,
                  soft_wrap=True)
    return line


def print_report(out: Console, report: ABReport) -> None:
    budget = f"{report.max_calls} calls a run" if report.max_calls else "no call budget"
    emit(out, Text.assemble(("A/B of strategies", "bold"), f" on {report.task} · "
                            f"{len(report.seeds)} seed{'' if len(report.seeds) == 1 else 's'} "
                            f"({', '.join(map(str, report.seeds))}) · {budget}"))
    table = new_table()
    table.add_column("strategy", no_wrap=True)
    table.add_column("held-out", no_wrap=True)
    for name in ("95% CI", "improved", "calls", "time"):
        table.add_column(name, justify="right", no_wrap=True)
    for s in report.summaries:
        table.add_row(s.strategy, score_bar(s.estimate, 16), interval(s.estimate),
                      f"{s.improved_runs}/{s.runs}", str(s.calls), f"{s.duration_s:.1f}s")
    emit(out, table)
    emit(out, Text("pairs: paired permutation test over (seed, held-out example), 95% CI of the "
                   "difference, p-values Holm-corrected over all pairs", "dim"))
    for p in report.pairs:
        emit(out, Text("• " + p.verdict, "green" if p.winner else ""))
    emit(out, Text.assemble(("Overall: ", "bold"), report.overall))
    for w in report.warnings:
        emit(out, Text(f"warning: {w}", "yellow"))
    emit(out, Text("runs: " + " ".join(r.run_id for r in report.runs)
                   + " (prompt-tuner show RUN_ID)", "dim"))


__all__ = ["COMMAND", "ABError", "add_parsers", "print_report", "run"]
