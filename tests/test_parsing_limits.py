"""Untrusted files and replies are read within limits, and every mistake is one line.

Task files, prompt files, data files, the bot's settings and model replies can come from anyone:
an alias bomb, 100,000 ``[``, a 5,000-digit number or a regex that backtracks forever must end
in one ``PromptTunerError`` naming the file and line (or a scored ``error``), quickly and in
bounded memory. YAML scalars follow YAML 1.2, stricter where a number would not print back as
written: ``expected: 0755`` is the text "0755".

Checks that would hang or exhaust memory if a limit regressed run in a child process with a
time and address-space limit, so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core import PromptTunerError, Task, TaskError, load_prompt, load_task, load_yaml
from core.datasets import MAX_DATA_BYTES, MAX_RECORDS, read_records
from core.jsonio import MAX_DEPTH, load_json
from core.metrics.extract import JsonMatch, RegexMetric
from core.task import MAX_TASK_FILE_BYTES, Example
from core.templates import render_prompt

ROOT = Path(__file__).resolve().parent.parent
FAST_S = 2.0  # what "quickly" means for one refused file on a slow, shared CI machine

BOMB = """\
name: bomb
prompt: "Say {{ text }}"
examples:
  - text: hi
    expected: a
    meta:
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
      i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def task_error(path: Path) -> str:
    """The one-line error ``load_task`` gives, checked to come quickly."""
    started = time.perf_counter()
    with pytest.raises(TaskError) as info:
        load_task(path)
    assert time.perf_counter() - started < FAST_S
    text = str(info.value)
    assert "\n" not in text, text
    return text


def run_child(code: str, cwd: Path, timeout: float = 60,
              memory: int = 2 << 30) -> subprocess.CompletedProcess[str]:
    """Python code in a child process with at most ``memory`` bytes of address space (one BLAS
    thread, whose buffers would otherwise reserve address space per core)."""
    limit = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))\n"
    threads = dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1")
    env = {**os.environ, **threads, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", limit + code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


# -- YAML 1.2 scalars: an answer is what the file says ---------------------------------------------

AS_WRITTEN = ["1:30", "0755", "2024-01-02", "2024-01-02 10:30:00", "1_000", "+5", "0x1F", "0o17",
              "1.50", "1e3", "=", "true", "yes", "Off", "42", "-7", "0.5", "007"]


@pytest.mark.parametrize("written", AS_WRITTEN)
def test_expected_answers_and_inputs_stay_as_written(tmp_path: Path, written: str) -> None:
    task = load_task(write(tmp_path / "t.yaml", "name: t\nprompt: 'Q: {{ q }}'\nexamples:\n"
                                                f"  - q: {written}\n    expected: {written}\n"))
    resumed = Task.model_validate_json(task.model_dump_json())  # how a resumed run reads it back
    for ex in (task.examples[0], resumed.examples[0]):
        assert ex.expected == written
        if written == "true":
            assert ex.inputs["q"] is True  # a boolean for {% if q %}; the answer is "true"
        else:
            assert render_prompt(task.messages[0].content, ex.inputs) == f"Q: {written}"


def test_yaml_12_scalars_in_load_yaml() -> None:
    data = load_yaml("a: 1:30\nb: 0755\nc: 2024-01-02\nd: 42\ne: -7\nf: 0.25\ng: .inf\nh: ~\n"
                     "i: True\nj: no\nk: 1.50\nl: -0\n")
    assert data["a"] == "1:30" and data["b"] == "0755" and data["c"] == "2024-01-02"
    assert data["d"] == 42 and isinstance(data["d"], int) and data["e"] == -7
    assert data["f"] == 0.25 and data["g"] == float("inf") and data["h"] is None
    assert data["i"] is True and data["j"] == "no" and data["l"] == "-0"
    assert data["k"] == 1.5 and str(data["k"]) == "1.50"  # a number that prints as written


def test_settings_numbers_and_booleans_still_load(tmp_path: Path) -> None:
    task = load_task(write(tmp_path / "t.yaml", (
        "name: t\nprompt: '{{ q }}'\nlabels: [a, b]\n"
        "examples:\n" + "".join(f"  - {{q: q{i}, expected: {'ab'[i % 2]}}}\n" for i in range(10)) +
        "splits: {train: 0.5, test: .5, seed: 7, stratify: true}\n"
        "metrics:\n  - {type: label, weight: 1e-1}\n  - {type: numeric, tolerance: 0.010, name: n}\n")))
    assert task.metrics[0].weight == pytest.approx(0.1)
    assert len(task.splits["train"]) + len(task.splits["test"]) == 10


def test_a_5000_digit_number_is_text_not_an_internal_error(tmp_path: Path) -> None:
    digits = "9" * 5000
    task = load_task(write(tmp_path / "t.yaml", f"name: t\nprompt: hi\nexamples:\n  - expected: {digits}\n"))
    assert task.examples[0].expected == digits
    data = write(tmp_path / "d.json", '[{"expected": ' + digits + ', "x": 1.50}]')
    record = read_records(data)[0].data
    assert record["expected"] == digits and str(record["x"]) == "1.50"
    (line,) = read_records(write(tmp_path / "d.jsonl", '{"expected": ' + digits + "}\n"))
    assert line.data["expected"] == digits


@pytest.mark.parametrize(("value", "fragment"), [
    ("!!timestamp soon", "cannot read a value"),
    ("!!float abc", "'abc' is not a number"),
    ("!!int " + "1" * 5000, "not an integer"),
    ("!!int 0755", "not an integer"),
])
def test_explicit_tags_with_bad_values_are_one_line(tmp_path: Path, value: str, fragment: str) -> None:
    text = task_error(write(tmp_path / "t.yaml", f"name: t\nprompt: hi\ndescription: {value}\n"))
    assert "t.yaml" in text and fragment in text


def test_non_text_field_names_are_one_line(tmp_path: Path) -> None:
    text = task_error(write(tmp_path / "t.yaml", "name: t\nprompt: hi\nexamples:\n"
                                                 "  - {inputs: {1: a}, expected: b}\n"))
    assert "examples[0]" in text and "field name 1" in text


# -- YAML limits: aliases, depth, size ------------------------------------------------------------


def test_alias_bomb_is_refused_in_one_line_with_bounded_memory(tmp_path: Path) -> None:
    """The 814-byte "billion laughs" took over 4 GiB; under a 2 GiB limit it is one line."""
    write(tmp_path / "bomb.tune.yaml", BOMB)
    code = ("import sys\nfrom core.cli import main\n"
            "sys.exit(main(['eval', 'bomb.tune.yaml', '--store', 's.db']))\n")
    started = time.perf_counter()
    done = run_child(code, tmp_path)
    assert time.perf_counter() - started < 30
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert "bomb.tune.yaml line 13" in lines[0] and "aliases" in lines[0]


def test_alias_bomb_in_process(tmp_path: Path) -> None:
    text = task_error(write(tmp_path / "t.yaml", BOMB))
    assert "t.yaml line 13: more than 1,000,000 values once aliases are expanded" in text


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    text = task_error(write(tmp_path / "t.yaml", "name: t\nprompt: hi\nexamples:\n"
                                                 "  - expected: a\n    meta: &m {self: *m}\n"))
    assert "t.yaml line 5" in text and "contains it" in text


def test_deep_yaml_is_one_line_naming_the_line(tmp_path: Path) -> None:
    text = task_error(write(tmp_path / "t.yaml", "name: t\nprompt: hi\ndescription: " + "[" * 100_000))
    assert "t.yaml line 3" in text and f"nested more than {MAX_DEPTH} levels" in text


def test_depth_through_aliases_is_counted(tmp_path: Path) -> None:
    deep = "[" * 60 + "x" + "]" * 60
    text = task_error(write(tmp_path / "t.yaml", (
        f"name: t\nprompt: hi\nexamples:\n  - expected: a\n    meta:\n      a: &a {deep}\n"
        f"      b: &b {'[' * 45}*a{']' * 45}\n")))
    assert "through aliases" in text


def test_task_file_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path / "t.yaml", "name: t\nprompt: hi\n# padding\n" + "#" * MAX_TASK_FILE_BYTES)
    text = task_error(path)
    assert "t.yaml: the task file is larger than 8 MiB" in text and "data file" in text


def test_control_characters_name_the_line(tmp_path: Path) -> None:
    text = task_error(write(tmp_path / "t.yaml", "name: t\nprompt: hi\ndescription: a\x00b\n"))
    assert "t.yaml line 3" in text and "U+0000" in text


def test_bot_settings_use_the_same_loader(tmp_path: Path) -> None:
    from core import ConfigError
    from slack_bot.settings import load_bot_settings

    bomb = "limits:\n  x: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"  x{i}: &a{i} [{','.join(['*a' if i == 0 else f'*a{i - 1}'] * 10)}]\n" for i in range(7))
    path = write(tmp_path / "bot.yaml", bomb)
    with pytest.raises(ConfigError) as info:
        load_bot_settings(path)
    assert "bot.yaml line" in str(info.value) and "aliases" in str(info.value)


def test_editor_front_matter_uses_the_same_loader() -> None:
    from lsp_server.find_files import find_file_prompt

    front = "---\n" + BOMB.split("    meta:\n", 1)[1].replace("      ", "") + "---\nHello {{ a }}\n"
    _sites, notes = find_file_prompt(front)
    assert notes and "aliases" in notes[0].message


# -- the CLI: these inputs once ended in "internal error" -----------------------------------------

CLI_CASES = [
    ("deep YAML", "t.yaml", "name: t\nprompt: hi\ndescription: " + "[" * 100_000, {}, "t.yaml line 3"),
    ("deep JSON", "t.json", '{"name": "t", "prompt": ' + "[" * 100_000, {}, "t.json line 1"),
    ("deep JSONL line", "t.yaml", "name: t\nprompt: hi\nexamples_file: d.jsonl\n",
     {"d.jsonl": '{"q": ' + "[" * 100_000 + "\n"}, "d.jsonl line 1"),
    ("bad explicit tag", "t.yaml", "name: t\nprompt: hi\ndescription: !!timestamp soon\n", {},
     "cannot read a value"),
    ("huge regex", "t.yaml",
     "name: t\nprompt: hi\nmetrics: [{type: regex, pattern: '((a{99}){99}){99}'}]\n", {}, "repeats too much"),
]


@pytest.mark.usefixtures("cli_console")
@pytest.mark.parametrize(("name", "text", "others", "fragment"), [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_gives_one_line_not_an_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, others: dict[str, str],
    fragment: str,
) -> None:
    from core.cli import main

    for other, content in others.items():
        write(tmp_path / other, content)
    write(tmp_path / name, text)
    assert main(["eval", name, "--store", str(tmp_path / "s.db")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("prompt-tuner: error: ") and "internal error" not in err
    assert fragment in err


@pytest.mark.usefixtures("cli_console")
def test_cli_evaluates_a_5000_digit_expected_answer(fake_openai: Any, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from core.cli import main

    digits = "7" * 5000
    write(tmp_path / "t.yaml", f"name: t\nprompt: hi\nmetric: exact\nexamples:\n  - expected: {digits}\n")
    assert main(["eval", "t.yaml", "--json", "--target", f"openai:fake@{fake_openai.base_url}",
                 "--store", str(tmp_path / "s.db")]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 1


# -- JSON: task files, data files, prompt files --------------------------------------------------


def test_deep_json_task_file_is_one_line(tmp_path: Path) -> None:
    text = task_error(write(tmp_path / "t.json", '{"name": "t",\n"prompt": "hi",\n"x": ' + "[" * 100_000))
    assert "t.json line 3" in text and "nested more than 100 levels" in text


def test_json_nested_past_the_limit_but_parsable_is_refused(tmp_path: Path) -> None:
    deep = "[" * 150 + "]" * 150
    text = task_error(write(tmp_path / "t.json", '{"name": "t", "prompt": "hi",\n"examples": [\n'
                                                 '{"expected": "a", "meta": {"m": ' + deep + "}}]}"))
    assert "t.json line 3" in text and "nested" in text


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("d.jsonl", '{"q": "a"}\n{"q": ' + "[" * 100_000 + "\n", "d.jsonl line 2"),
    ("d.jsonl", '{"q": "a"}\n{"q": ' + "[" * 200 + "]" * 200 + "}\n", "d.jsonl line 2"),
    ("d.json", '[{"q": "a"},\n {"q": ' + "[" * 100_000, "d.json line 2"),
])
def test_deep_json_data_files_are_one_line(tmp_path: Path, name: str, content: str, fragment: str) -> None:
    write(tmp_path / name, content)
    text = task_error(write(tmp_path / "t.yaml", f"name: t\nprompt: hi\ndataset: {{file: {name}}}\n"))
    assert fragment in text and "nested more than 100 levels" in text


def test_data_file_over_the_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    with path.open("wb") as fh:  # sparse: no disk is used
        fh.truncate(MAX_DATA_BYTES + 1)
    text = task_error(write(tmp_path / "t.yaml", "name: t\nprompt: hi\ndataset: {file: d.jsonl}\n"))
    assert "d.jsonl: the data file is larger than 64 MiB" in text


def test_data_file_with_too_many_records(tmp_path: Path) -> None:
    write(tmp_path / "d.jsonl", '{"q": "x"}\n' * (MAX_RECORDS + 1))
    with pytest.raises(TaskError) as info:
        load_task(write(tmp_path / "t.yaml", "name: t\nprompt: hi\ndataset: {file: d.jsonl}\n"))
    assert f"d.jsonl line {MAX_RECORDS + 1}: more than 100,000 examples" in str(info.value)


def test_non_utf8_json_data_names_the_line(tmp_path: Path) -> None:
    write(tmp_path / "d.json", b'[\n{"q": "a"},\n{"q": "\xff"}]')
    text = task_error(write(tmp_path / "t.yaml", "name: t\nprompt: hi\ndataset: {file: d.json}\n"))
    assert "d.json line 3: not UTF-8" in text


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("p.json", '{"prompt":\n' + "[" * 100_000, "p.json line 2: not valid JSON: nested"),
    ("p.yaml", "prompt: hi\n" + BOMB.split("    meta:\n", 1)[1].replace("      ", ""), "aliases"),
    ("p.yaml", "prompt: hi\n#" + "x" * MAX_TASK_FILE_BYTES, "larger than 8 MiB"),
])
def test_prompt_files_within_limits(tmp_path: Path, name: str, content: str, fragment: str) -> None:
    task = load_task(write(tmp_path / "t.yaml", "name: t\nprompt: hi\n"))
    with pytest.raises(TaskError) as info:
        load_prompt(str(write(tmp_path / name, content)), task)
    assert fragment in str(info.value) and "\n" not in str(info.value)


# -- regex metrics: a time limit, a size limit, errors at load -----------------------------------

REGEX_CHILD = """
import asyncio, json, time
from core.metrics.extract import RegexMetric
from core.task import Example

def score(pattern, answer, expected=None, mode="search"):
    metric = RegexMetric(pattern, mode=mode)
    started = time.perf_counter()
    s = asyncio.run(metric.score(answer, Example(inputs={}, expected=expected)))
    return [s.value, s.outcome, s.reason, time.perf_counter() - started]

print(json.dumps({
    "issue": score(r"^(\\w+\\s?)*$", "word " * 700 + "!"),
    "issue_fullmatch": score(r"(\\w+\\s?)*", "a" * 3000 + "!", mode="fullmatch"),
    "polynomial": score(r"(.*a){20}x", "a" * 4000),
    "from_expected": score(None, "a" * 4000, expected=r"(.*a){20}x"),
    "still_works": score(r"\\d{3}", "call 555 now"),
}))
"""


def test_catastrophic_patterns_finish_quickly_and_score_as_errors(tmp_path: Path) -> None:
    done = run_child(REGEX_CHILD, tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    for value, _outcome, _reason, seconds in got.values():
        assert seconds < FAST_S
        assert value in (0.0, 1.0)
    assert got["issue"][:2] == [0.0, "no_match"]  # the engine answers this one outright
    assert got["issue_fullmatch"][:2] == [0.0, "no_match"]
    assert got["polynomial"][:2] == [0.0, "error"] and "took over" in got["polynomial"][2]
    assert got["from_expected"][:2] == [0.0, "error"]
    assert got["still_works"][:2] == [1.0, "ok"]


def test_a_timed_out_match_does_not_stop_the_run(fake_openai: Any, tmp_path: Path) -> None:
    """Echo answers: the first example's 4,000 a's time the pattern out; the run goes on."""
    write(tmp_path / "t.yaml", (
        "name: t\nprompt: '{{ text }}'\nmetrics: [{type: regex, pattern: '(.*a){20}x'}]\nexamples:\n"
        f"  - {{text: {'a' * 4000}, expected: x}}\n  - {{text: 'a few a and an x', expected: x}}\n"))
    code = ("import sys\nfrom core.cli import main\nsys.exit(main(['eval', 't.yaml', '--json', '--target', "
            f"'openai:fake@{fake_openai.base_url}', '--store', 's.db', '--no-cache']))\n")
    done = run_child(code, tmp_path, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["n"] == 2 and report["outcomes"] == {"error": 1, "no_match": 1}


@pytest.mark.parametrize(("pattern", "fragment"), [
    ("(?:(?:a{100}){100}){100}", "repeats too much"),
    ("((a{65535}){65535}){65535}", "repeats too much"),
    ("a" * 1001, "longer than 1000 characters"),
    ("(" * 499 + "a" + ")" * 499, "nests too deeply"),
    ("(unclosed", "invalid regex"),
])
def test_bad_patterns_are_task_errors_at_load(tmp_path: Path, pattern: str, fragment: str) -> None:
    text = task_error(write(tmp_path / "t.yaml", "name: t\nprompt: hi\nmetrics: [{type: regex, pattern: "
                                                 + json.dumps(pattern) + "}]\n"))
    assert "t.yaml: metrics[0]" in text and fragment in text


async def test_a_huge_pattern_from_an_expected_answer_is_a_bad_pattern() -> None:
    score = await RegexMetric().score("aaa", Example(inputs={}, expected="((a{65535}){65535}){65535}"))
    assert (score.value, score.outcome) == (0.0, "bad_pattern")


# -- the json metric: replies are untrusted -------------------------------------------------------


@pytest.mark.parametrize("reply", [
    "[" * 100_000,
    '{"a": ' * 100_000,
    "Here: " + '{"a": ' * 500 + "1" + "}" * 500,  # parses with plain json, 500 deep
    "```json\n" + "[" * 300 + "]" * 300 + "\n```",
])
async def test_deep_json_replies_score_as_errors(reply: str) -> None:
    started = time.perf_counter()
    score = await JsonMatch().score(reply, Example(inputs={}, expected=None))
    assert time.perf_counter() - started < FAST_S
    assert (score.value, score.outcome) == (0.0, "error")
    assert "nests more than 100 levels" in score.reason


async def test_huge_json_replies_do_not_crash() -> None:
    for reply in ('{"n": ' + "9" * 5000 + "}", "{" * 150 + "x" * 200_000):
        score = await JsonMatch().score(reply, Example(inputs={}, expected='{"n": 1}'))
        assert score.value == 0.0 and score.outcome in ("parse_error", "error")


# -- fuzzing: only PromptTunerError, and quickly -------------------------------------------------

YAMLISH = st.text(alphabet=st.sampled_from(list("[]{}:,-&*!|>'\"#?%@`~=<\n\t 0123456789.+_exyz")),
                  max_size=200)
JSONISH = st.text(alphabet=st.sampled_from(list('[]{}:,"0123456789.e-+ \n')), max_size=300)
FUZZ = settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=st.one_of(st.text(max_size=300), YAMLISH))
@example(text="[" * 2000)
@example(text="a: &a [*a]")
@example(text="x: " + "1" * 5000)
@example(text="x: !!timestamp soon")
@example(text="- =")
@example(text="? [a]\n: b")
@example(text="a: &a [1]\nb: {<<: *a}")
def test_fuzz_load_yaml_raises_only_yaml_errors(text: str) -> None:
    with contextlib.suppress(yaml.YAMLError):
        load_yaml(text)


@FUZZ
@given(text=st.one_of(st.text(max_size=300), JSONISH))
@example(text="[" * 5000)
@example(text="1" * 5000)
def test_fuzz_load_json_raises_only_decode_errors(text: str) -> None:
    with contextlib.suppress(json.JSONDecodeError):
        load_json(text)


def _fuzz_task_text(prefix: str) -> st.SearchStrategy[str]:
    return st.one_of(YAMLISH, st.text(max_size=200)).map(lambda tail: prefix + tail)


@FUZZ
@given(text=st.one_of(_fuzz_task_text("name: t\nprompt: '{{ q }}'\nexamples:\n  - "),
                      _fuzz_task_text("name: t\nprompt: hi\nmetrics: [{type: regex, pattern: "),
                      YAMLISH))
@example(text="name: t\nprompt: hi\nexamples:\n  - {inputs: {1: a}}")
@example(text="name: t\nprompt: hi\nexamples:\n  - expected: !!binary aGk=")
@example(text="name: t\nprompt: hi\nlabels: [true]")
def test_fuzz_task_files_raise_only_user_errors(tmp_path: Path, text: str) -> None:
    for name in ("t.yaml", "t.json"):
        path = write(tmp_path / name, text)
        try:
            load_task(path)
        except PromptTunerError as exc:
            assert "\n" not in str(exc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30)


@FUZZ
@given(value=json_values, wrap=st.integers(0, 40))
def test_fuzz_json_task_structures(tmp_path: Path, value: Any, wrap: int) -> None:
    data = {"name": "t", "prompt": "{{ q }}", "examples": [{"q": "x", "expected": value}]}
    for _ in range(wrap):
        data = {"name": "t", "prompt": "hi", "examples": [{"meta": data}]}
    for name, text in (("t.json", json.dumps(data)), ("t.yaml", yaml.safe_dump(data))):
        try:
            load_task(write(tmp_path / name, text))
        except PromptTunerError as exc:
            assert "\n" not in str(exc)


@FUZZ
@given(content=st.one_of(st.binary(max_size=300), YAMLISH.map(str.encode),
                         st.text(max_size=200).map(str.encode)),
       suffix=st.sampled_from([".jsonl", ".json", ".csv", ".tsv"]))
@example(content=b'{"q": ' + b"[" * 5000, suffix=".jsonl")
@example(content=b'[{"q": 1e999999}]', suffix=".json")
@example(content=b"a,b\n\x00,1\n", suffix=".csv")
def test_fuzz_data_files_raise_only_task_errors(tmp_path: Path, content: bytes, suffix: str) -> None:
    path = write(tmp_path / f"d{suffix}", content)
    try:
        records = read_records(path)
    except TaskError as exc:
        assert "\n" not in str(exc)
        return
    task_path = write(tmp_path / "t.yaml", f"name: t\nprompt: hi\ndataset: {{file: d{suffix}}}\n")
    try:
        load_task(task_path)
    except TaskError as exc:
        assert "\n" not in str(exc)
    assert records


@FUZZ
@given(text=st.one_of(YAMLISH, st.text(max_size=200)), suffix=st.sampled_from([".yaml", ".json", ".txt"]))
def test_fuzz_prompt_files_raise_only_task_errors(tmp_path: Path, text: str, suffix: str) -> None:
    task = load_task(write(tmp_path / "t.yaml", "name: t\nprompt: hi\n"))
    try:
        load_prompt(str(write(tmp_path / f"p{suffix}", text)), task)
    except TaskError as exc:
        assert "\n" not in str(exc)
