"""Prompt files for ``eval --prompt`` and ``compare``.

- ``task`` (the word): the task's own prompt;
- a ``.yaml``/``.yml``/``.json`` file: a string, a list of ``{role, content}``, or a mapping with
  ``prompt:`` (so a task file works as a prompt file too);
- any other file: text; lines ``[system]``, ``[user]``, ``[assistant]`` start the turns of a chat
  prompt, otherwise the whole text is one user message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from .datasets import is_file
from .errors import TaskError
from .models.base import Message, Role
from .task import Task, check_examples, parse_document, read_text_file

MARKERS = {"[system]": "system", "[user]": "user", "[assistant]": "assistant"}


def parse_prompt_text(text: str) -> tuple[Message, ...]:
    """A prompt file's text as messages: ``[system]``, ``[user]`` and ``[assistant]`` lines
    start the turns of a chat prompt; without them the whole text is one user message.

    Examples:
        >>> from core import parse_prompt_text
        >>> parse_prompt_text("Classify: {{ review }}")
        (Message(role='user', content='Classify: {{ review }}'),)
        >>> chat = parse_prompt_text(
        ...     "[system]\\nAnswer positive or negative.\\n[user]\\n{{ review }}")
        >>> [(m.role, m.content) for m in chat]
        [('system', 'Answer positive or negative.'), ('user', '{{ review }}')]
    """
    messages: list[Message] = []
    role: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        marker = MARKERS.get(line.strip().lower())
        if marker is not None:
            if role is not None:
                messages.append(Message(cast(Role, role), "\n".join(lines).strip()))
            role, lines = marker, []
        else:
            lines.append(line)
    if role is None:
        return (Message("user", text.strip()),)
    messages.append(Message(cast(Role, role), "\n".join(lines).strip()))
    return tuple(messages)


def _from_data(data: Any, where: str) -> tuple[Message, ...]:
    if isinstance(data, dict) and "prompt" in data:
        data = data["prompt"]
    if isinstance(data, str):
        return (Message("user", data.strip()),)
    if isinstance(data, list) and data and all(isinstance(m, dict) for m in data):
        out = []
        for i, m in enumerate(data):
            role, content = m.get("role"), m.get("content")
            if role not in ("system", "user", "assistant") or not isinstance(content, str):
                raise TaskError(f"{where}: message {i + 1} needs a role (system, user or assistant) "
                                "and text content", "write {role: user, content: ...}")
            out.append(Message(role, content))
        return tuple(out)
    raise TaskError(f"{where}: expected a prompt string, a list of {{role, content}} or a "
                    "mapping with `prompt:`", "see the README, 'Comparing prompts'")


def load_prompt(ref: str, task: Task) -> tuple[Message, ...]:
    """The messages named by ``ref``, checked against the task's examples (every slot filled).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import load_prompt, load_task
        >>> task = load_task(Path("examples/sentiment.tune.yaml"))
        >>> load_prompt("task", task) == task.messages
        True
        >>> path = Path(tempfile.mkdtemp()) / "terse.txt"
        >>> _ = path.write_text("Is this review positive or negative? {{ review }}")
        >>> load_prompt(str(path), task)
        (Message(role='user', content='Is this review positive or negative? {{ review }}'),)

        A slot the task's examples cannot fill is refused before any model is called:

        >>> _ = path.write_text("Rate {{ movie }}")
        >>> load_prompt(str(path), task)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        core.errors.TaskError: ...: no field 'movie' for the slot {{ movie }} in .../terse.txt (...)
    """
    if ref == "task":
        return task.messages
    path = Path(ref)
    if not is_file(path):  # a long quoted prompt is no file name the system can look up
        raise TaskError(f"prompt file not found: {ref[:200]}",
                        "give a file with the prompt text, or `task` for the task's own prompt")
    text = read_text_file(path, "prompt file")
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        data = parse_document(text, ref, json_format=path.suffix.lower() == ".json")
        messages = _from_data(data, ref)
    else:
        messages = parse_prompt_text(text)
    if not any(m.content.strip() for m in messages):
        raise TaskError(f"{ref}: the prompt is empty", "write the prompt in the file")
    check_prompt(messages, task, ref)
    return messages


def check_prompt(messages: tuple[Message, ...], task: Task, name: str) -> None:
    from .templates import prompt_slots

    slots: set[str] = set()
    for m in messages:
        try:
            slots |= prompt_slots(m.content)
        except TaskError as exc:
            raise TaskError(f"{name}: {exc.message}", exc.hint) from None
    if slots and not task.examples:
        raise TaskError(f"{name}: the prompt has slot {{{{ {sorted(slots)[0]} }}}} but the task has "
                        "no examples", "remove the slot or add examples")
    check_examples(task.examples, frozenset(slots), prompt_name=name)
