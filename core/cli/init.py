"""``prompt-tuner init PROMPT [--examples FILE]``: write a task file a newcomer can edit and tune.

Nothing is asked on stdin, so it works in scripts. The inference is :mod:`core.scaffold`'s; this
module parses the flags, refuses to overwrite a file without ``--force``, writes, and says what to
run next.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from core import PromptTunerError, Settings, scaffold_name, scaffold_task

COMMAND = "init"


class InitError(PromptTunerError):
    """A flag of ``init`` asks for something it cannot do (overwrite, write into a missing folder)."""


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``init``. It reads no settings, so it takes none of ``common``'s flags."""
    p = sub.add_parser(COMMAND, help="write a task file from a prompt (and a file of examples)",
                       description="Write a commented task file from PROMPT and, with --examples, "
                       "a data file of examples (.jsonl .json .csv .tsv): which columns fill the "
                       "prompt's {{ slots }}, which holds the expected answer, and the metric that "
                       "fits those answers (the judge when there are none). Asks nothing.")
    p.add_argument("prompt", metavar="PROMPT", help="the prompt, in quotes, with {{ column }} slots")
    # dest: the CLI reads `examples` as tune's --examples N
    p.add_argument("--examples", dest="data_file", type=Path, metavar="FILE",
                   help="examples: .jsonl .json .csv .tsv")
    p.add_argument("--expected", metavar="COLUMN",
                   help="the column with the expected answer (default: expected, label or answer)")
    p.add_argument("--name", metavar="NAME", help="the task's name (default: from the file or prompt)")
    p.add_argument("--description", metavar="TEXT", default="", help="what the prompt is for")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="where to write the task (default: NAME.tune.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(profile=None, config=None, store=None)


def run(args: argparse.Namespace, out: Console, settings: Settings | None = None) -> int:
    name = args.name or scaffold_name(args.prompt, args.data_file)
    output: Path = args.output or Path(f"{scaffold_name(name)}.tune.yaml")
    if output.exists() and not args.force:
        raise InitError(f"{output} already exists", "pass --force to overwrite it, or --output FILE")
    if not output.parent.is_dir():
        raise InitError(f"the folder {output.parent} does not exist", "create it, or choose --output")
    task, text = scaffold_task(args.prompt, output, examples=args.data_file, name=name,
                          description=args.description, expected=args.expected)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InitError(f"cannot write {output}: {exc.strerror or exc}", "choose another --output") from None
    metric = task.metric["type"]
    if metric == "label":
        metric += f" ({', '.join(task.metric['labels'])})"
    source = f"{task.n_examples} examples from {args.data_file}" if args.data_file else "no examples"
    out.print(f"Wrote {output}: {source}, scored by {metric}.", highlight=False, soft_wrap=True,
              markup=False)
    for note in task.notes:
        out.print(f"Note: {note}.", highlight=False, soft_wrap=True, markup=False)
    out.print(f"Next: prompt-tuner tune {shlex.quote(str(output))}", highlight=False, soft_wrap=True,
              markup=False)
    return 0

