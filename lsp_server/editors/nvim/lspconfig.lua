-- prompt-tuner's language server through Neovim's built-in LSP registry (vim.lsp.config, which
-- nvim-lspconfig builds on). Needs Neovim 0.11 or newer. Copy into your config (e.g.
-- after/plugin/prompt_tuner.lua); prompt_tuner.lua also opens the history as a buffer.

if vim.fn.has("nvim-0.11") == 0 then
  local v = vim.version()
  vim.notify(string.format("prompt-tuner: needs Neovim 0.11 or newer, this is %d.%d.%d; the language "
    .. "server is not configured", v.major, v.minor, v.patch), vim.log.levels.ERROR)
  return
end

vim.lsp.config("prompt_tuner", {
  cmd = { "prompt-tuner-lsp" },
  filetypes = { "python", "yaml", "jinja", "markdown", "prompt" },
  root_markers = { "pyproject.toml", "prompt-tuner.yaml", ".git" },
  init_options = {
    models = { target = "embedded" }, -- or "ollama:qwen2.5:0.5b", "openai:gpt-4o-mini", …
    budget = { maxCalls = 300 },
    virtualDocuments = true, -- the history opens as prompt-tuner: buffers (see prompt_tuner.lua)
    trustWorkspace = false, -- true: Optimize/Evaluate may run task files' custom metric code
  },
})
vim.lsp.enable("prompt_tuner")

-- Files named *.prompt get their own filetype so the client attaches to them.
vim.filetype.add({ extension = { prompt = "prompt", j2 = "jinja", jinja = "jinja", jinja2 = "jinja" } })
