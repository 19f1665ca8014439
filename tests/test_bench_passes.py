"""bench/passes.py: two quality-bench passes side by side (what the tuner learned across runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.passes import main, pair  # noqa: E402


def _row(task: str, scores: list[float], calls: int, **more: Any) -> dict[str, Any]:
    mean = sum(scores) / len(scores)
    return {"task": task, "strategy": "auto", "calls": calls,
            "tuned": {"mean": mean, "low": mean - 0.1, "high": mean + 0.1, "n": len(scores)},
            "tuned_test_scores": {str(i): s for i, s in enumerate(scores)}, **more}


def test_a_kept_score_with_fewer_calls_and_a_significant_drop() -> None:
    kept = pair(_row("a", [1.0] * 30 + [0.0] * 10, 600),
                _row("a", [1.0] * 29 + [0.0] * 11, 380, warm_seeds=2))
    assert kept["same"] and kept["n"] == 40
    assert kept["saved"] == pytest.approx(1 - 380 / 600)
    assert kept["diff"] == pytest.approx(-1 / 40)
    dropped = pair(_row("b", [1.0] * 40, 500), _row("b", [1.0] * 10 + [0.0] * 30, 300))
    assert not dropped["same"] and dropped["p"] < 0.05 and dropped["high"] < 0


def test_the_table_pairs_tasks_across_files(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    first.write_text(json.dumps([_row("a", [1.0] * 20 + [0.0] * 20, 600),
                                 _row("b", [1.0, 0.0] * 20, 500)]))
    second.write_text(json.dumps([_row("a", [1.0] * 20 + [0.0] * 20, 300,
                                       skipped={"predicted loser": 3}, history_hits=120),
                                  _row("c", [1.0] * 40, 10)]))
    assert main(["--first", str(first), "--second", str(second)]) == 0
    out = capsys.readouterr().out
    assert "a " in out and "\nb " not in out and "\nc " not in out  # only tasks in both passes
    assert "50%" in out and "3 predicted loser" in out
    assert ("calls 600 -> 300 (50% fewer in all; requests 420, 30% fewer by learning alone)"
            in out)
    assert "tasks with at least 30% fewer calls: 1 of 1" in out


def test_user_mistakes_are_one_line_and_exit_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--first", str(tmp_path / "missing.json"), "--second",
                 str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    one = tmp_path / "one.json"
    one.write_text(json.dumps([_row("a", [1.0], 1)]))
    other = tmp_path / "other.json"
    other.write_text(json.dumps([_row("b", [1.0], 1)]))
    assert main(["--first", str(one), "--second", str(other)]) == 2
    assert "no task is in both passes" in capsys.readouterr().err
