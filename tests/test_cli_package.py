"""The terminal front (``core/cli/``) is a front like the Slack bot and the language server: its
modules import the core only through its public API (``core``, names in ``core.__all__``) and
each other, never a private core module such as ``core.store`` or ``core.history``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import core

CLI = Path(__file__).resolve().parents[1] / "core" / "cli"


def private_imports(source: str, public: set[str]) -> list[str]:
    """The imports in a ``core/cli/`` module's source that reach past the public API, as
    ``line: what``. Allowed: ``core`` and ``..`` (names in ``public`` only), ``core.cli.*``,
    ``.x`` (the package itself), and anything outside ``core``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if a.name.startswith("core.") and not a.name.startswith("core.cli")]
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level == 0:
            if not (module == "core" or module.startswith("core.")):
                continue  # the standard library, rich, …
            if module.startswith("core.") and module != "core.cli" and not module.startswith("core.cli."):
                found.append(f"{node.lineno}: from {module} import …")
                continue
            where = module
        elif node.level == 1:
            continue  # the CLI's own modules
        else:
            where = "." * node.level + module
            if node.level > 2 or module:  # ..store, ...anything: a private module
                found.append(f"{node.lineno}: from {where} import …")
                continue
        if where in ("core", ".."):
            found += [f"{node.lineno}: from {where} import {a.name} (not in core.__all__)"
                      for a in node.names if a.name not in public]
    return found


def test_the_cli_package_replaces_the_cli_modules() -> None:
    root = CLI.parent
    assert (CLI / "__init__.py").is_file() and (CLI / "app.py").is_file()
    assert not (root / "cli.py").exists()
    assert sorted(p.name for p in root.glob("cli_*.py")) == []
    from core.cli import build_parser, main

    assert callable(main) and build_parser().prog == "prompt-tuner"


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_every_cli_module_imports_only_the_public_api(path: Path) -> None:
    assert private_imports(path.read_text(encoding="utf-8"), set(core.__all__)) == []


def test_the_check_finds_each_kind_of_private_import() -> None:
    public = set(core.__all__)
    source = "\n".join([
        "from core import Store, load_task",           # public: fine
        "from core.cli.termcharts import emit",        # the package itself: fine
        "from .termcharts import emit",                # the package itself: fine
        "from rich.text import Text",                  # not the core: fine
        "from core.store import Store",                # 5: private module
        "from ..history import load_run",              # 6: private module, relative
        "from .. import store",                        # 7: a module, not a public name
        "from core import _private",                   # 8: not in __all__
        "import core.lineage",                         # 9: private module
        "from ...core import x",                       # 10: past the package
    ])
    lines = [int(found.split(":")[0]) for found in private_imports(source, public)]
    assert lines == [5, 6, 7, 8, 9, 10]
