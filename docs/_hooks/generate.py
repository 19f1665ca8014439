"""MkDocs hook: the pages that are generated from the code at build time, never committed.

- ``cli/index.md`` and one ``cli/<command>.md`` per ``prompt-tuner`` subcommand, read from the
  argparse parser itself (``core.cli.build_parser()``), so installed plugins' commands are there
  too; the nav entry ``CLI reference`` gets one child per command.
- The task-file reference: the marker below in ``task-files.md`` is replaced by tables rendered
  from ``core.task_schema()`` (what ``prompt-tuner schema task`` prints).
- The Slack app manifest in ``slack.md``, read from ``slack_bot/manifest.yaml``.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

CLI_DIR = "cli"
CLI_NAV_TITLE = "CLI reference"
TASK_MARKER = "<!-- generated: task-file reference -->"
MANIFEST_MARKER = "<!-- generated: slack manifest -->"
MANIFEST = "slack_bot/manifest.yaml"  # relative to the folder mkdocs.yml is in
USAGE_WIDTH = "80"  # argparse wraps usage lines at $COLUMNS

# Words for schema fields that carry no description of their own (a description in the schema
# wins): "field" for a top-level field, "Definition.field" for one inside a definition.
FIELD_NOTES = {
    "name": "the task's name: runs, versions and reports are filed under it",
    "description": "what the prompt is for, in a sentence or two; the optimizer and the "
                   "faithfulness check read it",
    "prompt": "the prompt to improve: one user message (a Jinja2 template with {{ slot }}s), or a "
              "list of chat messages",
    "examples": "inline examples: every field a {{ slot }} uses, plus `expected` (the answer you "
                "want) and optional `meta`",
    "dataset": "examples from a data file, and which columns mean what",
    "splits": "how the examples are split into train, dev and held-out test",
    "metrics": "the score vector: one or more metrics, each with a type, settings, name and weight",
    "labels": "the answer labels, for `metric: label` (or `auto`)",
    "rubric": "what the judge scores, for `metric: judge`: text, or {dimension: meaning}",
    "models": "model specs for this task; flags, the environment and config files win over them",
    "MetricSpec.weight": "its weight in the task's score (the weighted mean)",
    "PromptMessage.role": "who speaks",
    "PromptMessage.content": "the message, a Jinja2 template with {{ slot }}s",
    "SplitSpec.train": "the share of examples that supply demonstrations",
    "SplitSpec.dev": "the share the search is scored on",
    "SplitSpec.test": "the share held out until the end",
    "SplitSpec.seed": "the seed of the shuffle",
    "TaskModels.target": "the model the prompt is for",
    "TaskModels.optimizer": "the model that proposes prompts",
    "TaskModels.judge": "the model that scores answers without expected outputs",
}

_parser: argparse.ArgumentParser | None = None


# --- argparse -> Markdown --------------------------------------------------------------------

def _root_parser() -> argparse.ArgumentParser:
    global _parser
    if _parser is None:
        from core.cli import build_parser

        _parser = build_parser()
    return _parser


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand, in the order they were added."""
    out: list[tuple[str, str, argparse.ArgumentParser]] = []
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: str(formatter._expand_help(a)) if a.help else ""
                     for a in action._choices_actions}
            out.extend((name, helps.get(name, ""), sub) for name, sub in action.choices.items())
    return out


def _with_width(fn: Any, *args: Any) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = USAGE_WIDTH
    try:
        return str(fn(*args))
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _usage(parser: argparse.ArgumentParser, command_metavar: str | None = None) -> str:
    """``command_metavar``: write the subcommand as that word instead of {every,name,…}."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    saved = [a.metavar for a in subs]
    if command_metavar:
        for a in subs:
            a.metavar = command_metavar
    try:
        return _with_width(parser.format_usage).strip()
    finally:
        for a, metavar in zip(subs, saved, strict=True):
            a.metavar = metavar


def _help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    formatter = parser._get_formatter()
    return str(formatter._expand_help(action))  # fills %(default)s and unescapes %%


def _flag(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return names
    metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    if action.choices is not None and action.metavar is None:
        metavar = "{" + ",".join(str(c) for c in action.choices) + "}"
    return f"{names} {metavar}"


def _facts(action: argparse.Action) -> list[str]:
    facts: list[str] = []
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        facts.append("one of: " + ", ".join(f"`{c}`" for c in action.choices))
    default = action.default
    shown = default not in (None, False, argparse.SUPPRESS) and not (
        isinstance(action, argparse._CountAction) and default == 0)
    if shown and action.option_strings and action.nargs != 0:
        facts.append(f"default: `{default}`")
    if action.required and action.option_strings:
        facts.append("required")
    if action.nargs in ("+", "*") and not action.option_strings:
        facts.append("one or more" if action.nargs == "+" else "any number")
    return facts


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    """Text for one Markdown table cell: on one line, no HTML, no column breaks."""
    return _escape(" ".join(text.split())).replace("|", "\\|")


def _arguments(parser: argparse.ArgumentParser, level: int) -> list[str]:
    positional = [a for a in parser._actions if not a.option_strings
                  and not isinstance(a, argparse._SubParsersAction)]
    options = [a for a in parser._actions if a.option_strings
               and not isinstance(a, argparse._HelpAction)]  # -h/--help: said once, on the index
    lines: list[str] = []
    for title, actions in (("Arguments", positional), ("Options", options)):
        if not actions:
            continue
        lines += [f"{'#' * level} {title}", "", f"| {title[:-1].lower()} | what it does |", "|---|---|"]
        for action in actions:
            text = _help_text(parser, action)
            facts = _facts(action)
            if facts:
                text += f" ({'; '.join(facts)})"
            lines.append(f"| `{_flag(action)}` | {_cell(text)} |")
        lines.append("")
    return lines


def _command_section(parser: argparse.ArgumentParser, summary: str, level: int) -> list[str]:
    lines = ["```text", _usage(parser), "```", ""]
    description = parser.description or summary
    if description:
        lines += [_escape(description), ""]
    lines += _arguments(parser, level + 1)
    for _, text, sub in _subcommands(parser):
        lines += [f"{'#' * (level + 1)} `{sub.prog}`", "", _escape(text), ""]
        lines += _command_section(sub, "", level + 1)
    return lines


def command_page(name: str, summary: str, parser: argparse.ArgumentParser) -> str:
    lines = [f"# {parser.prog}", ""]
    if summary and parser.description:  # else the summary is the description, below
        lines += [f"*{_escape(summary)}*", ""]
    lines += _command_section(parser, summary, 1)
    lines += ["", "Every user mistake (a missing file, a bad flag, an unknown model kind) prints one line "
              "saying what is wrong and how to fix it, and exits with status 2.", ""]
    return "\n".join(lines)


def index_page(parser: argparse.ArgumentParser) -> str:
    lines = ["# CLI reference", "",
             "Every page here is generated from the command-line parser when the site is built, "
             "so it lists exactly the commands and options of this version, installed plugins' "
             "commands included (`prompt-tuner plugins` says which plugin added what).", "",
             "```text", _usage(parser, "COMMAND"), "```", "", _escape(parser.description or ""), "",
             "| command | what it does |", "|---|---|"]
    for name, text, _ in _subcommands(parser):
        lines.append(f"| [`{name}`]({name}.md) | {_escape(text).replace('|', '&#124;')} |")
    lines += ["", "Global options: `--version` prints the version; `-h`/`--help` works on every "
              "command and subcommand.", ""]
    return "\n".join(lines)


def cli_pages() -> dict[str, str]:
    parser = _root_parser()
    pages = {f"{CLI_DIR}/index.md": index_page(parser)}
    for name, text, sub in _subcommands(parser):
        pages[f"{CLI_DIR}/{name}.md"] = command_page(name, text, sub)
    return pages


# --- JSON Schema -> Markdown -----------------------------------------------------------------

def _def_anchor(name: str) -> str:
    return "schema-" + name.lower()


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{_def_anchor(name)})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " \\| ".join(_type_of(s) for s in schema[key])
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, dict) and items:
            return f"list of {_type_of(items)}"
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return "[" + ", ".join(_type_of(s) for s in prefix) + "]"
        return "list"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return f"map of {_type_of(extra)}"
        return "object"
    if isinstance(kind, list):
        return " \\| ".join(f"`{k}`" for k in kind)
    return f"`{kind}`" if kind else "any"


def _fields_table(schema: dict[str, Any], where: str = "") -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| field | type | default | what it is |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        if "default" in prop:
            default = f"`{json.dumps(prop['default'])}`"
        else:
            default = "**required**" if name in required else ""
        note = prop.get("description") or FIELD_NOTES.get(f"{where}{name}", "")
        lines.append(f"| `{name}` | {_type_of(prop)} | {default} | {_cell(note)} |")
    return lines


def task_reference() -> str:
    from core import task_schema

    schema = task_schema()
    lines = ["The tables below are generated from `core.task_schema()` when this site is built: "
             "they are what `prompt-tuner schema task` prints, in words.", "",
             "### Top-level fields", ""]
    lines += _fields_table(schema)
    for name, sub in sorted(schema.get("$defs", {}).items()):
        lines += ["", f"### {name} {{#{_def_anchor(name)}}}", ""]
        if sub.get("description"):
            lines += [_escape(" ".join(str(sub["description"]).split())), ""]
        if sub.get("properties"):
            lines += _fields_table(sub, f"{name}.")
        else:
            lines.append(f"Type: {_type_of(sub)}")
    lines += ["", '??? note "The whole JSON Schema (`prompt-tuner schema task`)"', "",
              "    ```json"]
    lines += ["    " + line for line in json.dumps(schema, indent=2).splitlines()]
    lines += ["    ```", ""]
    return "\n".join(lines)


# --- the hooks -------------------------------------------------------------------------------

def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """One nav child per CLI command under the nav entry titled CLI_NAV_TITLE."""
    children: list[Any] = [{"Overview": f"{CLI_DIR}/index.md"}]
    children += [{name: f"{CLI_DIR}/{name}.md"} for name, _, _ in _subcommands(_root_parser())]
    for entry in config.nav or []:
        if isinstance(entry, dict) and CLI_NAV_TITLE in entry:
            entry[CLI_NAV_TITLE] = children
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path, content in cli_pages().items():
        files.append(File.generated(config, path, content=content))
    return files


def slack_manifest(config: MkDocsConfig) -> str:
    root = os.path.dirname(config.config_file_path)
    with open(os.path.join(root, MANIFEST), encoding="utf-8") as f:
        return "```yaml\n" + f.read().rstrip() + "\n```"


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if TASK_MARKER in markdown:
        markdown = markdown.replace(TASK_MARKER, task_reference())
    if MANIFEST_MARKER in markdown:
        markdown = markdown.replace(MANIFEST_MARKER, slack_manifest(config))
    return markdown
