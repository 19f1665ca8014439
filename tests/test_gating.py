"""CI gating: `eval --fail-under/--min-lower`, `compare --fail-on-regression/--min-lower` exit 1
when the result misses, `summarize` turns a real --json result into the pull-request comment,
and the GitHub Action (action.yml) runs only commands and flags that exist, with every input
passed through the environment.

The loopback fake model answers by substring rules, so each test decides which prompt is right
on which review: "Decide:" is right on all 40, the task's own "Review:" prompt on the 20 "great"
ones (it rambles on the rest), "Slight:" is wrong on 6 reviews where "Decide:" is right.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.cli import build_parser, main
from core.gate import EXIT_GATE_FAILED, EXIT_INTERNAL
from core.report.gate_markdown import MARKER
from tests.fakes.harness import FakeServer

pytestmark = pytest.mark.usefixtures("cli_console")

REPO_ROOT = Path(__file__).resolve().parents[1]
ACTION = REPO_ROOT / "action.yml"
N = 40
SLIGHTLY_WRONG = range(6)  # "Slight:" answers these reviews wrongly


def review(i: int) -> tuple[str, str]:
    return f"film {i} was {'great' if i % 2 else 'awful'}", "positive" if i % 2 else "negative"


def world(server: FakeServer) -> None:
    rules = []
    for i in range(N):
        text, right = review(i)
        wrong = "negative" if right == "positive" else "positive"
        rules.append([f"Decide: {text}", f"The answer: {right}."])
        rules.append([f"Slight: {text}", wrong if i in SLIGHTLY_WRONG else right])
        rules.append([f"Review: {text}", "positive" if i % 2 else "I could not say."])
    server.configure(rules=rules, reply="fixed:no idea")


@pytest.fixture
def task(tmp_path: Path) -> Path:
    rows = [{"text": review(i)[0], "expected": review(i)[1]} for i in range(N)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "good.txt").write_text("Decide: {{ text }}")
    (tmp_path / "also-good.txt").write_text("Decide: {{ text }}")
    (tmp_path / "slight.txt").write_text("Slight: {{ text }}")
    path = tmp_path / "task.yaml"
    path.write_text("name: gate-sentiment\nprompt: 'Review: {{ text }}'\n"
                    "dataset: {file: data.jsonl}\nmetric: label\nlabels: [positive, negative]\n")
    return path


@pytest.fixture
def served(fake_openai: FakeServer) -> FakeServer:
    world(fake_openai)
    return fake_openai


def flags(server: FakeServer, tmp_path: Path) -> list[str]:
    return ["--target", f"openai:fake@{server.base_url}", "--store", str(tmp_path / "s.db")]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def gate_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("prompt-tuner: gate ")]


# -- eval --------------------------------------------------------------------------------------


def test_eval_fail_under_fails_a_weak_prompt_with_one_line_and_exit_1(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, ["eval", str(task), "--fail-under", "0.9", *flags(served, tmp_path)])
    assert code == EXIT_GATE_FAILED == 1
    assert "50.0%" in out                                    # the usual table still prints
    (line,) = gate_lines(err)
    assert line == ("prompt-tuner: gate FAIL: task score mean 0.500 < --fail-under 0.900 "
                    "(mean 0.500 [0.352, 0.648], n=40)")


def test_eval_fail_under_passes_a_good_prompt_with_exit_0(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = str(tmp_path / "good.txt")
    code, _, err = run(capsys, ["eval", str(task), "--prompt", good, "--fail-under", "0.9",
                                *flags(served, tmp_path)])
    assert code == 0, err
    (line,) = gate_lines(err)
    assert line.startswith(f"prompt-tuner: gate PASS: {good} score mean 1.000 >= --fail-under 0.900")


def test_eval_gate_on_the_lower_bound_is_stricter_than_on_the_mean(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 20/40 right: the mean 0.5 clears 0.45, the Wilson lower bound 0.352 does not
    code, out, err = run(capsys, ["eval", str(task), "--fail-under", "0.45", "--min-lower", "0.45",
                                  "--json", *flags(served, tmp_path)])
    assert code == 1, err
    data = json.loads(out)                                  # stdout stays one JSON document
    assert data["name"] == "task"
    gate = data["gate"]
    assert gate["passed"] is False
    by_rule = {c["rule"]: c for c in gate["checks"]}
    assert by_rule["fail-under"]["passed"] is True and by_rule["fail-under"]["value"] == 0.5
    assert by_rule["min-lower"]["passed"] is False
    assert by_rule["min-lower"]["value"] == pytest.approx(0.352, abs=1e-3)
    assert by_rule["min-lower"]["threshold"] == 0.45
    assert [line.split(":")[1].strip() for line in gate_lines(err)] == ["gate PASS", "gate FAIL"]


def test_eval_without_a_gate_exits_0_and_its_json_has_no_gate(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, ["eval", str(task), "--json", *flags(served, tmp_path)])
    assert code == 0 and "gate" not in json.loads(out) and not gate_lines(err)


@pytest.mark.parametrize(("value", "hint"), [("90", "write 0.9 for 90%"), ("-0.1", "between 0 and 1"),
                                             ("nan", "between 0 and 1"), ("high", "not a number")])
def test_a_threshold_that_is_not_a_fraction_is_a_one_line_user_error(
        task: Path, value: str, hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, ["eval", str(task), "--fail-under", value])
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and hint in err and "--fail-under" in err


# -- compare -----------------------------------------------------------------------------------


def test_compare_fail_on_regression_exits_1_when_the_challenger_is_significantly_worse(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, ["compare", str(task), str(tmp_path / "good.txt"), "task",
                                  "--fail-on-regression", "--json", *flags(served, tmp_path)])
    assert code == 1, err
    gate = json.loads(out)["gate"]
    (check,) = gate["checks"]
    assert gate["passed"] is False
    assert (check["rule"], check["prompt"], check["value"], check["passed"]) == (
        "fail-on-regression", "task", -0.5, False)
    (line,) = gate_lines(err)
    assert line.startswith("prompt-tuner: gate FAIL: task is significantly worse than PROMPT_A: "
                           "difference -0.500 [")
    assert re.search(r"\], Holm p=[0-9.e-]+ vs alpha 0\.05, n=40 \(--fail-on-regression\)$", line), line


def test_compare_fail_on_regression_exits_0_when_the_challenger_is_better_or_the_same(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    better = ["compare", str(task), "task", str(tmp_path / "good.txt"), "--fail-on-regression"]
    code, _, err = run(capsys, [*better, *flags(served, tmp_path)])
    assert code == 0, err
    assert gate_lines(err)[0].startswith(
        f"prompt-tuner: gate PASS: {tmp_path / 'good.txt'} is not significantly worse")
    same = ["compare", str(task), "task", "task", "--fail-on-regression"]
    assert run(capsys, [*same, *flags(served, tmp_path)])[0] == 0


def test_compare_without_the_flag_exits_0_even_on_a_regression(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, ["compare", str(task), str(tmp_path / "good.txt"), "task",
                                  *flags(served, tmp_path)])
    assert code == 0 and "Verdict: A is better" in out and not gate_lines(err)


def test_regression_is_judged_after_the_holm_correction(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, slight, same = (str(tmp_path / n) for n in ("good.txt", "slight.txt", "also-good.txt"))
    # alone, 6 of 6 discordant pairs against the challenger: p ~ 0.03 < 0.05, a regression
    code, out, _ = run(capsys, ["compare", str(task), good, slight, "--fail-on-regression", "--json",
                                *flags(served, tmp_path)])
    (alone,) = json.loads(out)["comparisons"]
    assert alone["overall"]["p_value"] < 0.05 and code == 1
    # with a second challenger, Holm doubles the smaller p-value: no longer significant
    code, out, err = run(capsys, ["compare", str(task), good, slight, same, "--fail-on-regression",
                                  "--json", *flags(served, tmp_path)])
    data = json.loads(out)
    assert data["comparisons"][0]["p_adjusted"] >= 0.05
    assert code == 0, err
    assert [c["prompt"] for c in data["gate"]["checks"]] == [slight, same]


def test_compare_min_lower_holds_every_challenger_to_its_lower_bound(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compare", str(task), "task", str(tmp_path / "good.txt"), "--json", *flags(served, tmp_path)]
    # 40/40 right: the Wilson lower bound is 0.912; the baseline (0.352) is not checked
    code, out, _ = run(capsys, [*argv, "--min-lower", "0.95"])
    (check,) = json.loads(out)["gate"]["checks"]
    assert code == 1 and check["value"] == pytest.approx(0.912, abs=1e-3) and not check["passed"]
    code, out, _ = run(capsys, [*argv, "--min-lower", "0.9"])
    assert code == 0 and json.loads(out)["gate"]["passed"] is True


# -- summarize ---------------------------------------------------------------------------------


def test_summarize_renders_a_passing_compare_as_a_table_with_the_gate(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = str(tmp_path / "good.txt")
    code, out, _ = run(capsys, ["compare", str(task), "task", good, "--fail-on-regression",
                                "--min-lower", "0.9", "--json", *flags(served, tmp_path)])
    assert code == 0
    (tmp_path / "result.json").write_text(out)
    code, body, err = run(capsys, ["summarize", str(tmp_path / "result.json")])
    assert code == 0, err
    lines = body.splitlines()
    assert lines[0] == MARKER
    assert lines[1] == "### ✅ prompt-tuner compare: gate passed"
    assert lines[3] == ("**gate-sentiment** · split all · target `openai:fake@" + served.base_url
                        + "` · 40 examples answered by every prompt · α = 0.05")
    assert "|  | prompt | score [95% CI] | n | Δ vs A [95% CI] | p | verdict | gate |" in lines
    assert "| A | `task` | 50.0% [35.2%, 64.8%] | 40 | — | — | baseline | — |" in lines
    (row_b,) = [line for line in lines if line.startswith("| B |")]
    cells = [c.strip() for c in row_b.strip("|").split(" | ")]
    assert cells[1] == f"`{good}`" and cells[2] == "100.0% [91.2%, 100.0%]" and cells[3] == "40"
    assert cells[4].startswith("+50.0% [") and float(cells[5]) < 0.001
    assert cells[6:] == ["B is better", "✅"]
    assert "**Gate: ✅ passed**" in lines
    gate_items = [line for line in lines if line.startswith("- ")]
    assert gate_items[0].startswith(f"- ✅ **PASS** `{good}`: not significantly worse than A "
                                    "(`--fail-on-regression`; difference +0.500 \\[")
    assert gate_items[1].startswith(f"- ✅ **PASS** `{good}`: 95% lower bound 91.2% ≥ 90.0% "
                                    "(`--min-lower`; mean 1.000 \\[0.912, 1.000\\], n=40)")


def test_summarize_renders_a_regression_as_a_failed_gate(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, ["compare", str(task), str(tmp_path / "good.txt"), "task",
                                "--fail-on-regression", "--json", *flags(served, tmp_path)])
    assert code == 1
    (tmp_path / "result.json").write_text(out)
    output = tmp_path / "comment.md"
    assert run(capsys, ["summarize", str(tmp_path / "result.json"), "--output", str(output)])[0] == 0
    lines = output.read_text().splitlines()
    assert lines[1] == "### ❌ prompt-tuner compare: gate failed"
    (row_b,) = [line for line in lines if line.startswith("| B |")]
    assert row_b.endswith("| ⚠️ A is better | ❌ |") and "| -50.0% [" in row_b
    assert "**Gate: ❌ failed**" in lines
    assert any(line.startswith("- ❌ **FAIL** `task`: significantly worse than A") for line in lines)


def test_summarize_renders_an_eval_from_stdin(
        served: FakeServer, task: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(capsys, ["eval", str(task), "--fail-under", "0.9", "--json",
                                *flags(served, tmp_path)])
    assert code == 1
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(out))
    code, body, _ = run(capsys, ["summarize", "-"])
    lines = body.splitlines()
    assert code == 0 and lines[1] == "### ❌ prompt-tuner eval: gate failed"
    assert "| `task` | score | 50.0% [35.2%, 64.8%] | 40 | ❌ |" in lines
    assert ("- ❌ **FAIL** `task`: score mean 50.0% < 90.0% (`--fail-under`; mean 0.500 "
            "\\[0.352, 0.648\\], n=40)") in lines


@pytest.mark.parametrize(("content", "says"), [
    ('{"runs": []}', "neither 'aggregate' nor 'comparisons'"),
    ('{"aggregate": {"mean": 0.5}, "task": "t"}', "'aggregate.low' is missing"),
    ('{"prompts": [{"name": "a"}], "comparisons": []}', "needs PROMPT_A and one comparison"),
    ('[1, 2]', "not an object"),
    ("not json", "line 1: not valid JSON"),
    ('{"aggregate": {"mean": "high"}}', "'aggregate.mean' is not a number"),
])
def test_summarize_of_a_foreign_file_is_a_one_line_user_error(
        tmp_path: Path, content: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "result.json"
    path.write_text(content)
    code, out, err = run(capsys, ["summarize", str(path)])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err and "internal error" not in err


def test_summarize_of_a_missing_file_is_a_one_line_user_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, ["summarize", str(tmp_path / "nope.json")])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot read" in err


def test_summarize_escapes_names_so_a_comment_cannot_be_hijacked(tmp_path: Path) -> None:
    from core.report.gate_markdown import code, plain

    assert code("a|b`c") == "``a\\|b`c``"
    assert plain("<img src=x> @team *x*") == "&lt;img src=x&gt; @\u2060team \\*x\\*"


def test_an_internal_error_exits_3_not_the_gate_failure_code(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("core.cli.app.describe_settings", broken)
    code, _, err = run(capsys, ["config", "show"])
    assert code == EXIT_INTERNAL == 3 and "internal error: RuntimeError: a bug" in err


# -- the GitHub Action -------------------------------------------------------------------------


def action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return data


def steps() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = action()["runs"]["steps"]
    return found


def step(step_id: str) -> dict[str, Any]:
    (found,) = [s for s in steps() if s.get("id") == step_id or s.get("name") == step_id]
    return found


EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def test_action_is_a_composite_action_whose_expressions_name_declared_inputs() -> None:
    data = action()
    assert data["runs"]["using"] == "composite"
    assert {"task", "prompts", "target", "fail-on-regression", "fail-under", "min-lower",
            "python-version", "extras", "comment"} <= set(data["inputs"])
    used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", ACTION.read_text()))
    assert used and used <= set(data["inputs"]), used - set(data["inputs"])
    step_ids = {s.get("id") for s in steps()}
    for output in data["outputs"].values():
        (ref,) = EXPRESSION.findall(output["value"])
        assert ref.split(".")[1] in step_ids


def test_action_scripts_contain_no_expressions_inputs_come_through_env() -> None:
    scripts = [s for s in steps() if "run" in s]
    assert len(scripts) >= 4
    for s in scripts:
        assert "${{" not in s["run"], s["name"]           # script injection
        assert s["shell"] == "bash"
        for name in re.findall(r"\$\{?(PT_[A-Z_]+)", s["run"]):
            assert name in s.get("env", {}), (s["name"], name)


def _options(parser: Any) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def test_every_command_and_flag_the_action_runs_exists() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    script = step("measure")["run"]
    commands = set(re.findall(r"args=\((\w+) ", script)) | set(re.findall(r"prompt-tuner (\w+)", script))
    assert commands == {"eval", "compare", "summarize"}
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", script))
    assert {"--fail-on-regression", "--fail-under", "--min-lower", "--json", "--output"} <= flags
    for flag in flags - {"--output"}:
        assert flag in _options(sub["eval"]) | _options(sub["compare"]), flag
    assert "--output" in _options(sub["summarize"])
    for only_compare in ("--alpha", "--fail-on-regression"):
        assert only_compare in _options(sub["compare"])


def _expand(value: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref.startswith("inputs."):
            return inputs[ref.removeprefix("inputs.")]
        if ref.startswith("steps.measure.outputs."):
            return outputs.get(ref.removeprefix("steps.measure.outputs."), "")
        return {"github.event.pull_request.number": "7", "github.token": "t0ken"}[ref]
    return EXPRESSION.sub(one, value)


def _run_step(name: str, inputs: dict[str, str], outputs: dict[str, str], tmp_path: Path,
              path: str = "") -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run one step's script as the runner does (bash -e -o pipefail), its env expanded."""
    s = step(name)
    out_file, summary = tmp_path / "github_output", tmp_path / "step_summary"
    out_file.write_text("")
    env = {**os.environ, "RUNNER_TEMP": str(tmp_path / "runner"), "GITHUB_OUTPUT": str(out_file),
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_REPOSITORY": "owner/repo",
           "PATH": os.pathsep.join(filter(None, [path, str(Path(sys.executable).parent),
                                                 os.environ["PATH"]]))}
    env.update({k: _expand(str(v), inputs, outputs) for k, v in s.get("env", {}).items()})
    (tmp_path / "runner").mkdir(exist_ok=True)
    cwd = tmp_path / _expand(s.get("working-directory", "."), inputs, outputs)
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s["run"]],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    written = {k: v for k, _, v in (line.partition("=") for line in out_file.read_text().splitlines())}
    return proc, written


def _inputs(**given: str) -> dict[str, str]:
    defaults = {k: str(v.get("default", "")) for k, v in action()["inputs"].items()}
    return {**defaults, **given}


def test_action_fails_the_job_on_a_regression_and_writes_the_summary(
        served: FakeServer, task: Path, tmp_path: Path) -> None:
    inputs = _inputs(task="task.yaml", prompts="good.txt\n  task", target=f"openai:fake@{served.base_url}")
    proc, outputs = _run_step("measure", inputs, {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert outputs["exit-code"] == "1" and outputs["passed"] == "false"
    result = json.loads(Path(outputs["result"]).read_text())
    assert [p["name"] for p in result["prompts"]] == ["good.txt", "task"]
    assert result["gate"]["passed"] is False
    summary = Path(outputs["summary"]).read_text()
    assert "### ❌ prompt-tuner compare: gate failed" in summary
    assert (tmp_path / "step_summary").read_text() == summary
    gate, _ = _run_step("Gate", inputs, outputs, tmp_path)
    assert gate.returncode == 1 and "the gate failed" in gate.stdout


def test_action_evals_one_prompt_and_passes_the_gate(
        served: FakeServer, task: Path, tmp_path: Path) -> None:
    inputs = _inputs(task="task.yaml", prompts="good.txt", target=f"openai:fake@{served.base_url}",
                     **{"fail-under": "0.9", "limit": "10"})
    proc, outputs = _run_step("measure", inputs, {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert outputs["exit-code"] == "0" and outputs["passed"] == "true"
    result = json.loads(Path(outputs["result"]).read_text())
    assert result["name"] == "good.txt" and result["n"] == 10 and result["gate"]["passed"] is True
    assert _run_step("Gate", inputs, outputs, tmp_path)[0].returncode == 0


def test_action_reports_a_user_mistake_without_a_summary(task: Path, tmp_path: Path) -> None:
    inputs = _inputs(task="missing.yaml")
    proc, outputs = _run_step("measure", inputs, {}, tmp_path)
    assert proc.returncode == 0 and outputs["exit-code"] == "2" and "summary" not in outputs
    assert "missing.yaml" in proc.stderr
    gate, _ = _run_step("Gate", inputs, outputs, tmp_path)
    assert gate.returncode == 2


def test_action_inputs_are_arguments_never_shell_code(task: Path, tmp_path: Path) -> None:
    inputs = _inputs(task="task.yaml; touch pwned1", prompts="task $(touch${IFS}pwned2) `touch pwned3`",
                     target="x$(touch pwned4)", **{"fail-under": "0.5'; touch pwned5; '"})
    proc, outputs = _run_step("measure", inputs, {}, tmp_path)
    assert outputs["exit-code"] == "2", proc.stderr                 # a bad path, not a command
    assert not list(tmp_path.glob("pwned*"))


def test_action_scripts_pass_shellcheck() -> None:
    venv_bin = str(Path(sys.executable).parent)
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=venv_bin)
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    for s in steps():
        if "run" in s:
            script = "#!/usr/bin/env bash\nset -eo pipefail\n" + s["run"]
            done = subprocess.run([shellcheck, "-"], input=script, capture_output=True, text=True)
            assert done.returncode == 0, (s["name"], done.stdout)


FAKE_GH = """#!{python}
import json, os, sys
with open(os.environ["GH_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["api", "--paginate"]:
    print(os.environ.get("GH_EXISTING", ""))
"""


def test_action_comment_creates_one_comment_then_edits_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"  # records its arguments; lists the comment ids in GH_EXISTING
    gh.write_text(FAKE_GH.format(python=sys.executable))
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "runner" / "prompt-tuner").mkdir(parents=True)
    summary = tmp_path / "summary.md"
    summary.write_text(f"{MARKER}\nbody\n")
    log = tmp_path / "gh.log"
    monkeypatch.setenv("GH_LOG", str(log))
    inputs, outputs = _inputs(task="task.yaml", prompts="a.txt b.txt"), {"summary": str(summary)}
    first, _ = _run_step("Comment on the pull request", inputs, outputs, tmp_path, path=str(bin_dir))
    monkeypatch.setenv("GH_EXISTING", "4242")
    second, _ = _run_step("Comment on the pull request", inputs, outputs, tmp_path, path=str(bin_dir))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0][:3] == ["api", "--paginate", "repos/owner/repo/issues/7/comments"]
    assert calls[1][:3] == ["pr", "comment", "7"] and "--body-file" in calls[1]
    assert calls[3][:4] == ["api", "--method", "PATCH", "repos/owner/repo/issues/comments/4242"]
    body = Path(calls[1][calls[1].index("--body-file") + 1]).read_text()
    assert body.startswith("<!-- prompt-tuner-action ") and MARKER in body and "body" in body
    assert step("Comment on the pull request")["if"].count("pull_request") == 2


def test_the_documented_workflow_parses_and_uses_only_the_actions_inputs() -> None:
    page = (REPO_ROOT / "docs" / "ci-gating.md").read_text()
    (snippet,) = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.DOTALL) if "uses: OWNER/" in b]
    workflow = yaml.safe_load(snippet)
    (job,) = workflow["jobs"].values()
    (uses,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("OWNER/prompt-tuner")]
    assert set(uses["with"]) <= set(action()["inputs"])
    assert workflow["permissions"]["pull-requests"] == "write"
    assert all("${{" not in s["run"] for s in job["steps"] if "run" in s)


# -- the embedded model ------------------------------------------------------------------------


@pytest.mark.slow
def test_eval_gate_on_real_answers_of_the_embedded_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPT_TUNER_EMBEDDED__N_THREADS", "1")   # see tests/test_real_models.py
    monkeypatch.setenv("PROMPT_TUNER_TUNE__ANSWER_MAX_TOKENS", "6")  # one word is the answer
    task = REPO_ROOT / "examples" / "benchmarks" / "sentiment" / "task.yaml"
    argv = ["eval", str(task), "--split", "test", "--limit", "12", "--json",
            "--store", str(tmp_path / "s.db")]
    code, out, err = run(capsys, argv)
    assert code == 0, err
    mean = json.loads(out)["aggregate"]["mean"]
    assert 0 <= mean < 1
    at_mean = math.floor(mean * 1e6) / 1e6
    # the same answers (from the cache): a threshold at the mean passes, one just above fails
    code, out, err = run(capsys, [*argv, "--fail-under", f"{at_mean:.6f}"])
    assert code == 0 and json.loads(out)["gate"]["passed"] is True, err
    assert json.loads(out)["usage"]["calls"] == 0
    code, out, err = run(capsys, [*argv, "--fail-under", f"{min(1.0, mean + 0.05):.6f}"])
    assert code == 1 and "gate FAIL" in err
