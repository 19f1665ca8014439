"""The CLI in-process: user mistakes are one stderr line and exit 2; config and cache commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core import Store
from core.cli import main
from core.models import embedded
from core.models.base import Completion
from core.models.cache import ResponseCache

TASK_YAML = """\
name: cli-task
prompt: "Review: {{ text }}"
metric: label
examples:
  - {text: "lovely", expected: positive}
  - {text: "awful", expected: negative}
"""


pytestmark = pytest.mark.usefixtures("cli_console")


@pytest.fixture
def no_embedded_load(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail loudly (and record it) if anything tries to load the embedded model."""
    calls: list[Any] = []

    def refuse(*args: Any) -> Any:
        calls.append(args)
        raise AssertionError("the embedded model was loaded")

    monkeypatch.setattr(embedded, "_load", refuse)
    return calls


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(TASK_YAML, encoding="utf-8")
    return path


def run_args(tmp_path: Path) -> list[str]:
    return ["--store", str(tmp_path / "store.db"), "--run-dir", str(tmp_path / "runs")]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "Traceback" not in captured.out
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("prompt-tuner: error: "), lines[0]
    return lines[0]


# -- tune: user mistakes --------------------------------------------------------------------------


def test_tune_missing_task_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", "missing.yaml", *run_args(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert "missing.yaml" in line
    assert "not found" in line


def test_tune_unknown_model_kind(tmp_path: Path, task_file: Path, no_embedded_load: list[Any],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tune", str(task_file), "--target", "nosuch:model", *run_args(tmp_path)])
    assert code == 2
    line = one_error_line(capsys)
    assert "nosuch" in line
    assert "openai" in line  # the hint lists the known kinds
    assert no_embedded_load == []
    # the failure came before any run was recorded
    store = Store(tmp_path / "store.db")
    try:
        assert store.runs() == []
    finally:
        store.close()


def test_tune_openai_target_without_api_key(tmp_path: Path, task_file: Path,
                                            no_embedded_load: list[Any],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tune", str(task_file), "--target", "openai:gpt-4o", *run_args(tmp_path)])
    assert code == 2
    line = one_error_line(capsys)
    assert "OPENAI_API_KEY" in line
    assert no_embedded_load == []


def test_tune_non_integer_max_calls(tmp_path: Path, task_file: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", str(task_file), "--max-calls", "abc", *run_args(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert "--max-calls" in line
    assert "abc" in line


def test_tune_bad_yaml_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\nprompt: [unclosed\n", encoding="utf-8")
    assert main(["tune", str(bad), *run_args(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert "bad.yaml" in line
    assert "line" in line


def test_tune_unknown_flag(tmp_path: Path, task_file: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", str(task_file), "--bogus", *run_args(tmp_path)]) == 2
    assert "--bogus" in one_error_line(capsys)


def test_missing_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    one_error_line(capsys)


def test_task_description_with_a_task_file_is_refused(tmp_path: Path, task_file: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", str(task_file), "--task", "what for", *run_args(tmp_path)]) == 2
    assert "--task" in one_error_line(capsys)


def test_tune_invalid_flag_value_names_setting(tmp_path: Path, task_file: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", str(task_file), "--variations", "0", *run_args(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert "tune.variations" in line
    assert "flag" in line


# -- config show ----------------------------------------------------------------------------------


def test_config_show_table_has_settings_and_sources(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PROMPT_TUNER_TUNE__VARIATIONS", "7")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if " tune.variations " in line]
    assert len(rows) == 1, out
    assert "7" in rows[0]
    assert "environment" in rows[0]
    assert "tune.refine_top" in out


def test_config_show_profile_changes_values_and_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--profile", "quick", "--json"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["tune.variations"]["value"] == 2
    assert rows["tune.variations"]["source"] == "profile quick"


def test_config_show_json_rows_and_masked_key(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    secret = "sk-cli-test-secret-987"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    assert secret not in out
    rows = json.loads(out)
    assert all(set(r) == {"key", "value", "source"} for r in rows)
    by_key = {r["key"]: r for r in rows}
    assert by_key["tune.variations"]["source"] == "default"
    assert isinstance(by_key["tune.variations"]["value"], int)
    key_row = by_key["secrets.OPENAI_API_KEY"]
    assert key_row["value"] != "(not set)"
    assert "*" in key_row["value"]


def test_config_show_reads_config_file_from_cwd(capsys: pytest.CaptureFixture[str]) -> None:
    Path("prompt-tuner.yaml").write_text("tune:\n  seed: 42\n", encoding="utf-8")
    assert main(["config", "show", "--json"]) == 0
    by_key = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert by_key["tune.seed"]["value"] == 42
    assert by_key["tune.seed"]["source"].startswith("config file ")


def test_config_show_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--profile", "nosuch"]) == 2
    line = one_error_line(capsys)
    assert "nosuch" in line
    assert "quick" in line


def test_config_show_missing_config_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--config", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml" in one_error_line(capsys)


# -- cache ----------------------------------------------------------------------------------------


def test_cache_stats_on_empty_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "stats"]) == 0
    out = capsys.readouterr().out
    assert "entries: 0" in out
    # the conftest points the user cache dir into tmp_path; the cache must live there
    assert str(tmp_path) in out


def test_cache_clear_removes_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c" / "responses.db"
    monkeypatch.setenv("PROMPT_TUNER_CACHE__PATH", str(path))
    cache = ResponseCache(path)
    cache.put("k1", Completion(text="a", model="m1"))
    cache.put("k2", Completion(text="b", model="m1"))
    cache.put("k3", Completion(text="c", model="m2"))
    cache.close()

    assert main(["cache", "stats"]) == 0
    out = capsys.readouterr().out
    assert "entries: 3" in out
    assert "m1: 2" in out

    assert main(["cache", "clear"]) == 0
    assert "removed 3" in capsys.readouterr().out

    assert main(["cache", "stats"]) == 0
    assert "entries: 0" in capsys.readouterr().out


def test_cache_clear_older_than_keeps_recent_entries(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c" / "responses.db"
    monkeypatch.setenv("PROMPT_TUNER_CACHE__PATH", str(path))
    cache = ResponseCache(path)
    cache.put("k1", Completion(text="a", model="m1"))
    cache.close()
    assert main(["cache", "clear", "--older-than", "3600"]) == 0
    assert "removed 0" in capsys.readouterr().out
    assert main(["cache", "stats"]) == 0
    assert "entries: 1" in capsys.readouterr().out


def test_tune_prompt_with_undefined_attribute_fails_as_user_error(
        tmp_path: Path, no_embedded_load: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    task = tmp_path / "attr.yaml"
    task.write_text(TASK_YAML.replace("{{ text }}", "{{ text.nosuch }}"), encoding="utf-8")
    assert main(["tune", str(task), "-q", *run_args(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert "nosuch" in line
    assert no_embedded_load == []
    store = Store(tmp_path / "store.db")
    try:
        [run] = store.runs()
        assert run["status"] == "failed"
        assert "nosuch" in run["error"]
    finally:
        store.close()


@pytest.mark.parametrize("command", [
    [], ["tune"], ["eval"], ["compare"], ["lineage"], ["diff"], ["report"], ["runs"], ["show"],
    ["export"], ["versions"], ["schema"], ["config", "show"], ["cache", "stats"]])
def test_every_help_page_prints(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # argparse %-formats help strings: a bare "95%" in one crashed `prompt-tuner --help`
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: prompt-tuner" in capsys.readouterr().out


# -- flag values argparse lets through: one line at once, before any model call ---------------------


def fake_models(server: Any) -> list[str]:
    spec = f"openai:fake@{server.base_url}"
    return ["--target", spec, "--optimizer", spec, "--judge", spec]


@pytest.mark.parametrize(("argv", "says"), [
    (["tune", "TASK", "--seed", "-1"], "argument --seed: -1 must be 0 or more"),
    (["eval", "TASK", "--seed", "-1"], "argument --seed: -1 must be 0 or more"),
    (["compare", "TASK", "task", "task", "--seed", "-7"], "argument --seed: -7 must be 0 or more"),
    (["eval", "TASK", "--worst", "-1"], "argument --worst: -1 must be 0 or more"),
    (["tune", "TASK", "--run-dir", "/proc/self"], "cannot write to the run folder /proc/self"),
    (["tune", "TASK", "--run-dir", "TASK"], "is a file, not a folder"),
    (["tune", "TASK", "--run-dir", "TASK/sub"], "cannot write to the run folder"),
])
def test_bad_flag_values_fail_in_one_line_before_any_call(
    argv: list[str], says: str, tmp_path: Path, task_file: Path, fake_openai: Any,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    argv = [str(task_file) if a == "TASK" else a.replace("TASK", str(task_file)) for a in argv]
    models = fake_models(fake_openai)[:2] + fake_models(fake_openai)[4:] \
        if argv[0] != "tune" else fake_models(fake_openai)
    assert main([*argv, *models, "--store", str(tmp_path / "s.db"), "--max-calls", "40"]) == 2
    assert says in one_error_line(capsys)
    assert fake_openai.requests() == []  # refused before the run spent anything


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_cache_clear_older_than_must_be_a_finite_age(value: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "clear", "--older-than", value]) == 2
    assert "argument --older-than" in one_error_line(capsys)


def test_a_server_error_body_with_line_breaks_and_escapes_stays_one_line(
    tmp_path: Path, task_file: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by fuzzing: the server's reply is quoted in the error, and with it its line breaks
    (here NEL, U+2028 and a plain newline) and terminal escape codes."""
    from tests.fakes.raw_http import RawServer, http_response

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    body = b'{"error": {"message": "bad\\nrequest\\u0085second\\u2028third \\u001b[31mred"}}'
    with RawServer(lambda request: http_response(422, body)) as server:
        code = main(["eval", str(task_file), "--target", f"openai:m@{server.base_url}",
                     "--store", str(tmp_path / "s.db")])
    assert code == 2
    line = one_error_line(capsys)
    assert "\x1b" not in line and "\x85" not in line and "\u2028" not in line
    assert "bad request second third red" in line  # the escape code is dropped where the text enters


@pytest.mark.parametrize("prompt", [
    "Write a short, friendly reply to a customer who asks about delivery times. " * 5,  # > 255 bytes
    "Say hello to \x00 the world.",
])
def test_a_quoted_prompt_that_cannot_be_a_file_name_is_tuned_as_a_prompt(
    prompt: str, tmp_path: Path, fake_openai: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Probing whether a 300-byte prompt is a file raised "File name too long" (an internal
    error); a name the system cannot look up is a prompt."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code = main(["tune", prompt, *fake_models(fake_openai), "-q", "--max-calls", "30",
                 *run_args(tmp_path)])
    captured = capsys.readouterr()
    assert "internal error" not in captured.err
    assert code == 0, captured.err
    assert fake_openai.requests()  # it ran, as the quick form


def test_a_task_file_name_too_long_to_look_up_is_not_found(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    name = "t" * 300 + ".yaml"
    assert main(["tune", name, *run_args(tmp_path)]) == 2
    assert f"task file not found: {name}" in one_error_line(capsys)


def test_a_full_disk_at_the_report_is_one_line_and_the_run_is_kept(
    tmp_path: Path, task_file: Path, fake_openai: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """The report is written after every call was paid for: ENOSPC there was an internal
    error; now one line saying where the results are, and the run is stored as finished."""
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("needs /dev/full")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setattr("core.cli.app.new_run_id", lambda: "r-full")
    (tmp_path / "runs" / "r-full").mkdir(parents=True)
    (tmp_path / "runs" / "r-full" / "result.json").symlink_to(full)
    code = main(["tune", str(task_file), *fake_models(fake_openai), "-q", "--max-calls", "100",
                 *run_args(tmp_path)])
    assert code == 2
    line = one_error_line(capsys)
    assert "run r-full finished, but its report could not be written" in line
    assert "No space left on device" in line and "prompt-tuner report r-full" in line
    store = Store(tmp_path / "store.db")
    try:
        assert store.get_run("r-full")["status"] == "finished"
    finally:
        store.close()


def test_compare_and_versions_with_a_name_too_long_to_look_up_are_one_line(
    tmp_path: Path, task_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compare TASK task "<long prompt>"` and `versions <long name>` probed the argument as a
    file and raised "File name too long" (an internal error)."""
    long_text = "Answer in one word please. " * 12  # > 255 bytes
    assert main(["compare", str(task_file), "task", long_text, "--store", str(tmp_path / "s.db")]) == 2
    assert "prompt file not found: Answer in one word" in one_error_line(capsys)
    from core import Store

    Store(tmp_path / "s.db").close()  # versions reads an existing store
    assert main(["versions", long_text.strip() + ".yaml", "--store", str(tmp_path / "s.db")]) == 2
    assert "no task file" in one_error_line(capsys)
