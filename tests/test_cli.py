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
