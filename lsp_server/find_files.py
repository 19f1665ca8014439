"""Prompts in prompt files (``*.prompt``, ``*.prompt.md``, ``*.j2``, ``*.jinja``) and in task
files (``*.tune.yaml``): which kind a document is, and where its prompt text sits.

A prompt file is the prompt, after optional front matter::

    ---
    task: sentiment.tune.yaml     # the task that scores it (default: a sidecar, see linking)
    variables: [review]           # declared {{ slots }} when no task is linked
    ---
    Classify the review. ...

In a task file the prompt is the ``prompt:`` field, or the main message (the system message, else
the first user message) of its list of messages.
"""

from __future__ import annotations

from typing import Any, Literal

import yaml

from core import compose_yaml, load_yaml

from .sites import Note, PromptSite, YamlScalar
from .spans import LineIndex, Span

DocKind = Literal["file", "python", "task"]
PROMPT_SUFFIXES = (".prompt.md", ".prompt", ".j2", ".jinja", ".jinja2")
TASK_SUFFIXES = (".tune.yaml", ".tune.yml")


def document_kind(path: str) -> DocKind | None:
    name = path.lower()
    if name.endswith(TASK_SUFFIXES):
        return "task"
    if name.endswith(PROMPT_SUFFIXES):
        return "file"
    if name.endswith((".py", ".pyi")):
        return "python"
    return None


def stem_of(path_name: str) -> str:
    """``support.prompt.md`` -> ``support``: the name a sidecar task file shares."""
    lower = path_name.lower()
    for suffix in (*TASK_SUFFIXES, *PROMPT_SUFFIXES):
        if lower.endswith(suffix):
            return path_name[: len(path_name) - len(suffix)]
    return path_name.rsplit(".", 1)[0]


def _front_matter(text: str) -> tuple[dict[str, Any], int, str | None]:
    """Front matter fields, where the body starts, and a problem with the front matter."""
    if not text.startswith("---\n"):
        return {}, 0, None
    end = text.find("\n---", 3)
    if end == -1:
        return {}, 0, None
    close = text.find("\n", end + 4)
    body_start = len(text) if close == -1 else close + 1
    try:
        data = load_yaml(text[4:end + 1])  # core's loader: YAML 1.2 scalars, alias/depth limits
    except yaml.YAMLError as exc:
        return {}, body_start, f"front matter is not valid YAML: {str(exc).splitlines()[0]}"
    except (RecursionError, MemoryError):
        return {}, body_start, "front matter is nested too deeply"
    if data is None:
        return {}, body_start, None
    if not isinstance(data, dict):
        return {}, body_start, "front matter must be a mapping (task:, variables:)"
    return data, body_start, None


def find_file_prompt(text: str) -> tuple[list[PromptSite], list[Note]]:
    meta, start, problem = _front_matter(text)
    notes = [Note(problem, 0, code="template-syntax")] if problem else []
    declared = meta.get("variables")
    variables = (frozenset(str(v) for v in declared if isinstance(v, str | int | float))
                 if isinstance(declared, list) else None)
    task_ref = meta.get("task")
    body = text[start:]
    lead = len(body) - len(body.lstrip())
    stripped = body.strip()
    begin = start + lead
    site = PromptSite(key="prompt", kind="file", span=Span(begin, begin + len(stripped)),
                      text=stripped, offsets=tuple(range(begin, begin + len(stripped) + 1)),
                      task_ref=str(task_ref) if isinstance(task_ref, str) else None,
                      declared=variables, line=LineIndex(text).position(begin)[0])
    return ([site] if stripped else []), notes


def _main_content(node: yaml.Node) -> yaml.Node | None:
    """The node with the prompt text: the scalar itself, or the main message's ``content``."""
    if isinstance(node, yaml.ScalarNode):
        return node
    if not isinstance(node, yaml.SequenceNode):
        return None
    messages = [m for m in node.value if isinstance(m, yaml.MappingNode)]
    fields = [{k.value: v for k, v in m.value if isinstance(k, yaml.ScalarNode)} for m in messages]
    for wanted in ("system", "user"):
        for f in fields:
            role = f.get("role")
            if isinstance(role, yaml.ScalarNode) and role.value == wanted and "content" in f:
                content: yaml.Node = f["content"]
                return content
    return None


def find_task_prompt(text: str) -> tuple[list[PromptSite], list[Note]]:
    try:
        root = compose_yaml(text)  # core's limits: size, depth, aliases
    except (yaml.YAMLError, RecursionError, MemoryError):
        return [], []  # the task loader reports the error with its line
    if not isinstance(root, yaml.MappingNode):
        return [], []
    prompt_key = next(((k, v) for k, v in root.value
                       if isinstance(k, yaml.ScalarNode) and k.value == "prompt"), None)
    if prompt_key is None:
        return [], []
    node = _main_content(prompt_key[1])
    if not isinstance(node, yaml.ScalarNode) or not isinstance(node.value, str):
        return [], []
    index = LineIndex(text)
    start = index.offset(node.start_mark.line, node.start_mark.column)
    end = index.offset(node.end_mark.line, node.end_mark.column)
    style = node.style or ""
    key_col = _key_column(prompt_key, node)
    value = node.value
    offsets, indent = _scalar_offsets(text, index, node, start, end)
    trimmed = value.strip()
    lead = len(value) - len(value.lstrip())
    offsets = offsets[lead:lead + len(trimmed) + 1]
    scalar = YamlScalar(style=style, indent=indent, key_column=key_col,
                        single_line=node.start_mark.line == node.end_mark.line)
    site = PromptSite(key="prompt", kind="task", span=Span(start, end), text=trimmed,
                      offsets=tuple(offsets), yaml=scalar, line=node.start_mark.line)
    return [site], []


def _key_column(prompt_key: tuple[yaml.Node, yaml.Node], content: yaml.Node) -> int:
    if content is prompt_key[1]:
        return int(prompt_key[0].start_mark.column)
    return int(content.start_mark.column) - 2  # "content:" of a message: fine for re-indenting


def _scalar_offsets(text: str, index: LineIndex, node: yaml.ScalarNode, start: int,
                    end: int) -> tuple[list[int], int]:
    """For each character of the scalar's value, its document offset (exact for literal block
    scalars and simple one-line scalars; the scalar's start otherwise), and the block indent."""
    value = node.value
    if node.style == "|":
        first = node.start_mark.line + 1
        lines = [index.line_text(i) for i in range(first, node.end_mark.line + 1)]
        content = [ln for ln in lines if ln.strip()]
        indent = min((len(ln) - len(ln.lstrip(" ")) for ln in content), default=0)
        out: list[int] = []
        for i, ln in enumerate(lines):
            base = index.starts[first + i]
            out += [base + indent + j for j in range(max(0, len(ln) - indent))]
            out.append(base + len(ln))  # the newline
        if len(out) >= len(value):
            return [*out[:len(value)], end], indent
        return [start] * (len(value) + 1), indent
    if node.start_mark.line == node.end_mark.line and text[start:end].strip("'\"") == value:
        skip = 1 if node.style in ("'", '"') else 0
        return [start + skip + i for i in range(len(value) + 1)], 0
    return [start] * (len(value) + 1), node.start_mark.column
