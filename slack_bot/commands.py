"""What a ``/tune`` text asks for: parsed into one command, or one friendly line saying why not.

    /tune Write a haiku about rain --task "a haiku, 5-7-5"   quick form
    /tune task:sentiment --target small --budget 200
    /tune history sentiment      /tune compare sentiment v1 v3
    /tune ab sentiment --strategies refine,fewshot --seeds 2
    /tune status                 /tune cancel 20250101-120000-abc123

Options (``--target ALIAS``, ``--strategy NAME``, ``--budget N``, ``--profile NAME``,
``--review``: stop after each round for the team's review) go after
the prompt; ``--task`` takes the rest up to the next option. ``--target`` names one of the
operator's models (``trust.ModelPolicy`` checks it). Slack's curly quotes are read as plain
ones, and its ``&amp; &lt; &gt;`` escapes are undone.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

STRATEGY = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")  # the core checks that it knows the name
PROFILES = ("quick", "default", "thorough")
OPTION = re.compile(r"(?:^|\s)--(task|target|strategy|budget|profile)(?=\s|=|$)")
REVIEW_FLAG = re.compile(r"(?:^|\s)--review(?=\s|$)")
AB_OPTION = re.compile(r"(?:^|\s)--(strategies|seeds|budget|target)(?=\s|=|$)")
AB_STRATEGIES, AB_SEEDS = 4, 5  # at most: an A/B is strategies x seeds tunes
TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
RUN_REF = re.compile(r"^[A-Za-z0-9-]{4,40}$")
QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


class UsageError(Exception):
    """A request the bot cannot take: the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class TuneCommand:
    prompt: str | None = None        # the quick form
    description: str | None = None
    task_name: str | None = None     # task:<name>
    target: str | None = None
    strategy: str | None = None
    budget: int | None = None
    profile: str | None = None
    review: bool = False             # --review: stop after each round for the team


@dataclass(frozen=True)
class HistoryCommand:
    task_name: str


@dataclass(frozen=True)
class CompareCommand:
    task_name: str
    version_a: str
    version_b: str


@dataclass(frozen=True)
class AbCommand:
    """Tune a task once per strategy and seed, and compare the strategies on held-out examples."""

    task_name: str
    strategies: tuple[str, ...]
    seeds: int = 2
    budget: int | None = None        # of each tune
    target: str | None = None


@dataclass(frozen=True)
class StatusCommand:
    pass


@dataclass(frozen=True)
class CancelCommand:
    run_ref: str


@dataclass(frozen=True)
class HelpCommand:
    pass


Command = (TuneCommand | HistoryCommand | CompareCommand | AbCommand | StatusCommand
           | CancelCommand | HelpCommand)


def clean(text: str) -> str:
    return html.unescape(text).translate(QUOTES).strip()


def parse(text: str, command: str = "/tune") -> Command:
    text = clean(text)
    word, _, rest = text.partition(" ")
    rest = rest.strip()
    keyword = word.lower()
    if keyword in ("", "help"):
        return HelpCommand()
    if keyword == "status" and not rest:
        return StatusCommand()
    if keyword == "cancel":
        return CancelCommand(_run_ref(rest, command))
    if keyword == "history":
        return HistoryCommand(_task_name(rest, f"{command} history <task>"))
    if keyword == "compare":
        return _compare(rest, command)
    if keyword == "ab":
        return _ab(rest, command)
    return _tune(text, command)


def _run_ref(text: str, command: str) -> str:
    if not RUN_REF.match(text):
        raise UsageError(f"`{command} cancel` needs the run id (see `{command} status`), "
                         f"e.g. `{command} cancel 20250101-120000-abc123`")
    return text


def _task_name(text: str, usage: str) -> str:
    if not TASK_NAME.match(text):
        raise UsageError(f"give one task name (letters, digits, `-_.`): `{usage}`")
    return text


def _compare(rest: str, command: str) -> CompareCommand:
    words = rest.split()
    usage = f"`{command} compare <task> <version A> <version B>`, e.g. `{command} compare sentiment v1 v4`"
    if len(words) != 3:
        raise UsageError(f"compare needs a task and two versions: {usage}")
    task = _task_name(words[0], f"{command} compare <task> <vA> <vB>")
    if words[1] == words[2]:
        raise UsageError(f"compare two different versions: {usage}")
    return CompareCommand(task, words[1], words[2])


def _ab(rest: str, command: str) -> AbCommand:
    usage = f"`{command} ab <task> --strategies refine,fewshot [--seeds 2] [--budget 200]`"
    head, opts = _options(rest, AB_OPTION)
    task = _task_name(head.removeprefix("task:").strip(), f"{command} ab <task> --strategies a,b")
    names = tuple(n.strip().lower() for n in opts.get("strategies", "").split(",") if n.strip())
    if not 2 <= len(names) <= AB_STRATEGIES or len(set(names)) != len(names):
        raise UsageError(f"ab compares 2 to {AB_STRATEGIES} different strategies: {usage}")
    bad = next((n for n in names if not STRATEGY.match(n)), None)
    if bad is not None:
        raise UsageError(f"`{bad}` is not a strategy name: {usage}")
    seeds = opts.get("seeds", str(AbCommand.seeds))
    if not (seeds.isascii() and seeds.isdigit() and len(seeds) <= 2) or not 1 <= int(seeds) <= AB_SEEDS:
        raise UsageError(f"`--seeds` is a number of runs per strategy from 1 to {AB_SEEDS}, "
                         f"e.g. `--seeds 2` (got `{seeds}`)")
    target = opts.get("target")
    if target is not None and " " in target:
        raise UsageError("`--target` is the name of one of the bot's models, without spaces, "
                         "e.g. `--target default`")
    return AbCommand(task, names, int(seeds), _budget(opts), target)


def _budget(opts: dict[str, str]) -> int | None:
    if "budget" not in opts:
        return None
    value = opts["budget"]
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or int(value) < 1:
        raise UsageError(f"`--budget` is a number of model calls, e.g. `--budget 200` "
                         f"(got `{opts['budget']}`)")
    return int(opts["budget"])


def _options(text: str, option: re.Pattern[str] = OPTION) -> tuple[str, dict[str, str]]:
    """The text before the first option, and each option's value."""
    found = list(option.finditer(text))
    head = text[: found[0].start()] if found else text
    values: dict[str, str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        name = match.group(1)
        if name in values:
            raise UsageError(f"`--{name}` is given twice; give it once")
        values[name] = _unquote(text[match.end():end].strip().removeprefix("=").strip())
        if not values[name]:
            raise UsageError(f"`--{name}` needs a value, e.g. {_EXAMPLES[name]}")
    return head.strip(), values


_EXAMPLES = {"task": '`--task "short, rhyming"`', "target": "`--target default`",
             "strategy": "`--strategy refine`", "budget": "`--budget 200`",
             "profile": "`--profile quick`", "strategies": "`--strategies refine,fewshot`",
             "seeds": "`--seeds 2`"}


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1].strip()
    return text


def _tune(text: str, command: str) -> TuneCommand:
    flags = REVIEW_FLAG.findall(text)
    if len(flags) > 1:
        raise UsageError("`--review` is given twice; give it once")
    review = bool(flags)
    text = REVIEW_FLAG.sub(" ", text).strip()
    head, opts = _options(text)
    budget = _budget(opts)
    strategy = opts["strategy"].lower() if "strategy" in opts else None
    if strategy is not None and not STRATEGY.match(strategy):
        raise UsageError(f"`--strategy` is one name, e.g. `--strategy refine` (got `{strategy}`)")
    profile = opts.get("profile")
    if profile is not None and profile not in PROFILES:
        raise UsageError(f"unknown profile `{profile}`: use one of {', '.join(PROFILES)}")
    target = opts.get("target")
    if target is not None and " " in target:
        raise UsageError("`--target` is the name of one of the bot's models, without spaces, "
                         "e.g. `--target default`")
    if head.lower().startswith("task:"):
        if "task" in opts:
            raise UsageError("`--task` describes a quick-form prompt; a task file has its own "
                             "description")
        name = head[len("task:"):].strip()
        return TuneCommand(task_name=_task_name(name, f"{command} task:<name>"), target=target,
                           strategy=strategy, budget=budget, profile=profile, review=review)
    prompt = _unquote(head)
    if not prompt:
        raise UsageError(f"give the prompt to tune: `{command} Write a haiku about rain --task "
                         f"\"a haiku\"`, or a task file: `{command} task:<name>`")
    return TuneCommand(prompt=prompt, description=opts.get("task"), target=target,
                       strategy=strategy, budget=budget, profile=profile, review=review)
