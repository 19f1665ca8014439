"""The server's entry points (stdio, TCP, console script) and the editor clients' configs agree
with what the server reads."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from lsp_server.checks import CODES
from lsp_server.options import ServerOptions, parse_options

REPO = Path(__file__).resolve().parents[1]
VSCODE = REPO / "lsp_server" / "editors" / "vscode"


def test_the_console_script_and_packaging_name_the_server() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["scripts"]["prompt-tuner-lsp"] == "lsp_server.cli:main"
    assert "lsp_server" in meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert "lsp_server" in meta["tool"]["mypy"]["packages"]


def test_the_wheel_carries_the_server_and_the_editor_configs_but_no_node_modules(
    tmp_path: Path
) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(REPO)], check=True, capture_output=True)
    wheel = zipfile.ZipFile(next(tmp_path.glob("prompt_tuner-*.whl")))
    names = set(wheel.namelist())
    assert {"lsp_server/cli.py", "lsp_server/checks/wording.py",
            "lsp_server/editors/nvim/prompt_tuner.lua",
            "lsp_server/editors/vscode/src/extension.ts"} <= names
    assert not any("node_modules" in n or "/out/" in n for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "prompt-tuner-lsp = lsp_server.cli:main" in wheel.read(entry_points).decode()


def test_every_vscode_setting_is_one_the_server_reads() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    declared = {key.removeprefix("promptTuner.").split(".")[0]
                for key in manifest["contributes"]["configuration"]["properties"]}
    server_keys = {f.alias for f in ServerOptions.model_fields.values()} - {"virtualDocuments"}
    assert declared - {"serverCommand"} == server_keys
    source = (VSCODE / "src" / "extension.ts").read_text()
    sent = re.search(r"const keys = \[(.*?)\];", source, re.S)
    assert sent is not None
    assert set(re.findall(r'"(\w+)"', sent.group(1))) == server_keys - {"trustWorkspace"}
    assert "trustWorkspace: trustWorkspace()" in source  # sent only as the gated value


def test_the_vscode_extension_claims_its_own_language_id_and_keeps_trust_in_user_settings() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    languages = {lang["id"]: lang for lang in manifest["contributes"]["languages"]}
    assert "prompt" not in languages  # VS Code's own id for Copilot prompt files
    assert all(".prompt.md" not in lang.get("extensions", []) for lang in languages.values())
    for event in manifest["activationEvents"]:
        if event.startswith("onLanguage:"):
            assert event.removeprefix("onLanguage:") in {*languages, "python"}
    props = manifest["contributes"]["configuration"]["properties"]
    assert props["promptTuner.serverCommand"]["scope"] == "machine"
    assert props["promptTuner.trustWorkspace"] == {**props["promptTuner.trustWorkspace"],
                                                   "type": "boolean", "default": False,
                                                   "scope": "application"}
    untrusted = manifest["capabilities"]["untrustedWorkspaces"]
    assert {"promptTuner.serverCommand", "promptTuner.trustWorkspace",
            "promptTuner.models.target"} <= set(untrusted["restrictedConfigurations"])
    gate = re.search(r"function trustWorkspace\(\): boolean \{(.*?)\n\}",
                     (VSCODE / "src" / "extension.ts").read_text(), re.S)
    assert gate is not None and "vscode.workspace.isTrusted" in gate.group(1)


def test_settings_use_camel_case_and_bad_values_say_which_setting() -> None:
    opts = parse_options({"promptTuner": {"models": {"target": "embedded"}, "budget": {"maxCalls": 9},
                                          "severity": {"weak-wording": "off"}, "onResult": "apply"}})
    assert opts.flags() == {"models.target": "embedded", "budget.max_calls": 9}
    assert opts.severity_of("weak-wording") == "off"
    assert opts.severity_of("too-long") == CODES["too-long"]
    with pytest.raises(Exception, match="onResult"):
        parse_options({"onResult": "sometimes"})


def test_the_server_speaks_lsp_over_tcp(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "lsp_server", "--tcp", "--port", str(port)],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        with conn:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                               "params": {"processId": None, "rootUri": None, "capabilities": {}}})
            conn.sendall(f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
            data = b""
            while b"serverInfo" not in data or not data.rstrip().endswith(b"}"):
                chunk = conn.recv(65536)
                assert chunk, data
                data += chunk
        reply = json.loads(data.split(b"\r\n\r\n", 1)[1])
        assert reply["result"]["serverInfo"]["name"] == "prompt-tuner-lsp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_vscode_extension_compiles_with_tsc() -> None:
    tsc = VSCODE / "node_modules" / ".bin" / "tsc"
    if not tsc.exists() or shutil.which("node") is None:
        pytest.skip("run `npm ci` in lsp_server/editors/vscode first (.ci/run does)")
    proc = subprocess.run([str(tsc), "-p", str(VSCODE), "--noEmit"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
