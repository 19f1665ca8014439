"""The example plugin package (``examples/plugins``) installed for real, used from every front.

A module fixture ``pip install``s a copy of the package into this venv (and always uninstalls
it), so the plugin is found the way a user's would be: through its entry point in the installed
metadata. Then the CLI (a subprocess), the Slack bot (the real Bolt app, in this process) and the
language server (a subprocess driven by pytest-lsp) each tune with its ``keywords`` model, its
``max-words`` metric, its ``closers`` strategy and its ``last-word`` processor.

The keyword model answers "I think this one is positive." unless the prompt asks for one word,
which makes two worlds, and every front is shown both:

* **closers wins** — metrics ``label`` and ``max-words``: the original prompt gets the labels
  right but is too wordy (50%), a closing sentence makes the answers one word (100%);
* **the processor scores** — metrics ``exact`` and ``max-words`` with ``processors: [last-word]``:
  the raw replies stay chatty, yet the original scores 100% because what is scored is their last
  word; a closing sentence cannot improve on that, so the original is kept. (The processor makes
  every answer one word, so no run can need both the processor and a closing sentence.)
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from core import Store
from core import plugins as plugins_module
from tests.fakes.slack_api import FakeSlackApi, Message
from tests.fakes.slack_harness import Running, running_bot, write_world
from tests.test_lsp_e2e import action, apply, code_actions, edits_of, execute, open_doc, start
from tests.test_slack_bot import CHANNEL, block_text, report_in

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "plugins"
DIST = "prompt-tuner-keywords"
KEYWORDS = "keywords:great,love"
BIN = Path(sys.executable).parent
PROMPT = "Is this film review positive or negative?\nReview: {{ text }}"
POSITIVE = ("a great film", "I love the cast", "great fun from start to end",
            "I love how it ends", "great acting and a great score")
NEGATIVE = ("a dull film", "I hated the cast", "slow and far too long",
            "the plot made no sense", "I walked out early")
N = 30


# -- the package, installed -----------------------------------------------------------------------

def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=300, check=False)


def _build_flags() -> list[str]:
    """Build in this venv when it can build a wheel offline (a setuptools with ``bdist_wheel``
    built in, from 70.1, or the ``wheel`` package); otherwise let pip make its isolated build
    environment from its configured index."""
    major, minor = (int(p) for p in version("setuptools").split(".")[:2])
    if (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None:
        return ["--no-build-isolation"]
    return []


class Package:
    """The example package in this venv: installed from a copy (a build writes ``build/`` and
    ``*.egg-info`` beside the sources, which must not land in the checkout)."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.installed = False

    def install(self) -> None:
        done = _pip("install", "--no-deps", "--no-cache-dir", *_build_flags(), str(self.source))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        self.installed = True
        self._forget()

    def uninstall(self) -> None:
        done = _pip("uninstall", "-y", DIST)
        assert done.returncode == 0, done.stderr[-2000:]
        self.installed = False
        self._forget()

    @staticmethod
    def _forget() -> None:
        """The next lookup in this process sees the venv as it is now."""
        importlib.invalidate_caches()
        sys.modules.pop("prompt_tuner_keywords.plugin", None)
        sys.modules.pop("prompt_tuner_keywords", None)
        plugins_module.reset()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Package]:
    source = tmp_path_factory.mktemp("package") / "plugins"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__"))
    pkg = Package(source)
    pkg.uninstall()  # a run killed half-way may have left it installed
    try:
        pkg.install()
        yield pkg
    finally:
        pkg.uninstall()


@pytest.fixture
def plugin(package: Package) -> Package:
    """The package, installed (again, if a test before removed it)."""
    if not package.installed:
        package.install()
    return package


# -- the worlds ------------------------------------------------------------------------------------

def examples() -> list[dict[str, str]]:
    """Film reviews: the positive ones say "great" or "love", the negative ones neither."""
    return [{"text": f"{(POSITIVE if i % 2 else NEGATIVE)[i // 2 % 5]} (seen on day {i})",
             "expected": "positive" if i % 2 else "negative"} for i in range(N)]


def task_doc(name: str, *, processed: bool) -> dict[str, Any]:
    """``processed``: exact + max-words, scored through ``last-word``; else label + max-words."""
    doc: dict[str, Any] = {"name": name, "description": "Label a film review.", "prompt": PROMPT,
                           "examples": examples()}
    if processed:
        doc["processors"] = ["last-word"]
        doc["metrics"] = [{"type": "exact"}, {"type": "max-words"}]
    else:
        doc["metrics"] = [{"type": "label", "labels": ["positive", "negative"]},
                          {"type": "max-words", "limit": 1}]
    return doc


def write_task(folder: Path, name: str, *, processed: bool) -> Path:
    path = folder / f"{name}.tune.yaml"
    path.write_text(json.dumps(task_doc(name, processed=processed)), encoding="utf-8")
    return path


def closing(prompt: str) -> str:
    """The sentence the winner adds after the original prompt ("" when it adds none)."""
    assert prompt.startswith(PROMPT), prompt
    return prompt[len(PROMPT):].strip()


def assert_chatty_but_scored_as_one_word(store: Path, run_id: str) -> None:
    """The original's answers are kept as the model said them, six words, yet both metrics read
    one word, the right label: what they scored is the processor's output."""
    db = sqlite3.connect(store)
    try:
        (original,) = db.execute("select original_id from runs where id = ?", [run_id]).fetchone()
        rows = db.execute("select answer, expected, score, parts_json, reason from evaluations"
                          " where run_id = ? and candidate_id = ?", [run_id, original]).fetchall()
    finally:
        db.close()
    assert len(rows) >= 8
    for answer, expected, score, parts, reason in rows:
        assert answer == f"I think this one is {expected}."
        assert score == 1.0 and json.loads(parts) == {"exact": 1.0, "max-words": 1.0}
        assert "1 words (limit 1)" in reason


# -- the CLI ---------------------------------------------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "prompt-tuner"), *args], capture_output=True, text=True,
                          timeout=120, check=False)


def tune_args(task: Path, tmp_path: Path) -> list[str]:
    return ["tune", str(task), "--target", KEYWORDS, "--optimizer", KEYWORDS, "--judge", KEYWORDS,
            "--strategy", "closers", "--store", str(tmp_path / "store.db"),
            "--run-dir", str(tmp_path / "runs"), "--no-cache", "--json", "-q"]


def listed(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert proc.returncode == 0, proc.stderr
    return {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}


def test_prompt_tuner_plugins_lists_the_installed_package(plugin: Package) -> None:
    found = listed(cli("plugins", "--json"))
    assert found["keywords"] == {
        "name": "keywords", "package": DIST, "version": "0.1.0", "builtin": False, "error": "",
        "registered": {"provider": ["keywords"], "metric": ["max-words"],
                       "strategy": ["closers"], "processor": ["last-word"]}}
    plain = cli("plugins")
    assert plain.returncode == 0
    assert any(DIST in line and "0.1.0" in line for line in plain.stdout.splitlines())


def test_cli_tunes_with_the_plugins_model_metric_and_strategy(plugin: Package,
                                                              tmp_path: Path) -> None:
    task = write_task(tmp_path, "films", processed=False)
    proc = cli(*tune_args(task, tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "finished" and out["improved"]
    # label right everywhere, max-words only once the prompt asks for one word
    assert (out["baseline_score"], out["best_score"]) == (0.5, 1.0)
    assert out["usage"].keys() == {KEYWORDS}
    result = json.loads(Path(out["json_path"]).read_text(encoding="utf-8"))
    best = next(c for c in result["candidates"] if c["id"] == out["best_id"])
    assert (best["strategy"], best["operator"]) == ("closers", "closer")
    assert best["parents"] == [out["original_id"]]
    assert best["note"] == f"added: {closing(out['best_prompt'])}"


def test_cli_scores_through_the_plugins_processor(plugin: Package, tmp_path: Path) -> None:
    task = write_task(tmp_path, "films-processed", processed=True)
    proc = cli(*tune_args(task, tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # exact and max-words on "I think this one is positive." would both be 0
    assert out["status"] == "finished" and out["baseline_score"] == 1.0
    assert not out["improved"] and out["best_id"] == out["original_id"]
    result = json.loads(Path(out["json_path"]).read_text(encoding="utf-8"))
    assert {c["strategy"] for c in result["candidates"]} == {"original", "closers"}
    assert_chatty_but_scored_as_one_word(tmp_path / "store.db", out["run_id"])


# -- the Slack bot ---------------------------------------------------------------------------------

@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


async def tuned_in_slack(bot: Running, store_path: Path, text: str
                         ) -> tuple[dict[str, Any], str]:
    """Send ``/tune text`` and wait for its report: the stored result and the report's text."""
    api = bot.api
    before = {m.ts for m in api.posts(CHANNEL) if m.thread_ts is None}
    response = await bot.slack.command(text)
    assert response.status_code == 200 and "Started run" in response.json()["text"], response.text

    def new_parent(a: FakeSlackApi) -> list[Message]:
        return [m for m in a.posts(CHANNEL) if m.thread_ts is None and m.ts not in before]

    (parent,) = await api.until(new_parent, 10, "the run's parent message")
    report = await api.until(lambda a: report_in(a, parent.ts), 60, "the report")
    async with asyncio.timeout(30):  # the bot takes one run at a time from a member
        while bot.bot.runs.active:
            await asyncio.sleep(0.05)
    store = Store(store_path)
    try:
        row = store.runs(limit=1)[0]
    finally:
        store.close()
    return {**json.loads(row["result_json"]), "target": row["target"]}, block_text(report.blocks)


async def test_the_slack_bot_tunes_with_the_plugin(plugin: Package, slack_api: FakeSlackApi,
                                                   tmp_path: Path) -> None:
    paths = write_world(tmp_path, None, max_examples=N, variations=3)
    config = json.loads(paths.config.read_text(encoding="utf-8"))
    # the default target is another keyword model: only the alias gives the right one
    config["models"] = {"target": "keywords:meh", "optimizer": KEYWORDS, "judge": KEYWORDS}
    paths.config.write_text(json.dumps(config), encoding="utf-8")
    write_task(paths.tasks, "films", processed=False)
    write_task(paths.tasks, "films-processed", processed=True)

    async with running_bot(paths, slack_api, targets={"kw": KEYWORDS}) as bot:
        won, text = await tuned_in_slack(bot, paths.store,
                                         "task:films --target kw --strategy closers")
        kept, kept_text = await tuned_in_slack(
            bot, paths.store, "task:films-processed --target kw --strategy closers")

    assert won["target"] == KEYWORDS and won["improved"]
    best = next(c for c in won["candidates"] if c["id"] == won["best_id"])
    assert best["strategy"] == "closers"
    sentence = closing(won["best_prompt"])
    assert sentence and f"\n+{sentence}" in text  # the winner's diff: the closing sentence added
    assert f"`{won['original_id']}` (held out)\n50%" in text
    assert f"`{won['best_id']}` (held out)\n100%" in text

    assert kept["target"] == KEYWORDS and kept["baseline_score"] == 1.0 and not kept["improved"]
    assert "No candidate beat the original" in kept_text
    assert f"`{kept['original_id']}` (held out)\n100%" in kept_text
    assert_chatty_but_scored_as_one_word(paths.store, kept["run_id"])


# -- the language server ---------------------------------------------------------------------------

def python_source(task: str) -> str:
    return (f"# prompt-tuner: task={task}\n"
            f"SYSTEM_PROMPT = {PROMPT!r}\n"
            "\n\ndef main() -> None:\n    print(SYSTEM_PROMPT)\n")


def lsp_options(tmp_path: Path) -> dict[str, Any]:
    return {"models": {"target": KEYWORDS, "optimizer": KEYWORDS, "judge": KEYWORDS},
            "storePath": str(tmp_path / "store.db"),
            "settings": {"run_dir": str(tmp_path / "runs"), "cache.enabled": False,
                         "tune.strategy": "closers", "tune.variations": 3},
            "onResult": "codeAction"}


async def test_the_language_server_optimizes_with_the_plugin(plugin: Package,
                                                            tmp_path: Path) -> None:
    write_task(tmp_path, "films", processed=False)
    write_task(tmp_path, "films-processed", processed=True)
    client = await start(tmp_path, lsp_options(tmp_path))
    try:
        source = python_source("films.tune.yaml")
        uri = open_doc(client, tmp_path / "app.py", source, "python")
        optimize = action(await code_actions(client, uri, line=1), "Optimize this prompt")
        assert optimize.command is not None
        result = await execute(client, optimize.command.command,
                               list(optimize.command.arguments or []))
        offered = action(await code_actions(client, uri, line=1), "Replace with v")

        kept_uri = open_doc(client, tmp_path / "kept.py",
                            python_source("films-processed.tune.yaml"), "python")
        kept = await execute(client, "promptTuner.optimize",
                             [{"uri": kept_uri, "key": "SYSTEM_PROMPT"}])
    finally:
        await client.shutdown_session()

    assert result["significant"] and (result["baseline"], result["best"]) == (0.5, 1.0)
    assert offered.edit is not None
    (edit,) = edits_of(offered.edit)
    assign = next(n for n in ast.parse(apply(source, edit)).body if isinstance(n, ast.Assign))
    new_prompt = ast.literal_eval(assign.value)
    sentence = closing(new_prompt)
    assert sentence
    db = sqlite3.connect(tmp_path / "store.db")
    try:
        notes = {n for (n,) in db.execute("select note from candidates where strategy = 'closers'")}
    finally:
        db.close()
    assert f"added: {sentence}" in notes

    assert kept["baseline"] == 1.0 and not kept["improved"] and kept["edit"] is None
    assert_chatty_but_scored_as_one_word(tmp_path / "store.db", kept["runId"])


# -- uninstalled -----------------------------------------------------------------------------------

NOWHERE = "openai:x@http://127.0.0.1:9/v1"  # never reached: each run below stops before a call
# what a run names (in its task file, by flag) -> what the one line that refuses it says
GONE: list[tuple[dict[str, Any], list[str], str]] = [
    ({}, ["--strategy", "closers"], "unknown strategy 'closers'"),
    ({}, ["--target", KEYWORDS], "unknown model kind 'keywords'"),
    ({"metrics": [{"type": "max-words"}]}, [], "unknown metric type 'max-words'"),
    ({"processors": ["last-word"]}, [], "unknown processor 'last-word'"),
]


def test_uninstalling_removes_the_plugin_everywhere(plugin: Package, tmp_path: Path) -> None:
    plugin.uninstall()
    assert "keywords" not in listed(cli("plugins", "--json"))
    assert "keywords" not in {p.name for p in plugins_module.plugins()}
    for i, (extra, flags, error) in enumerate(GONE):
        doc = {"name": f"gone-{i}", "prompt": PROMPT, "examples": examples()[:4],
               "metrics": [{"type": "label", "labels": ["positive", "negative"]}], **extra}
        task = tmp_path / f"gone-{i}.tune.yaml"
        task.write_text(json.dumps(doc), encoding="utf-8")
        proc = cli("tune", str(task), "--target", NOWHERE, "--optimizer", NOWHERE, *flags,
                   "--store", str(tmp_path / "store.db"), "--run-dir", str(tmp_path / "runs"),
                   "--json", "-q")
        assert proc.returncode == 2 and not proc.stdout, proc.stderr
        (line,) = proc.stderr.splitlines()
        assert line.startswith("prompt-tuner: error: ") and error in line, line
