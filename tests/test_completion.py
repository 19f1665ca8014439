"""`prompt-tuner completion bash|zsh|fish`: scripts generated from the CLI's parser, run in the
real shells (bash always; zsh and fish where they are installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from core.cli import main

pytestmark = pytest.mark.usefixtures("cli_console")

needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
needs_fish = pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")


def script(shell: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["completion", shell]) == 0
    path = tmp_path / f"completion.{shell}"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    return path


def task_folder(tmp_path: Path) -> Path:
    """A folder with task files, other files and a subfolder, for TASK completion."""
    folder = tmp_path / "work"
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    for name in ("movies.tune.yaml", "qa.yml", "spec.json", "notes.txt", "data.csv"):
        (folder / name).write_text("x", encoding="utf-8")
    return folder


# -- bash ----------------------------------------------------------------------------------------


def bash_complete(path: Path, words: list[str], cwd: Path | None = None) -> list[str]:
    """COMPREPLY of the script's completion function for the command line ``words`` (the last
    word is the one being completed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    body = (f"source '{path}'\nCOMP_WORDS=({quoted})\nCOMP_CWORD={len(words) - 1}\n"
            f"COMP_LINE='{' '.join(words)}'\nCOMP_POINT=${{#COMP_LINE}}\n"
            "_shtab_prompt_tuner\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", body], cwd=cwd, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_and_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = script("bash", tmp_path, capsys)
    assert bash_complete(path, ["prompt-tuner", "tu"]) == ["tune"]
    assert bash_complete(path, ["prompt-tuner", "tune", "--max-"]) == ["--max-calls"]
    everything = bash_complete(path, ["prompt-tuner", ""])
    # built-in commands, and those registered as plugins (init, completion, plugins, insights)
    assert {"tune", "eval", "compare", "init", "completion", "plugins", "insights"} <= set(everything)
    assert bash_complete(path, ["prompt-tuner", "completion", ""]) == ["bash", "zsh", "fish"]
    assert "--examples" in bash_complete(path, ["prompt-tuner", "init", "--ex"])


def test_bash_completes_task_files_for_task_arguments(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = script("bash", tmp_path, capsys)
    got = set(bash_complete(path, ["prompt-tuner", "eval", ""], cwd=task_folder(tmp_path)))
    assert got == {"movies.tune.yaml", "qa.yml", "spec.json", "sub"}
    # FILE arguments take any file
    words = ["prompt-tuner", "init", "x", "--examples", "d"]
    got = set(bash_complete(path, words, cwd=task_folder(tmp_path)))
    assert got == {"data.csv"}


# -- zsh -----------------------------------------------------------------------------------------


# Types LINE and a TAB into an interactive zsh in a pseudo-terminal, with the script installed as
# the README says (a `_prompt-tuner` file in $fpath, then compinit), and writes every candidate
# the completion offers to OUT; the marker line is printed once the completion has run.
ZSH_DRIVER = r"""
zmodload zsh/zpty
fndir=$1 out=$2 line=$3
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=($fndir \$fpath); autoload -Uz compinit && compinit -u -d $out.dump"
capture='compadd() { local -a got; builtin compadd -O got "$@"; print -rl -- $got >> '$out
zpty -w z "$capture"'; builtin compadd "$@"; }'
zpty -w z "print RE""ADY"; zpty -r z ready "*READY*"
zpty -w -n z "$line"$'\t'$'\C-u'
zpty -w z 'print -- "--""END--"'
zpty -r z seen '*--END--*'
zpty -d z
"""


def zsh_complete(tmp_path: Path, line: str, cwd: Path | None = None) -> set[str]:
    out = tmp_path / f"zsh-{len(list(tmp_path.glob('zsh-*')))}"
    driver = tmp_path / "driver.zsh"
    driver.write_text(ZSH_DRIVER, encoding="utf-8")
    done = subprocess.run(["zsh", "-f", str(driver), str(tmp_path / "functions"), str(out), line],
                          cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "dumb"})
    assert done.returncode == 0, done.stderr
    return {w for w in out.read_text(encoding="utf-8").splitlines() if w} if out.exists() else set()


@needs_zsh
def test_zsh_completes_commands_flags_and_task_files(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = script("zsh", tmp_path, capsys)
    assert path.read_text(encoding="utf-8").startswith("#compdef prompt-tuner")
    checked = subprocess.run(["zsh", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    (tmp_path / "functions").mkdir()
    path.rename(tmp_path / "functions" / "_prompt-tuner")
    assert zsh_complete(tmp_path, "prompt-tuner tu") == {"tune"}
    assert zsh_complete(tmp_path, "prompt-tuner tune --max-") == {"--max-calls"}
    got = zsh_complete(tmp_path, "prompt-tuner eval ", cwd=task_folder(tmp_path))
    assert got == {"movies.tune.yaml", "qa.yml", "spec.json", "sub"}


# -- fish ----------------------------------------------------------------------------------------


def fish_complete(path: Path, line: str, cwd: Path | None = None) -> dict[str, str]:
    """fish's completions for ``line``: candidate -> description."""
    done = subprocess.run(["fish", "--no-config", "-c", f"source '{path}'; complete -C '{line}'"], cwd=cwd,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    pairs = (line.partition("\t") for line in done.stdout.splitlines() if line)
    return {word: description for word, _, description in pairs}


@needs_fish
def test_fish_completes_commands_with_help_and_flags(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = script("fish", tmp_path, capsys)
    assert fish_complete(path, "prompt-tuner tu") == {"tune": "improve a prompt"}
    assert "--max-calls" in fish_complete(path, "prompt-tuner tune --max-")
    assert "--max-calls" not in fish_complete(path, "prompt-tuner init --")
    assert {"init", "completion", "plugins"} <= fish_complete(path, "prompt-tuner ").keys()


@needs_fish
def test_fish_completes_task_files_for_task_arguments(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = script("fish", tmp_path, capsys)
    got = fish_complete(path, "prompt-tuner eval ", cwd=task_folder(tmp_path))
    assert set(got) == {"movies.tune.yaml", "qa.yml", "spec.json", "sub/"}


def test_an_unknown_shell_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "powershell"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "invalid choice: 'powershell'" in err
