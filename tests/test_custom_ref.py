"""Custom metric references checked without running them (what the editor needs), and the CLI's
load that still imports them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core import TaskError, custom_metric_refs, load_task
from core.metrics.custom_ref import check_custom_ref, parse_custom_ref

WRITES_MARKER = "from pathlib import Path\nPath({marker!r}).write_text('ran')\n"


def task_file(folder: Path, function: str) -> Path:
    path = folder / "t.tune.yaml"
    path.write_text("name: t\nprompt: \"Greet {{ name }}.\"\n"
                    f"metrics:\n  - {{type: custom, function: \"{function}\"}}\n"
                    "examples:\n  - {name: Ann}\n", encoding="utf-8")
    return path


def check(ref: str, base: Path) -> None:
    check_custom_ref(parse_custom_ref(ref, base))


@pytest.mark.parametrize("source", [
    "def score(answer, example):\n    return True\n",
    "async def score(answer, example):\n    return True\n",
    "score = len\n",
    "try:\n    from fast import score\nexcept ImportError:\n    def score(a, e):\n        return 1\n",
    "from somewhere import *\n",
])
def test_a_file_that_binds_the_function_passes_without_being_run(
    tmp_path: Path, source: str
) -> None:
    (tmp_path / "m.py").write_text(WRITES_MARKER.format(marker=str(tmp_path / "ran")) + source,
                                   encoding="utf-8")
    check("m.py:score", tmp_path)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(("ref", "source", "message"), [
    ("m.py:score", "def other(a, e):\n    return 1\n", "has no function 'score'.*it defines: other"),
    ("m.py:score", "def score(:\n", r"m\.py line 1: .*fix the syntax"),
    ("m.py:score", "x = '\0'\n", "not Python source|null bytes"),
    ("m.py:score", "x = " + "(" * 5000 + ")" * 5000 + "\n", "nested too deeply|too many nested"),
    ("missing.py:score", None, "file not found"),
    ("m.py:class", "", "not a function name"),
    ("pkg-name.mod:score", None, "not a module name"),
    ("pkg.class:score", None, "not a module name"),
])
def test_a_reference_that_cannot_work_is_one_task_error(
    tmp_path: Path, ref: str, source: str | None, message: str
) -> None:
    if source is not None:
        (tmp_path / "m.py").write_text(source, encoding="utf-8")
    with pytest.raises(TaskError, match=message) as info:
        check(ref, tmp_path)
    assert "\n" not in str(info.value) and info.value.hint


def test_loading_without_importing_runs_neither_a_file_nor_a_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "metric.py").write_text(
        WRITES_MARKER.format(marker=str(tmp_path / "file-ran")) + "def score(a, e):\n    return 1\n",
        encoding="utf-8")
    package = tmp_path / "mypkg_h3_marker"
    package.mkdir()
    (package / "__init__.py").write_text(WRITES_MARKER.format(marker=str(tmp_path / "package-ran")),
                                         encoding="utf-8")
    (package / "scoring.py").write_text("def score(a, e):\n    return 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable, as a workspace module may be

    for ref in ("metric.py:score", "mypkg_h3_marker.scoring:score"):
        task = load_task(task_file(tmp_path, ref), import_code=False)
        assert [r.text for r in custom_metric_refs(task)] == [ref]
    assert not (tmp_path / "file-ran").exists() and not (tmp_path / "package-ran").exists()
    assert "mypkg_h3_marker" not in sys.modules

    load_task(task_file(tmp_path, "metric.py:score"))  # the CLI: the user ran it, so it imports
    assert (tmp_path / "file-ran").exists()


def test_a_missing_function_is_reported_at_load_without_importing(tmp_path: Path) -> None:
    (tmp_path / "metric.py").write_text(
        WRITES_MARKER.format(marker=str(tmp_path / "ran")) + "def other(a, e):\n    return 1\n",
        encoding="utf-8")
    with pytest.raises(TaskError, match=r"t\.tune\.yaml: metrics\[0\].*has no function 'score'"):
        load_task(task_file(tmp_path, "metric.py:score"), import_code=False)
    assert not (tmp_path / "ran").exists()


def test_references_name_the_real_file_behind_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "metric.py").write_text("def score(a, e):\n    return 1\n", encoding="utf-8")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "metric.py").symlink_to(real / "metric.py")
    task = load_task(task_file(ws, "metric.py:score"), import_code=False)
    (ref,) = custom_metric_refs(task)
    assert ref.file == (real / "metric.py").resolve() and ref.module is None
