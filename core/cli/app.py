"""The terminal front: ``prompt-tuner tune|eval|compare|schema|config|cache``.

Thin: parse, call the core, display.

User mistakes print one line (``prompt-tuner: error: … (how to fix)``) and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

from core import (
    EXIT_INTERNAL,
    ComparisonReport,
    EvalReport,
    PromptTunerError,
    Settings,
    Task,
    TuneResult,
    __version__,
    compare_gate,
    compare_prompts,
    describe_settings,
    endpoint_note,
    eval_gate,
    evaluate_prompt,
    is_regular_file,
    load_prompt,
    load_settings,
    load_task,
    new_run_id,
    open_cache,
    plugin_commands,
    quick_task,
    resolve_models,
    resume,
    task_endpoints,
    task_schema,
    tune,
)

from . import gate as cli_gate
from . import report as cli_report
from . import runs as cli_runs
from .checks import non_negative, non_negative_float, positive, writable_folder
from .history import add_parsers as _history_parsers
from .history import run as _history_run
from .progress import ProgressDisplay, setup_logging

PROG = "prompt-tuner"


class UsageError(PromptTunerError):
    pass


class UserInterrupt(PromptTunerError):
    exit_code = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, f"see `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Make prompts work on small language models.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("tune", help="improve a prompt", description=(
        "Improve the prompt of a task file, or a prompt given in quotes (with --task to say "
        "what it is for). Every model role defaults to the embedded model."))
    t.add_argument("task", metavar="TASK", nargs="?", default=None,
                   help="task file (.yaml/.json) or a prompt in quotes")
    t.add_argument("--task", dest="description", metavar="TEXT",
                   help="what the quoted prompt is for (quick form)")
    t.add_argument("--target", metavar="SPEC", help="model the prompt is for")
    t.add_argument("--optimizer", metavar="SPEC", help="model that proposes prompts")
    t.add_argument("--judge", metavar="SPEC", help="model that scores answers without expected outputs")
    t.add_argument("--max-calls", type=int, metavar="N", help="budget: model calls sent")
    t.add_argument("--concurrency", type=int, metavar="N", help="model calls in flight")
    t.add_argument("--variations", type=int, metavar="N", help="prompts to propose")
    t.add_argument("--examples", type=int, metavar="N",
                   help="dev examples scored at most (default: all that the budget affords)")
    t.add_argument("--seed", type=non_negative, metavar="N")
    t.add_argument("--strategy", metavar="NAME",
                   help="auto (default) | refine | opro | evolve | fewshot | cot")
    t.add_argument("--rounds", type=int, metavar="N", help="search rounds at most")
    t.add_argument("--keep-best", action="store_true",
                   help="return the search's best even when its held-out gain is not significant")
    t.add_argument("--no-warm-start", action="store_true",
                   help="do not begin with what won on similar tasks in the store")
    t.add_argument("--resume", metavar="RUN_ID",
                   help="finish a run that was interrupted or killed (TASK is then ignored)")
    _common(t)
    t.add_argument("--run-dir", type=Path, metavar="DIR", help="where the report goes")
    t.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    t.add_argument("-q", "--quiet", action="store_true", help="print only the result")
    t.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v: every candidate and decision; -vv: every model call too")
    t.add_argument("--log-file", type=Path, metavar="FILE",
                   help="append every event and log record as JSON lines")
    t.add_argument("--interactive", action="store_true",
                   help="after each round, review the candidates: accept, drop, edit, add, stop")

    e = sub.add_parser("eval", help="score a prompt: every metric with n and a 95%% CI",
                       description="Score the task's prompt (or --prompt FILE) on a split of its "
                       "examples: per-metric means with 95% confidence intervals, usage, and "
                       "the worst answers.")
    e.add_argument("task", metavar="TASK", help="task file (.yaml/.json)")
    e.add_argument("--prompt", metavar="FILE", help="a prompt file to score instead of the task's")
    e.add_argument("--repeat", type=int, default=1, metavar="K",
                   help="answer every example K times (sampled after the first) to see the spread")
    _measure(e)
    cli_gate.add_flags(e, compare=False)

    m = sub.add_parser("compare", help="A/B test prompts on the same examples",
                       description="Score PROMPT_A and PROMPT_B on the same examples and test the "
                       "difference (paired permutation test, 95% CI of the difference). With more "
                       "prompts, each is compared with PROMPT_A (Holm-corrected). A prompt is a "
                       "file, or `task` for the task's own prompt.")
    m.add_argument("task", metavar="TASK", help="task file (.yaml/.json)")
    m.add_argument("prompts", metavar="PROMPT", nargs="+", help="PROMPT_A PROMPT_B [PROMPT_C ...]")
    m.add_argument("--alpha", type=float, default=0.05, metavar="P",
                   help="significance level (default 0.05)")
    m.add_argument("--pairwise", action="store_true",
                   help="also have the judge pick the better answer of each pair, in both orders")
    _measure(m)
    cli_gate.add_flags(m, compare=True)

    _history_parsers(sub, _common)
    cli_report.add_parsers(sub, _common)
    cli_runs.add_parsers(sub, _common)
    for command in plugin_commands().values():  # the built-ins' and installed plugins'
        command.add_parser(sub, _common)

    sc = sub.add_parser("schema", help="print a JSON Schema (of the task file)")
    sc.add_argument("what", choices=["task"], help="task: the task file format")

    c = sub.add_parser("config", help="show the effective configuration")
    csub = c.add_subparsers(dest="action", required=True, parser_class=_Parser)
    show = csub.add_parser("show", help="every setting, its value and where it came from")
    _common(show)
    show.add_argument("--json", action="store_true")

    k = sub.add_parser("cache", help="inspect or clear the response cache")
    ksub = k.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for name, text in (("stats", "entries, size and age"), ("clear", "delete entries")):
        a = ksub.add_parser(name, help=text)
        _common(a)
        if name == "clear":
            a.add_argument("--older-than", type=non_negative_float, metavar="SECONDS",
                           help="delete only entries older than this")
    return p


def _measure(p: argparse.ArgumentParser) -> None:
    """Flags shared by eval and compare."""
    p.add_argument("--target", metavar="SPEC", help="model that answers")
    p.add_argument("--judge", metavar="SPEC", help="model that judges (judge metrics)")
    p.add_argument("--split", metavar="NAME", help="train | dev | test | all (default: all)")
    p.add_argument("--limit", type=positive, metavar="N", help="only the first N examples of the split")
    p.add_argument("--worst", type=non_negative, default=None, metavar="N", help="worst answers to show")
    p.add_argument("--max-calls", type=positive, metavar="N", help="budget: model calls sent")
    p.add_argument("--concurrency", type=positive, metavar="N", help="model calls in flight")
    p.add_argument("--seed", type=non_negative, metavar="N")
    _common(p)
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v info, -vv every call")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", metavar="NAME", help="quick | default | thorough | yours")
    p.add_argument("--config", type=Path, metavar="FILE", help="config file (YAML or JSON)")
    p.add_argument("--store", type=Path, metavar="PATH", help="SQLite store of runs and versions")


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    def get(name: str) -> Any:
        return getattr(args, name, None)

    flags: dict[str, Any] = {
        "models.target": get("target"), "models.optimizer": get("optimizer"),
        "models.judge": get("judge"), "budget.max_calls": get("max_calls"),
        "tune.concurrency": get("concurrency"), "limits.max_in_flight": get("concurrency"),
        "tune.variations": get("variations"), "tune.max_examples": get("examples"),
        "tune.seed": get("seed"), "run_dir": get("run_dir"), "store_path": get("store"),
        "tune.strategy": get("strategy"), "tune.rounds": get("rounds"),
    }
    if get("keep_best"):
        flags["tune.keep_best"] = True
    if get("no_cache"):
        flags["cache.enabled"] = False
    if get("no_warm_start"):
        flags["tune.warm_start"] = False
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items() if v is not None}


def _load(args: argparse.Namespace) -> Any:
    return load_settings(config_file=args.config, profile=args.profile, flags=_flags(args))


def _task(args: argparse.Namespace) -> Task:
    if args.task is None:
        raise UsageError("tune needs a TASK (a task file or a prompt in quotes)",
                         f"e.g. `{PROG} tune examples/sentiment.tune.yaml`, or --resume RUN_ID")
    arg: str = args.task
    path = Path(arg)
    looks_like_file = path.suffix.lower() in (".yaml", ".yml", ".json") and "\n" not in arg
    if looks_like_file or is_regular_file(path):  # a name too long to look up is a prompt, not an error
        if args.description:
            raise UsageError("--task describes a quoted prompt; a task file has its own "
                             "description", "drop --task or pass the prompt text instead")
        return load_task(path)
    return quick_task(arg, args.description)


def _print_result(out: Console, result: TuneResult) -> None:
    best, orig = result.best, result.original
    out.print()
    title = "Best prompt" if result.improved else "Best prompt (the original: nothing beat it)"
    out.print(f"[bold]{title}[/] [dim]{best.id}[/]")
    for m in best.candidate.messages:
        if len(best.candidate.messages) > 1:
            out.print(f"[dim]\\[{m.role}][/]")
        out.print(escape(m.content), highlight=False)
    if best.candidate.demos is not None:
        out.print(f"[dim](+ {escape(best.candidate.demos.describe())})[/]")
    if best.candidate.answer_prefix:
        out.print(f"[dim](answers are read from the line starting "
                  f"{escape(best.candidate.answer_prefix)!r})[/]")
    out.print()
    where = "held-out" if result.heldout else "score"
    out.print(f"{where.capitalize()}: [bold]{best.estimate.fmt()}[/]  vs original "
              f"{orig.estimate.fmt()}"
              + (f"  (p={result.p_value:.3g})" if result.p_value is not None else ""))
    out.print(escape(result.explanation), highlight=False)
    sent = sum(int(u.get("prompt_tokens", 0)) for u in result.usage.values())
    reused = sum(int(u.get("cached_prompt_tokens", 0)) for u in result.usage.values())
    tokens = (f"prompt tokens: {sent:,} sent, {sent - reused:,} computed · " if reused else "")
    out.print(f"Calls sent: {result.calls} · cache hits: {result.cache_hits} · {tokens}"
              f"{result.duration_s:.1f}s · run {result.run_id}")
    out.print(f"Report: {result.report_path}", highlight=False, soft_wrap=True)
    html = Path(result.report_path).with_name("report.html") if result.report_path else None
    if html is not None and html.exists():
        out.print(f"HTML report: {html}", highlight=False, soft_wrap=True)
    out.print(f"More: {PROG} show {result.run_id}", highlight=False, soft_wrap=True)


def cmd_tune(args: argparse.Namespace, out: Console, err: Console) -> int:
    loaded = _load(args)
    writable_folder(loaded.settings.runs_dir(), "the run folder",  # before the run, not after it
                    "point --run-dir (run_dir) at a folder you can write to")
    if args.interactive and (args.quiet or args.json):
        raise UsageError("--interactive needs the display", "drop -q/--json, or --interactive")
    if args.interactive and not sys.stdin.isatty():
        raise UsageError("--interactive reads your answers from a terminal; stdin is not one",
                         "run it in a terminal, or drop --interactive")
    display = ProgressDisplay(err, quiet=args.quiet or False, verbosity=args.verbose or 0,
                              log_file=args.log_file)
    try:
        return _tune(args, loaded, display, out, err)
    finally:
        display.close()  # the log file too, also on errors and Ctrl-C


def _tune(args: argparse.Namespace, loaded: Any, display: ProgressDisplay, out: Console,
          err: Console) -> int:
    reviewer = None
    if args.interactive:
        from .interactive import TerminalReviewer

        reviewer = TerminalReviewer(err, pause=display.stop)
    if args.resume:
        settings = loaded.settings
        run_id = args.resume
        job = resume(run_id, settings, secrets=loaded.secrets, on_event=display,
                     use_cache=settings.cache.enabled, reviewer=reviewer)
    else:
        task = _task(args)
        settings = resolve_models(loaded, task.models)
        _warn_task_endpoints(err, task, settings)
        run_id = new_run_id()
        job = tune(task, settings, secrets=loaded.secrets, on_event=display,
                   use_cache=settings.cache.enabled, run_id=run_id, reviewer=reviewer)
    try:
        result = asyncio.run(job)
    except KeyboardInterrupt:
        display.stop()
        raise UserInterrupt(f"interrupted: run {run_id} and everything it measured are in "
                            f"{settings.store_file()}; continue it with `{PROG} tune --resume "
                            f"{run_id}`") from None
    finally:
        display.stop()
    if args.json:
        data = result.to_json()
        data.pop("candidates", None)
        out.print_json(json.dumps(data)) if out.is_terminal else print(json.dumps(data))
    else:
        _print_result(out, result)
    return 0


def _emit_json(out: Console, data: dict[str, Any]) -> None:
    text = json.dumps(data, ensure_ascii=False)
    out.print_json(text) if out.is_terminal else print(text)


def _measure_settings(args: argparse.Namespace) -> tuple[Any, Task, Any]:
    loaded = _load(args)
    path = Path(args.task)
    task = load_task(path)
    settings = resolve_models(loaded, task.models)
    _warn_task_endpoints(Console(stderr=True), task, settings)
    return loaded, task, settings


def _warn_task_endpoints(err: Console, task: Task, settings: Any) -> None:
    """One line per model role whose URL or model file comes from the task file (untrusted)."""
    for named in task_endpoints(task):
        if getattr(settings.models, named.role) != named.spec:
            continue  # the operator chose this role's model (flag or environment)
        err.print(f"{PROG}: warning: {escape(endpoint_note(named, settings.key_bindings))}",
                  highlight=False, soft_wrap=True)


def cmd_eval(args: argparse.Namespace, out: Console) -> int:
    from .eval import print_eval

    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: must be at least 1", "use --repeat 3, for example")
    loaded, task, settings = _measure_settings(args)
    prompt = load_prompt(args.prompt, task) if args.prompt else None
    report: EvalReport = asyncio.run(evaluate_prompt(
        task, settings, secrets=loaded.secrets, prompt=prompt, split=args.split, limit=args.limit,
        repeat=args.repeat, use_cache=settings.cache.enabled,
        worst=5 if args.worst is None else args.worst))
    name = args.prompt or "task"
    gate = eval_gate(report, name, fail_under=args.fail_under, min_lower=args.min_lower)
    if args.json:
        _emit_json(out, cli_gate.with_gate({"name": name, **report.to_json()}, gate))
    else:
        print_eval(out, report)
    return cli_gate.show(Console(stderr=True), gate)


def cmd_compare(args: argparse.Namespace, out: Console) -> int:
    from .eval import print_compare

    if len(args.prompts) < 2:
        raise UsageError("compare needs two prompts: PROMPT_A PROMPT_B",
                         "give two prompt files, or `task` for the task's own prompt")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha}: must be between 0 and 1", "use --alpha 0.05")
    loaded, task, settings = _measure_settings(args)
    prompts = [(ref, load_prompt(ref, task)) for ref in args.prompts]
    report: ComparisonReport = asyncio.run(compare_prompts(
        task, settings, prompts, secrets=loaded.secrets, split=args.split, limit=args.limit,
        use_cache=settings.cache.enabled, alpha=args.alpha,
        worst=3 if args.worst is None else args.worst, pairwise=args.pairwise))
    gate = compare_gate(report, fail_on_regression=args.fail_on_regression,
                        fail_under=args.fail_under, min_lower=args.min_lower)
    if args.json:
        _emit_json(out, cli_gate.with_gate(report.to_json(), gate))
    else:
        print_compare(out, report)
    return cli_gate.show(Console(stderr=True), gate)


def cmd_config(args: argparse.Namespace, out: Console) -> int:
    loaded = _load(args)
    rows = describe_settings(loaded)
    if args.json:
        print(json.dumps([{"key": k, "value": json.loads(v) if not k.startswith("secrets.")
                           else v, "source": s} for k, v, s in rows]))
        return 0
    from rich.table import Table

    table = Table(title="prompt-tuner configuration"
                  + (f" (config file: {loaded.config_file})" if loaded.config_file else ""))
    for col in ("setting", "value", "source"):
        table.add_column(col)
    for key, value, source in rows:
        table.add_row(key, escape(value), source)
    out.print(table)
    return 0


def cmd_cache(args: argparse.Namespace, out: Console) -> int:
    cache = open_cache(_load(args).settings, discard_corrupt=args.action == "clear")
    try:
        if args.action == "clear":
            removed = cache.clear(args.older_than)
            out.print(f"removed {removed} cached responses from {cache.path}")
            return 0
        st = cache.stats()
        def age(ts: float | None) -> str:
            return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "—"

        out.print(f"cache: {st.path}\nentries: {st.entries} ({st.expired} expired)\n"
                  f"size: {st.bytes / 1e6:.2f} MB\noldest: {age(st.oldest)} · newest: "
                  f"{age(st.newest)}", highlight=False)
        for model, count in sorted(st.by_model.items()):
            out.print(f"  {model}: {count}", highlight=False)
        return 0
    finally:
        cache.close()


def one_line(text: str) -> str:
    """A message as one line: a server's reply quoted in it may hold line breaks (``\\n``, NEL,
    U+2028) and terminal control codes; every run of whitespace becomes one space, every other
    control character a ``?``."""
    flat = " ".join(text.split())
    return "".join("?" if unicodedata.category(ch) == "Cc" else ch for ch in flat)


def main(argv: list[str] | None = None) -> int:
    out = Console()
    err = Console(stderr=True)
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        setup_logging(getattr(args, "verbose", 0) or 0, err)
        if args.command == "tune":
            return cmd_tune(args, out, err)
        if args.command == "eval":
            return cmd_eval(args, out)
        if args.command == "compare":
            return cmd_compare(args, out)
        if args.command in ("lineage", "diff"):
            return _history_run(args, out, _load(args).settings)
        if args.command in cli_report.COMMANDS:
            return cli_report.run(args, out, _load(args).settings)
        if args.command in cli_runs.COMMANDS:
            return cli_runs.run(args, out, _load(args).settings)
        command = plugin_commands().get(args.command)
        if command is not None:
            settings = _load(args).settings if command.reads_settings else Settings.model_construct()
            return command.run(args, out, settings)
        if args.command == "schema":
            print(json.dumps(task_schema(), indent=2))
            return 0
        if args.command == "config":
            return cmd_config(args, out)
        if args.command == "cache":
            return cmd_cache(args, out)
        raise UsageError(f"unknown command {args.command}", f"see `{PROG} --help`")
    except UserInterrupt as exc:
        err.print(f"{PROG}: {escape(one_line(str(exc)))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except PromptTunerError as exc:
        err.print(f"{PROG}: error: {escape(one_line(str(exc)))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print(f"{PROG}: interrupted; everything measured so far is in the store")
        return 130
    except Exception as exc:  # a bug, not a user mistake: one line, the traceback with -vv
        if args is not None and getattr(args, "verbose", 0) >= 2:
            raise
        err.print(f"{PROG}: internal error: {type(exc).__name__}: {escape(one_line(str(exc)))} "
                  "(rerun with -vv for the traceback, and please report it)", highlight=False,
                  soft_wrap=True)
        return EXIT_INTERNAL  # 1 is a failed CI gate (core/gate.py)


def entry() -> NoReturn:
    sys.exit(main())
