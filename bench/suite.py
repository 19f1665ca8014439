"""Run the benchmark suite: every task's reference prompt, one table row per task.

    python bench/suite.py --target embedded
    python bench/suite.py --target openai:gpt-4o-mini --judge openai:gpt-4o-mini --tasks sentiment,format
    python bench/suite.py --target embedded --data /work/shared/datasets --limit 50 --json

Tasks are the folders of ``examples/benchmarks/`` (or ``--bench DIR``) that hold a ``task.yaml``.
Each row shows the metric(s), n, the mean score with its 95% CI, model calls and cache hits
(target and judge together), the target's latency p50/p95, the cost and the wall time.

``--data DIR`` points at a folder of public labelled datasets (sst2, ag_news, boolq, svamp,
multiarith, addsub, gsm8k, each in its own subfolder). Where one matches a task, the task's
examples are replaced by that dataset's records (a seeded sample of at most ``--public-max``),
mapped to the task's prompt slots and expected answers; the task's own prompt, metrics, labels
and split fractions still apply, and the ``data`` column names the source. Other tasks run on
their bundled data. Nothing is copied out of DIR.

Exit status: 0 when every task ran, 1 when a task failed (its row says why), 2 for bad
arguments, a bad task file or a missing or malformed ``--data`` folder (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import (
    EvalReport,
    PromptTunerError,
    Task,
    evaluate_prompt,
    load_settings,
    load_task,
)

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "examples" / "benchmarks"
PUBLIC_MAX = 500


class SuiteError(Exception):
    """A problem with the arguments, a task file or the --data folder: one line, exit 2."""


# -- public datasets -------------------------------------------------------------------------------

PublicRow = tuple[dict[str, str], str]  # (inputs by prompt slot, expected answer)


def _read_tsv(path: Path) -> list[dict[str, str]]:
    """The rl-prompt TSVs: a header row, tab-separated, no quoting, some CRLF endings."""
    if not path.is_file():
        raise SuiteError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            rows = [[cell.rstrip("\r") for cell in row] for row in reader if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SuiteError(f"{path}: cannot read: {exc}") from None
    if len(rows) < 2 or len(rows[0]) != 2 or rows[0][1] != "label":
        raise SuiteError(f"{path}: expected a header 'sentence<TAB>label' and data rows")
    out = []
    for lineno, row in enumerate(rows[1:], 2):
        if len(row) != 2:
            raise SuiteError(f"{path} line {lineno}: expected 2 tab-separated fields, got {len(row)}")
        out.append({"text": row[0].strip(), "label": row[1].strip()})
    return out


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise SuiteError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SuiteError(f"{path}: not valid JSON: {exc}") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SuiteError(f"{path}: file not found")
    out = []
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    raise SuiteError(f"{path} line {lineno}: not valid JSON") from None
                if not isinstance(record, dict):
                    raise SuiteError(f"{path} line {lineno}: not a JSON object")
                out.append(record)
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read: {exc}") from None
    return out


def _field(record: Any, key: str, where: str) -> Any:
    if not isinstance(record, dict) or key not in record:
        raise SuiteError(f"{where}: no field '{key}'")
    return record[key]


def _labelled(path: Path, labels: dict[str, str], slot: str) -> list[PublicRow]:
    out = []
    for i, rec in enumerate(_read_tsv(path), 2):
        if rec["label"] not in labels:
            raise SuiteError(f"{path} line {i}: unknown label {rec['label']!r} "
                             f"(expected one of {', '.join(labels)})")
        out.append(({slot: rec["text"]}, labels[rec["label"]]))
    return out


def _number(value: Any, where: str) -> str:
    try:
        x = float(str(value).replace(",", "").strip())
    except ValueError:
        raise SuiteError(f"{where}: answer {value!r} is not a number") from None
    return str(int(x)) if x.is_integer() else f"{x:g}"


def load_sst2(folder: Path) -> list[PublicRow]:
    return _labelled(folder / "test.tsv", {"0": "negative", "1": "positive"}, "text")


def load_ag_news(folder: Path) -> list[PublicRow]:
    return _labelled(folder / "test.tsv", {"0": "world", "1": "sports", "2": "business", "3": "tech"},
                     "headline")


def load_boolq(folder: Path) -> list[PublicRow]:
    path = folder / "dev.jsonl"
    out = []
    for i, rec in enumerate(_read_jsonl(path), 1):
        where = f"{path} record {i}"
        answer = str(_field(rec, "answer", where)).strip().lower()
        if answer not in ("true", "false"):
            raise SuiteError(f"{where}: answer {answer!r} is not True/False")
        question = str(_field(rec, "question", where)).strip()
        question = question[:1].upper() + question[1:]
        if not question.endswith("?"):
            question += "?"
        out.append(({"context": str(_field(rec, "passage", where)).strip(), "question": question},
                    "yes" if answer == "true" else "no"))
    return out


def _math_json(path: Path, question: Callable[[dict[str, Any], str], str],
               answer: Callable[[dict[str, Any], str], Any]) -> list[PublicRow]:
    data = _read_json(path)
    if not isinstance(data, list):
        raise SuiteError(f"{path}: expected a JSON list of problems")
    out = []
    for i, rec in enumerate(data, 1):
        where = f"{path} record {i}"
        if not isinstance(rec, dict):
            raise SuiteError(f"{where}: not a JSON object")
        out.append(({"question": " ".join(question(rec, where).split())},
                    _number(answer(rec, where), where)))
    return out


def _first_solution(rec: dict[str, Any], where: str) -> Any:
    sols = _field(rec, "lSolutions", where)
    if not isinstance(sols, list) or not sols:
        raise SuiteError(f"{where}: lSolutions is empty")
    return sols[0]


def load_svamp(folder: Path) -> list[PublicRow]:
    def question(rec: dict[str, Any], where: str) -> str:
        body = str(_field(rec, "Body", where)).strip()
        if body and body[-1] not in ".?!":
            body += "."  # SVAMP bodies often lack the final stop before the question
        return f"{body} {str(_field(rec, 'Question', where)).strip()}"

    return _math_json(folder / "SVAMP.json", question, lambda r, w: _field(r, "Answer", w))


def load_multiarith(folder: Path) -> list[PublicRow]:
    return _math_json(folder / "MultiArith.json", lambda r, w: str(_field(r, "sQuestion", w)),
                      _first_solution)


def load_addsub(folder: Path) -> list[PublicRow]:
    return _math_json(folder / "AddSub.json", lambda r, w: str(_field(r, "sQuestion", w)),
                      _first_solution)


def load_gsm8k(folder: Path) -> list[PublicRow]:
    path = folder / "test.jsonl"
    out = []
    for i, rec in enumerate(_read_jsonl(path), 1):
        where = f"{path} record {i}"
        answer = str(_field(rec, "answer", where))
        if "####" not in answer:
            raise SuiteError(f"{where}: no '#### answer' at the end of the solution")
        out.append(({"question": str(_field(rec, "question", where)).strip()},
                    _number(answer.rsplit("####", 1)[1], where)))
    return out


PUBLIC: dict[str, Callable[[Path], list[PublicRow]]] = {
    "sst2": load_sst2, "ag_news": load_ag_news, "boolq": load_boolq, "svamp": load_svamp,
    "multiarith": load_multiarith, "addsub": load_addsub, "gsm8k": load_gsm8k,
}
# task folder -> public datasets that fit it, best first
MATCHES: dict[str, tuple[str, ...]] = {
    "sentiment": ("sst2",),
    "topic": ("ag_news",),
    "yesno": ("boolq",),
    "arithmetic": ("svamp", "multiarith", "addsub"),
    "cot-arithmetic": ("gsm8k",),
}


def check_data_dir(data: Path) -> None:
    if not data.exists():
        raise SuiteError(f"--data {data}: no such folder")
    if not data.is_dir():
        raise SuiteError(f"--data {data}: not a folder")
    if not any((data / name).is_dir() for name in PUBLIC):
        raise SuiteError(f"--data {data}: no known dataset folder in it "
                         f"(looked for {', '.join(PUBLIC)})")


def public_rows(data: Path, task_dir: str, max_rows: int) -> tuple[str, int, list[PublicRow]] | None:
    """(dataset name, its size, a seeded sample of its rows) for a task, or None if none fits."""
    for name in MATCHES.get(task_dir, ()):
        folder = data / name
        if folder.is_dir():
            rows = PUBLIC[name](folder)
            if not rows:
                raise SuiteError(f"{folder}: no records")
            total = len(rows)
            if max_rows and total > max_rows:
                rows = random.Random(f"suite:{name}").sample(rows, max_rows)
            return name, total, rows
    return None


# -- tasks -----------------------------------------------------------------------------------------


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans (true/false only), as the task loader reads them: `yes` stays text."""


_Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def with_public_examples(path: Path, task: Task, rows: list[PublicRow], workdir: Path) -> Task:
    """The task at ``path`` with its examples replaced by ``rows``: the same file (prompt,
    metrics, labels, split fractions and seed) pointed at the rows, loaded by ``load_task`` so
    splits are drawn and metrics checked exactly as for the bundled data."""
    want = set(task.slots())
    have = set(rows[0][0])
    if want != have:
        raise SuiteError(f"{path}: the prompt's slots ({', '.join(sorted(want))}) no longer match the "
                         f"public data's fields ({', '.join(sorted(have))}); update bench/suite.py")
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)
    data_file = workdir / f"{path.parent.name}.jsonl"
    with data_file.open("w", encoding="utf-8") as fh:
        for inputs, expected in rows:
            fh.write(json.dumps({**inputs, "expected": expected}, ensure_ascii=False) + "\n")
    raw.pop("examples", None)
    raw.pop("examples_file", None)
    raw["dataset"] = {"file": str(data_file), "expected": "expected"}
    if isinstance(raw.get("splits"), dict):
        raw["splits"].pop("files", None)
    for spec in raw.get("metrics") or []:  # a custom metric's file stays where the task is
        fn = spec.get("function") if isinstance(spec, dict) else None
        if isinstance(fn, str) and ":" in fn:
            target, _, name = fn.rpartition(":")
            if target.endswith(".py") and not Path(target).is_absolute():
                spec["function"] = f"{(path.parent / target).resolve()}:{name}"
    task_file = workdir / f"{path.parent.name}.task.json"
    task_file.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return load_task(task_file)


def discover(bench: Path, only: Sequence[str] | None) -> list[Path]:
    if not bench.is_dir():
        raise SuiteError(f"--bench {bench}: no such folder")
    found = {p.parent.name: p for p in sorted(bench.glob("*/task.yaml"))}
    if not found:
        raise SuiteError(f"{bench}: no */task.yaml in it")
    if not only:
        return list(found.values())
    unknown = [t for t in only if t not in found]
    if unknown:
        raise SuiteError(f"--tasks: unknown task '{unknown[0]}' (have: {', '.join(found)})")
    return [found[t] for t in only]


# -- running and reporting -------------------------------------------------------------------------


@dataclass
class TaskResult:
    task: str
    source: str
    metrics: str
    report: EvalReport | None = None
    error: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _usage(report: EvalReport) -> dict[str, Any]:
    """Target and judge together for calls, hits and cost; latency is the target's."""
    u = dict(report.usage)
    j = report.judge_usage or {}
    return {
        "calls": int(u.get("calls", 0)) + int(j.get("calls", 0)),
        "cache_hits": int(u.get("cache_hits", 0)) + int(j.get("cache_hits", 0)),
        "cost": float(u.get("cost", 0.0)) + float(j.get("cost", 0.0)),
        "latency_p50_s": u.get("latency_p50_s"),
        "latency_p95_s": u.get("latency_p95_s"),
    }


def _secs(x: Any) -> str:
    return "-" if x is None else f"{float(x):.2f}"


def table(rows: list[TaskResult], wall: float) -> str:
    head = ["task", "data", "metric(s)", "n", "mean [95% CI]", "calls", "hits", "p50 s", "p95 s",
            "cost $", "secs"]
    body: list[list[str]] = []
    means: list[float] = []
    tot_n = tot_calls = tot_hits = 0
    tot_cost = 0.0
    for r in rows:
        if r.report is None:
            body.append([r.task, r.source, r.metrics, "-", f"ERROR: {r.error}", "-", "-", "-", "-", "-",
                         f"{r.seconds:.1f}"])
            continue
        rep, u = r.report, _usage(r.report)
        agg = rep.aggregate
        means.append(agg.mean)
        tot_n += rep.n
        tot_calls += u["calls"]
        tot_hits += u["cache_hits"]
        tot_cost += u["cost"]
        metrics = r.metrics
        if len(rep.metrics) > 1:
            metrics = " ".join(f"{k}={v.mean:.0%}" for k, v in rep.metrics.items())
        body.append([r.task, r.source, metrics, str(rep.n),
                     f"{agg.mean:.0%} [{agg.low:.0%}, {agg.high:.0%}]" + (" partial" if rep.partial else ""),
                     str(u["calls"]), str(u["cache_hits"]), _secs(u["latency_p50_s"]),
                     _secs(u["latency_p95_s"]), f"{u['cost']:.4f}", f"{r.seconds:.1f}"])
    macro = f"{statistics.fmean(means):.0%} (mean of tasks)" if means else "-"
    body.append([f"TOTAL ({len(rows)} tasks)", "", "", str(tot_n), macro, str(tot_calls), str(tot_hits),
                 "", "", f"{tot_cost:.4f}", f"{wall:.1f}"])
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    right = {3, 5, 6, 7, 8, 9, 10}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *(line(b) for b in body[:-1]), rule, line(body[-1])])


def as_json(rows: list[TaskResult], wall: float, args: argparse.Namespace) -> dict[str, Any]:
    tasks = []
    for r in rows:
        item: dict[str, Any] = {"task": r.task, "data": r.source, "metrics": r.metrics,
                                "seconds": round(r.seconds, 3), **r.extra}
        if r.report is not None:
            item["report"] = r.report.to_json()
            item["usage_total"] = _usage(r.report)
        else:
            item["error"] = r.error
        tasks.append(item)
    done = [r.report for r in rows if r.report is not None]
    return {
        "target": args.target, "judge": args.judge, "split": args.split, "limit": args.limit,
        "data": str(args.data) if args.data else None, "tasks": tasks,
        "totals": {"tasks": len(rows), "failed": sum(1 for r in rows if r.report is None),
                   "n": sum(r.n for r in done),
                   "mean_of_tasks": statistics.fmean(r.aggregate.mean for r in done) if done else None,
                   "calls": sum(_usage(r)["calls"] for r in done),
                   "cache_hits": sum(_usage(r)["cache_hits"] for r in done),
                   "cost": round(sum(_usage(r)["cost"] for r in done), 6),
                   "seconds": round(wall, 3)},
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/suite.py",
                                description="Evaluate every benchmark task's reference prompt.")
    p.add_argument("--target", required=True, help="the model to evaluate (a model spec, e.g. embedded)")
    p.add_argument("--judge", help="the judge model for judge metrics (default: the settings' judge)")
    p.add_argument("--data", type=Path, help="folder of public datasets to run matching tasks on")
    p.add_argument("--tasks", help="comma-separated task folders (default: all)")
    p.add_argument("--split", default="test", help="train, dev, test or all (default: test)")
    p.add_argument("--limit", type=int, help="at most N examples per task")
    p.add_argument("--public-max", type=int, default=PUBLIC_MAX,
                   help=f"sample at most N records of a public dataset (default {PUBLIC_MAX}; 0: all)")
    p.add_argument("--bench", type=Path, default=BENCH_DIR, help="the benchmark folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    if args.public_max < 0:
        p.error("--public-max must be 0 or more")
    return args


def prepare(args: argparse.Namespace, workdir: Path) -> list[tuple[str, str, Task]]:
    """(task folder, data source, task) for every selected task; raises SuiteError."""
    if args.data is not None:
        check_data_dir(args.data)
    only = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    out = []
    for path in discover(args.bench, only):
        name = path.parent.name
        try:
            task = load_task(path)
            source = "bundled"
            found = public_rows(args.data, name, args.public_max) if args.data is not None else None
            if found is not None:
                dataset, total, rows = found
                task = with_public_examples(path, task, rows, workdir)
                source = dataset if len(rows) == total else f"{dataset} ({len(rows)}/{total})"
        except PromptTunerError as exc:
            raise SuiteError(str(exc)) from None
        out.append((name, source, task))
    return out


async def run(tasks: list[tuple[str, str, Task]], args: argparse.Namespace) -> list[TaskResult]:
    loaded = load_settings(flags={"models.target": args.target, "models.judge": args.judge})
    rows = []
    for name, source, task in tasks:
        metrics = ",".join(spec.label for spec in task.metric_specs())
        row = TaskResult(name, source, metrics)
        started = time.monotonic()
        try:
            row.report = await evaluate_prompt(task, loaded.settings, secrets=loaded.secrets,
                                               split=args.split, limit=args.limit)
        except PromptTunerError as exc:
            row.error = str(exc)
        row.seconds = time.monotonic() - started
        rows.append(row)
        if not args.json:  # progress, so a long run is not silent
            done = row.report.aggregate.fmt() if row.report else f"error: {row.error}"
            print(f"  {name} ({source}): {done} in {row.seconds:.1f}s", file=sys.stderr, flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pt-suite-") as tmp:
        try:
            tasks = prepare(args, Path(tmp))
            rows = asyncio.run(run(tasks, args))
        except SuiteError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except PromptTunerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130
    wall = time.monotonic() - started
    if args.json:
        print(json.dumps(as_json(rows, wall, args), indent=2, ensure_ascii=False))
    else:
        print(table(rows, wall))
    return 1 if any(r.report is None for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
