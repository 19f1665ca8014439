-- prompt-tuner's language server through nvim-lspconfig's registry (Neovim 0.9 or newer).
-- Copy into your config (e.g. after/plugin/prompt_tuner.lua).

local settings = {
  init_options = {
    models = { target = "embedded" }, -- or "ollama:qwen2.5:0.5b", "openai:gpt-4o-mini", …
    budget = { maxCalls = 300 },
    virtualDocuments = true, -- the history opens as prompt-tuner: buffers (see prompt_tuner.lua)
  },
}

if vim.lsp.config then
  -- Neovim 0.11+: the built-in registry that lspconfig builds on.
  vim.lsp.config("prompt_tuner", vim.tbl_extend("force", {
    cmd = { "prompt-tuner-lsp" },
    filetypes = { "python", "yaml", "jinja", "markdown", "prompt" },
    root_markers = { "pyproject.toml", "prompt-tuner.yaml", ".git" },
  }, settings))
  vim.lsp.enable("prompt_tuner")
else
  local configs = require("lspconfig.configs")
  if not configs.prompt_tuner then
    configs.prompt_tuner = {
      default_config = {
        cmd = { "prompt-tuner-lsp" },
        filetypes = { "python", "yaml", "jinja", "markdown", "prompt" },
        root_dir = require("lspconfig.util").root_pattern("pyproject.toml", "prompt-tuner.yaml", ".git"),
      },
    }
  end
  require("lspconfig").prompt_tuner.setup(settings)
end

-- Files named *.prompt get their own filetype so the client attaches to them.
vim.filetype.add({ extension = { prompt = "prompt", j2 = "jinja", jinja = "jinja", jinja2 = "jinja" } })
