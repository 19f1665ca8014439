"""Fuzzing what a user writes: task files, configs (prompt-tuner.yaml) and datasets (JSONL, CSV).

Every case runs the real CLI in-process (``eval``, ``compare`` or a small ``tune``) against a
loopback model, and must end in exit 0, one ``error:`` line with exit 2, or 130 — never an
internal error. Derandomized, so CI sees the same cases every time; cases that once failed are
replayed from ``tests/fuzz_corpus/`` by ``test_fuzz_corpus.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import fuzz_grammar as g
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

FUZZ = settings(max_examples=examples(150), deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

COMMANDS: list[list[str]] = [
    ["eval", "t.yaml"], ["eval", "t.yaml", "--split", "dev"], ["compare", "t.yaml", "task", "p.txt"],
    ["tune", "t.yaml", "--max-calls", "12", "--rounds", "1", "--variations", "1", "-q"],
]
DATA = {"data.jsonl": '{"text": "good", "expected": "positive"}\n'
                      '{"text": "bad", "expected": "negative"}\n',
        "data.csv": "text,expected\ngood,positive\nbad,negative\n",
        "p.txt": "Say positive or negative: {{ text }}"}


@pytest.fixture(scope="module")
def model() -> Iterator[RawServer]:
    with good_model() as server:
        yield server


@pytest.fixture
def fuzz_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key in the environment, and no embedded model: a spec that falls back to it fails like a
    missing model file would (loading llama.cpp is not what is fuzzed here)."""
    from core.errors import ModelError
    from core.models import embedded

    def refuse(*args: Any) -> Any:
        raise ModelError("the embedded model is off in the fuzz tests", "use a loopback model")

    monkeypatch.setattr(embedded, "_load", refuse)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fuzz")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fuzz")


def run_case(server: RawServer, files: dict[str, Any], argv: list[str]) -> None:
    with workdir() as root:
        write_files(root, {"prompt-tuner.yaml": models_config(server.base_url), **DATA, **files})
        assert_property(run_cli([*argv, "--store", "s.db"]))


@FUZZ
@given(data=st.data())
def test_fuzz_task_files(model: RawServer, data: st.DataObject) -> None:
    fields = data.draw(g.task_fields(model.base_url), label="fields")
    text = data.draw(g.broken(g.emit_document(fields)), label="yaml")
    argv = data.draw(st.sampled_from(COMMANDS), label="argv")
    run_case(model, {"t.yaml": text}, argv)


CONFIG_KEYS = {
    "budget": ["max_calls", "max_tokens", "max_cost", "bogus"],
    "tune": ["concurrency", "seed", "variations", "rounds", "strategy", "alpha", "max_examples",
             "samples", "answer_max_tokens", "keep_best", "auto_split_min", "bogus"],
    "limits": ["max_in_flight", "rpm", "tpm", "bogus"],
    "cache": ["enabled", "path", "ttl_s", "bogus"],
    "retry": ["attempts", "initial_s", "max_s"],
    "embedded": ["n_ctx", "n_threads"],
    "pool": ["cooldown_s", "max_failures"],
}
TOP_KEYS = ["store_path", "run_dir", "truncation", "prices", "model_limits", "profiles", "profile",
            "key_bindings", "bogus", "models", "store_path", "run_dir", "profiles"]


@st.composite
def config_text(draw: st.DrawFn, url: str) -> str:
    value = st.one_of(st.integers(-5, 10**6), st.integers(1, 8), st.integers(1, 8),
                      st.sampled_from([0, 1, 2, -1, 0.5, True, "auto", "refine", "s.db", "runs",
                                       "/proc/self", "/dev/null", ["shrink"], {"m": {"rpm": 1}}]),
                      g.odd, g.leaf, g.nested())
    fields: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(CONFIG_KEYS)), max_size=3, unique=True)):
        keys = draw(st.lists(st.sampled_from(CONFIG_KEYS[section]), min_size=1, max_size=3,
                             unique=True))
        fields[section] = {k: draw(value) for k in keys}
    for key in draw(st.lists(st.sampled_from(TOP_KEYS), max_size=2, unique=True)):
        fields[key] = draw(st.one_of(value, g.deep_value))
    body = g.emit_document(fields)
    return draw(g.broken(models_config(url) + body)) if "models" not in fields else body


@FUZZ
@given(data=st.data())
def test_fuzz_configs(model: RawServer, data: st.DataObject) -> None:
    text = data.draw(config_text(model.base_url), label="config")
    as_flag = data.draw(st.booleans(), label="as --config")
    argv = data.draw(st.sampled_from([*COMMANDS, ["config", "show"], ["cache", "stats"],
                                      ["runs"]]), label="argv")
    task = g.emit_document({"name": "t", "prompt": "Review: {{ text }}", "metric": "label",
                            "labels": ["positive", "negative"], "dataset": {"file": "data.jsonl"}})
    with workdir() as root:
        write_files(root, {**DATA, "t.yaml": task,
                           ("c.yaml" if as_flag else "prompt-tuner.yaml"): text})
        extra = ["--config", "c.yaml"] if as_flag else []
        store = [] if "store_path" in text else ["--store", "s.db"]
        if argv[:2] == ["config", "show"] or argv[:1] == ["cache"]:
            argv = [*argv, *extra]
        else:
            argv = [*argv, *extra, *store]
        assert_property(run_cli(argv))


@FUZZ
@given(data=st.data())
def test_fuzz_datasets(model: RawServer, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["data.jsonl", "data.csv", "data.tsv", "data.json"]),
                     label="file")
    content: str | bytes
    if name == "data.jsonl":
        content = data.draw(st.one_of(g.jsonl, g.jsonl, g.jsonl, g.dataset_bytes), label="jsonl")
    elif name == "data.json":
        content = data.draw(st.one_of(g.json_array, g.jsonl), label="json")
    else:
        content = data.draw(st.one_of(g.csv_text, g.csv_text, g.csv_text, g.dataset_bytes),
                            label="csv")
    spec = data.draw(st.one_of(st.just({"file": name}), st.fixed_dictionaries(
        {"file": st.just(name)}, optional={"inputs": st.dictionaries(
            st.sampled_from(["text", "x"]), st.sampled_from(["text", "x", "", "expected"]),
            max_size=2), "expected": st.sampled_from(["expected", "text", "nope", ""]),
            "meta": st.lists(st.sampled_from(["meta", "x", "nope"]), max_size=2)})),
        label="dataset")
    task = json.dumps({"name": "t", "prompt": "Review: {{ text }}", "dataset": spec,
                       "metric": data.draw(st.sampled_from(["auto", "label", "exact"]))})
    argv = data.draw(st.sampled_from(COMMANDS), label="argv")
    run_case(model, {"t.yaml": task, name: content}, argv)
