"""Fuzzing the command line and the model's replies.

Flags: random argv drawn from the real parser (every subcommand, its options and positionals)
with random values — numbers out of range, odd paths, bad specs. Replies: a loopback model that
answers with good completions, garbage, huge or partial bodies, odd status codes and lying
headers, or says nothing. Either way a run ends in exit 0, one ``error:`` line with exit 2, or
130 — never an internal error.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.cli import build_parser
from tests.fakes import fuzz_replies as r
from tests.fakes.fuzz import (
    assert_property,
    examples,
    good_model,
    models_config,
    run_cli,
    workdir,
    write_files,
)
from tests.fakes.raw_http import RawServer

pytestmark = pytest.mark.usefixtures("cli_console", "fuzz_env")

TASK = ("name: t\nprompt: 'Review: {{ text }}'\nmetric: label\nlabels: [positive, negative]\n"
        "examples: [{text: good, expected: positive}, {text: bad, expected: negative},\n"
        "           {text: fine, expected: positive}, {text: awful, expected: negative}]\n")
FILES = {"t.yaml": TASK, "p.txt": "Answer positive or negative: {{ text }}", "dir/keep": "",
         "notes.txt": "not a prompt {{", "empty.yaml": "", "bad.yaml": "name: [unclosed\n"}
RUN_REFS = ["last", "RUN", "RUN_PREFIX", "nope", "", "l", "20"]


@pytest.fixture(scope="module")
def model() -> Iterator[RawServer]:
    with good_model() as server:
        yield server


@pytest.fixture
def fuzz_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key in the environment, and no embedded model (a spec falling back to it fails like a
    missing model file would)."""
    from core.errors import ModelError
    from core.models import embedded

    def refuse(*args: Any) -> Any:
        raise ModelError("the embedded model is off in the fuzz tests", "use a loopback model")

    monkeypatch.setattr(embedded, "_load", refuse)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fuzz")


# -- flags ----------------------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def commands() -> list[tuple[list[str], argparse.ArgumentParser]]:
    """Every (sub)command path of the real parser: ``tune``, ``config show``, ``cache clear``…"""
    found = []
    for name, sub in _subparsers(build_parser()).items():
        if name == "view":  # a server: it would serve until stopped (tests/test_view.py)
            continue
        nested = _subparsers(sub)
        found += [([name, inner], p) for inner, p in nested.items()] if nested else [([name], sub)]
    return found


INTS = ["0", "1", "2", "3", "-1", "-0", "999999999999999999999999", "1e3", "abc", "", " 2", "0x10"]
FLOATS = ["0.05", "0", "1", "-1", "nan", "inf", "-inf", "1e-320", "1e309", "0.5", "x"]
PATHS = ["t.yaml", "p.txt", "dir", "dir/new", "missing.yaml", "/proc/self", "/dev/null", "",
         "t.yaml/x", "empty.yaml", "bad.yaml", "s.db", "new.db", "out.html", "notes.txt", "-"]


def value_for(action: argparse.Action, url: str) -> st.SearchStrategy[str]:
    dest = action.dest
    if action.choices:
        return st.sampled_from([*map(str, action.choices), "bogus", ""])
    if dest in ("target", "optimizer", "judge"):
        return st.sampled_from([f"openai:m@{url}", f"openai:m@{url}", "openai:m@http://[::1",
                                "openai:m@http://127.0.0.1:9/v1", "nosuch:m", "openai:", "",
                                "openai:m@ftp://x", "huggingface:m@" + url, "embedded:/none.gguf"])
    if dest in ("run_id", "resume", "candidate", "other"):
        return st.sampled_from([*RUN_REFS, "original", "best", "aaaa", "task"])
    if dest == "alpha" or dest == "older_than":
        return st.sampled_from(FLOATS)
    if action.type is not None and getattr(action.type, "__name__", "") in (
            "int", "positive", "non_negative", "non_negative_float", "float"):
        return st.sampled_from(INTS + FLOATS[:4])
    if dest in ("strategy", "split", "profile", "format"):
        return st.sampled_from(["auto", "refine", "opro", "evolve", "fewshot", "cot", "dev",
                                "test", "all", "train", "quick", "thorough", "html", "json",
                                "md", "bogus", ""])
    if dest in ("task", "description"):
        return st.sampled_from([*PATHS, "Summarise {{ text }}", "just words", "{{ 1/0 }}", "\n"])
    return st.sampled_from([*PATHS, "task", "x"])


@st.composite
def argv_for(draw: st.DrawFn, url: str) -> list[str]:
    path, parser = draw(st.sampled_from(commands()))
    argv = list(path)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            if draw(st.integers(0, 40)) == 0:
                argv.append("--help")
            continue
        if not action.option_strings:  # a positional
            count = 2 if action.nargs == "+" else 1
            if action.nargs in ("?", "+") and draw(st.booleans()):
                count = draw(st.integers(0, 3))
            argv += [draw(value_for(action, url)) for _ in range(count)]
            continue
        if draw(st.integers(0, 3)) != 0:
            continue
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv += [flag] * (draw(st.integers(1, 2)) if isinstance(action, argparse._CountAction)
                              else 1)
        else:
            argv += [flag, draw(value_for(action, url))]
    if path[0] == "tune" and "--max-calls" not in argv:
        argv += ["--max-calls", "16"]
    return argv


def fill_refs(argv: list[str], run_id: str | None) -> list[str]:
    if run_id is None:
        return argv
    return [run_id if a == "RUN" else run_id[:6] if a == "RUN_PREFIX" else a for a in argv]


def seeded_run(server: RawServer) -> str | None:
    """One small finished run in the store, so run references have something to find."""
    outcome = run_cli(["tune", "t.yaml", "--store", "s.db", "--max-calls", "12", "--rounds", "1",
                       "--json"])
    assert_property(outcome)
    import json

    try:
        return str(json.loads(outcome.out)["run_id"])
    except (ValueError, KeyError):
        return None


@settings(max_examples=examples(160), deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_flags(model: RawServer, data: st.DataObject) -> None:
    argv = data.draw(argv_for(model.base_url), label="argv")
    with workdir() as root:
        write_files(root, {"prompt-tuner.yaml": models_config(model.base_url), **FILES})
        run_id = seeded_run(model) if data.draw(st.integers(0, 3), label="seed a run") == 0 \
            else None
        if "--store" not in argv and argv[0] not in ("schema", "config"):
            argv += ["--store", "s.db"]
        assert_property(run_cli(fill_refs(argv, run_id)))


# -- the model's replies ---------------------------------------------------------------------------

REPLY_COMMANDS = [
    ["eval", "t.yaml"], ["eval", "t.yaml", "--repeat", "2"],
    ["compare", "t.yaml", "task", "p.txt"], ["compare", "t.yaml", "task", "p.txt", "--pairwise"],
    ["tune", "t.yaml", "--max-calls", "14", "--rounds", "1", "--variations", "2", "-q"],
    ["tune", "Summarise the text: {{ text }}", "--max-calls", "10", "--rounds", "1", "-q"],
]


@settings(max_examples=examples(120), deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_model_replies(data: st.DataObject) -> None:
    replies = data.draw(r.replies, label="replies")
    argv = data.draw(st.sampled_from(REPLY_COMMANDS), label="argv")
    with r.scripted_model(replies) as server, workdir() as root:
        write_files(root, {"prompt-tuner.yaml": models_config(server.base_url), **FILES})
        assert_property(run_cli([*argv, "--store", "s.db", "--no-cache"], replies))
