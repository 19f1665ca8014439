"""Learning from every run: which operators and prompt changes went with gains over the parent
candidate, per target model, on a real on-disk store written through the Store's own methods.

In every finished run, adding demonstrations lifts the dev score by 30 points over the parent and
stating the output format changes nothing (it fixes three answers and breaks three others)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from core.cli.insights import add_parsers, cmd_insights
from core.errors import PromptTunerError
from core.insights import Gain, changes, gains, insights, mean_ci, prompt_features
from core.store import Store
from tests.fakes.stored_runs import N, Run

TINY, TINY_ELSEWHERE, SMALL = ("ollama:tiny@http://localhost:11434", "ollama:tiny@http://h:9/v1",
                               "llamacpp:small")
BASE = ("Read the film review below carefully and decide whether the person who wrote it liked "
        "the film or not, taking sarcasm and mixed feelings into account before you decide.\n\n"
        "Review: {{ text }}")
FORMAT_1 = BASE.replace("decide.", "decide. Answer with one word.")
FORMAT_2 = BASE.replace("decide.", "decide. Reply with the label only.")
COT = BASE.replace("decide.", "decide. Think step by step.")
PARENT = range(9)                           # the original: 9 of 30 right (30%)
DEMOS = range(18)                           # +30 points
FORMAT = [*range(3, 12)]                    # 9 right, a different 9: +0 points
FIXED: dict[str, Any] = {"mode": "fixed", "k": 2, "indices": [0, 1], "placement": "turns"}
KNN: dict[str, Any] = {"mode": "knn", "k": 4, "indices": [], "placement": "inline"}


def demos(k: int, base: dict[str, Any] = FIXED) -> dict[str, Any]:
    return {"demos": {**base, "k": k}}


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Three finished runs (two on the tiny model at different endpoints, one on the small one)
    and one that never finished."""
    path = tmp_path / "store.db"
    store = Store(path)
    r1 = Run(store, "r1", "films", TINY)
    r1.add("r1-o", BASE, PARENT)
    r1.add("r1-d2", BASE, DEMOS, parent="r1-o", strategy="fewshot", operator="demos",
           extras=demos(2))
    r1.add("r1-d4", BASE, DEMOS, parent="r1-o", strategy="fewshot", operator="demos",
           extras=demos(4, KNN))
    r1.add("r1-f1", FORMAT_1, FORMAT, parent="r1-o", strategy="base", operator="format")
    r1.add("r1-f2", FORMAT_2, FORMAT, parent="r1-o", strategy="base", operator="format")
    r1.add("r1-cot", COT, range(12), parent="r1-o", strategy="cot", operator="cot",
           extras={"answer_prefix": "Answer:"})
    r1.add("r1-lost", FORMAT_1, DEMOS, parent="elsewhere", strategy="base", operator="format")
    r1.add("r1-test", COT, DEMOS, parent="r1-o", strategy="cot", operator="cot", split="test")
    r1.finish()
    r2 = Run(store, "r2", "films", TINY_ELSEWHERE)
    r2.add("r2-o", BASE, PARENT)
    r2.add("r2-d3", BASE, DEMOS, parent="r2-o", strategy="fewshot", operator="demos",
           extras=demos(3))
    r2.add("r2-f1", FORMAT_1, FORMAT, parent="r2-o", strategy="base", operator="format")
    r2.finish("budget_exhausted")
    r3 = Run(store, "r3", "news", SMALL)
    r3.add("r3-o", BASE, PARENT)
    for k in (2, 3, 4):
        r3.add(f"r3-d{k}", BASE, DEMOS, parent="r3-o", strategy="fewshot", operator="demos",
               extras=demos(k))
    r3.add("r3-f1", FORMAT_1, FORMAT, parent="r3-o", strategy="base", operator="format")
    r3.finish()
    r4 = Run(store, "r4", "films", TINY)  # interrupted: a demonstration child that did badly
    r4.add("r4-o", BASE, DEMOS)
    r4.add("r4-d2", BASE, PARENT, parent="r4-o", strategy="fewshot", operator="demos",
           extras=demos(2))
    store.close()
    return path


def by_factor(found: list[Any], target: str) -> dict[str, Any]:
    return {i.factor: i for i in found if i.target == target}


# -- features and changes --------------------------------------------------------------------------

def test_features_read_format_demos_reasoning_length_and_roles() -> None:
    msgs = [{"role": "system", "content": "You label reviews. Reply with JSON, nothing else."},
            {"role": "user", "content": "Let's think step by step. {{ text }} {% if x %}{% endif %}"}]
    f = prompt_features(msgs, {"demos": {"mode": "knn", "k": 5, "placement": "inline"},
                               "answer_prefix": "Answer:"})
    assert f == {"output_format": True, "demos": 5, "demo_mode": "knn",
                 "demo_placement": "inline", "chain_of_thought": True, "words": 13,
                 "length": "short", "system_message": True, "answer_prefix": True}
    plain = prompt_features([{"role": "user", "content": " ".join(["word"] * 81)}], {})
    assert (plain["length"], plain["demos"], plain["demo_mode"], plain["output_format"],
            plain["chain_of_thought"], plain["system_message"]) == ("long", 0, "none", False,
                                                                  False, False)
    assert prompt_features([{"role": "user", "content": "w " * 25}], {})["length"] == "medium"


def test_changes_name_what_the_child_did() -> None:
    base = prompt_features([{"role": "user", "content": BASE}], {})
    two = prompt_features([{"role": "user", "content": BASE}], demos(2))
    assert changes(base, two) == ["added demonstrations"]
    assert changes(two, base) == ["removed demonstrations"]
    assert changes(two, prompt_features([{"role": "user", "content": BASE}], demos(4, KNN))) == [
        "more demonstrations", "demos by nearest neighbours", "demos as inline examples"]
    assert changes(prompt_features([{"role": "user", "content": BASE}], demos(4, KNN)), two) == [
        "fewer demonstrations", "fixed demos", "demos as chat turns"]
    assert changes(base, prompt_features([{"role": "user", "content": FORMAT_1}], {})) == [
        "stated the output format"]
    long = prompt_features([{"role": "system", "content": "You are careful."},
                            {"role": "user", "content": BASE + " Think it through first. " * 3}],
                           {"answer_prefix": "Answer:"})
    assert changes(base, long) == ["asked for step-by-step reasoning", "added a system message",
                                   "added an answer prefix", "longer instruction"]
    assert changes(long, base)[-1] == "shorter instruction"
    assert changes(base, base) == []


# -- gains and insights ------------------------------------------------------------------------------

def test_gains_pair_each_child_with_its_parent_in_finished_runs_only(store_path: Path) -> None:
    store = Store.existing(store_path)
    try:
        found = {g.child_id: g for g in gains(store)}
    finally:
        store.close()
    # r4 never finished; r1-lost's parent is in no run; r1-test was never scored on dev
    assert set(found) == {"r1-d2", "r1-d4", "r1-f1", "r1-f2", "r1-cot", "r2-d3", "r2-f1",
                          "r3-d2", "r3-d3", "r3-d4", "r3-f1"}
    d = found["r2-d3"]
    assert isinstance(d, Gain)
    assert (d.target, d.task, d.parent_id, d.n_examples) == ("ollama:tiny", "films", "r2-o", N)
    assert d.gain == pytest.approx(0.3)
    assert d.changes == ("added demonstrations",)
    assert found["r1-f1"].gain == pytest.approx(0.0)
    assert found["r1-cot"].changes == ("asked for step-by-step reasoning",
                                       "added an answer prefix")
    assert json.loads(json.dumps(d.to_json()))["factors"] == [
        "operator: fewshot/demos", "change: added demonstrations"]


def test_demonstrations_help_and_the_format_sentence_does_not(store_path: Path) -> None:
    store = Store.existing(store_path)
    try:
        found = insights(store)
    finally:
        store.close()
    tiny = by_factor(found, "ollama:tiny")
    demo = tiny["change: added demonstrations"]
    assert (demo.n, demo.runs, demo.verdict, demo.beat_parent) == (3, 2, "helps", 1.0)
    assert demo.mean == pytest.approx(0.3)
    assert 0 < demo.low < 0.3 < demo.high
    fmt = tiny["change: stated the output format"]
    assert fmt.n == 3 and fmt.mean == pytest.approx(0.0)
    assert fmt.low < 0 < fmt.high and fmt.verdict == "no clear effect"
    assert tiny["operator: fewshot/demos"].verdict == "helps"
    assert "change: asked for step-by-step reasoning" not in tiny  # one pair: below min_n
    small = by_factor(found, "llamacpp:small")
    assert small["change: added demonstrations"].n == 3
    assert "change: stated the output format" not in small
    assert [i.target for i in found] == sorted(i.target for i in found)
    means = [i.mean for i in found if i.target == "ollama:tiny"]
    assert means == sorted(means, reverse=True)


def test_target_task_and_min_n_filter(store_path: Path) -> None:
    store = Store.existing(store_path)
    try:
        assert {i.target for i in insights(store, target="small")} == {"llamacpp:small"}
        one = by_factor(insights(store, target=TINY, min_n=1), "ollama:tiny")  # this endpoint
        assert one["change: added demonstrations"].n == 2 and one["change: added demonstrations"].runs == 1
        assert by_factor(insights(store, target="ollama:tiny"), "ollama:tiny")[
            "change: added demonstrations"].n == 3  # both endpoints
        assert {i.target for i in insights(store, task="news")} == {"llamacpp:small"}
        rare = by_factor(insights(store, min_n=1), "ollama:tiny")
        cot = rare["change: asked for step-by-step reasoning"]
        assert (cot.n, cot.low, cot.high, cot.verdict) == (1, -1.0, 1.0, "no clear effect")
        assert insights(store, target="nobody") == []
    finally:
        store.close()


def test_identical_gains_still_get_an_interval_from_their_example_noise() -> None:
    low, high = mean_ci([0.3, 0.3, 0.3], [0.05, 0.05, 0.05])
    assert low < 0.3 < high
    assert mean_ci([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3))
    assert mean_ci([]) == (-1.0, 1.0)


# -- the command ---------------------------------------------------------------------------------------

def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile")
    p.add_argument("--config", type=Path)
    p.add_argument("--store", type=Path)


def cli(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="prompt-tuner")
    add_parsers(parser.add_subparsers(dest="command", required=True), _common)
    out = Console(file=io.StringIO(), width=100, force_terminal=False)
    code = cmd_insights(parser.parse_args(argv), out)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    return code, str(text)


def test_command_prints_a_table_per_target_within_100_columns(store_path: Path) -> None:
    code, text = cli(["insights", "--store", str(store_path)])
    assert code == 0
    assert "11 child/parent pairs from 3 runs" in text
    assert "target ollama:tiny" in text and "target llamacpp:small" in text
    row = next(line for line in text.splitlines() if "change: added demonstrations" in line)
    assert row.split()[3:6] == ["3", "+30", "[+9,"] and row.endswith("helps")
    assert all(len(line) <= 100 for line in text.splitlines())
    code, text = cli(["insights", "--store", str(store_path), "--target", "small"])
    assert "llamacpp:small" in text and "ollama:tiny" not in text


def test_command_json_is_one_document(store_path: Path) -> None:
    code, text = cli(["insights", "--store", str(store_path), "--json", "--min-n", "1"])
    doc = json.loads(text)
    assert code == 0 and (doc["pairs"], doc["runs"], doc["min_n"]) == (11, 3, 1)
    got = {(i["target"], i["factor"]): i for i in doc["insights"]}
    assert got[("ollama:tiny", "change: added demonstrations")]["verdict"] == "helps"
    assert got[("ollama:tiny", "change: asked for step-by-step reasoning")]["n"] == 1


def test_an_empty_store_has_nothing_to_learn_from(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    Store(path).close()
    code, text = cli(["insights", "--store", str(path)])
    assert code == 0
    assert text.count("\n") == 1 and text.startswith("nothing to learn from yet")
    code, text = cli(["insights", "--store", str(path), "--json"])
    assert json.loads(text)["insights"] == []
    with pytest.raises(PromptTunerError, match="no store"):
        cli(["insights", "--store", str(tmp_path / "missing.db")])


def test_the_prompt_tuner_command_runs_insights_end_to_end(store_path: Path) -> None:
    """Through the installed entry point, as a user types it: a table, and a one-line error."""
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "prompt-tuner")  # the installed console script
    done = subprocess.run([exe, "insights", "--store", str(store_path), "--target", "tiny"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "change: added demonstrations" in done.stdout and "helps" in done.stdout
    bad = subprocess.run([exe, "insights", "--min-n", "0"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_the_html_report_has_the_learned_section_for_its_target(store_path: Path) -> None:
    """The run's report shows what went with gains on its own target model, across runs."""
    from core import load_run
    from core.report.html import render_html

    store = Store(store_path)
    try:
        html = render_html(load_run(store, "r1"), store)
    finally:
        store.close()
    section = html.split('data-section="learned"', 1)[1].split("</table>", 1)[0]
    row = next(r for r in section.split("<tr>") if "added demonstrations" in r)
    assert "helps" in row and '<td class="num">3</td>' in row and "+30" in row
    assert "llamacpp:small" not in html.split('data-section="learned"', 1)[0].rsplit("<h2", 1)[1]


def test_the_command_says_how_well_the_predictor_did(store_path: Path) -> None:
    """Stored predictions against the gains measured afterwards, and what was skipped."""
    store = Store(store_path)
    try:
        store.record_prediction("r1", "r1-d2", parent_id="r1-o", target=TINY, predicted=0.25,
                                low=0.1, high=0.4, support=9, skipped=False)  # measured +0.30
        store.record_prediction("r1", "r1-f2", parent_id="r1-o", target=TINY, predicted=-0.2,
                                low=-0.3, high=-0.1, support=9, skipped=True)
    finally:
        store.close()
    code, text = cli(["insights", "--store", str(store_path)])
    assert code == 0
    assert ("predictor (every target): the predictor skipped 1 proposal; on 1 earlier "
            "prediction its error was 5 points (right sign 100%)") in " ".join(text.split())
    code, text = cli(["insights", "--store", str(store_path), "--json"])
    doc = json.loads(text)["predictor"]
    assert (doc["n"], doc["skipped"], doc["sign_agreement"]) == (1, 1, 1.0)
    assert doc["mae"] == pytest.approx(0.05)
