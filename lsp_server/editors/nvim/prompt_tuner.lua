-- prompt-tuner's language server in Neovim (0.9 or newer), with plain vim.lsp.start.
--
--   -- init.lua (put this folder on 'runtimepath' or copy the file into lua/)
--   require("prompt_tuner").setup({
--     init_options = { models = { target = "embedded" }, budget = { maxCalls = 300 } },
--   })
--
-- Code actions (`:lua vim.lsp.buf.code_action()`, or `gra` in Neovim 0.11) offer "Optimize this
-- prompt", "Evaluate this prompt" and "Show prompt history"; progress shows in `:checkhealth
-- vim.lsp`/the status line (vim.lsp.status()); `:PromptTunerCancel` stops a run.
local M = {}

M.patterns = { "*.prompt", "*.prompt.md", "*.j2", "*.jinja", "*.jinja2", "*.tune.yaml", "*.tune.yml", "*.py" }

local function root_of(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local found = vim.fs.find({ ".git", "pyproject.toml", "prompt-tuner.yaml" }, { upward = true, path = vim.fs.dirname(name) })[1]
  return found and vim.fs.dirname(found) or vim.fs.dirname(name)
end

-- Virtual documents (a prompt's history with diffs) live under prompt-tuner: URIs.
local function read_virtual(args)
  local client = vim.lsp.get_clients({ name = "prompt-tuner" })[1]
  if not client then
    return
  end
  local reply = client:request_sync("promptTuner/document", { uri = args.match }, 5000, args.buf)
  local content = reply and reply.result and reply.result.content or "(prompt-tuner: no content)"
  vim.api.nvim_buf_set_lines(args.buf, 0, -1, false, vim.split(content, "\n", { plain = true }))
  vim.bo[args.buf].filetype = "markdown"
  vim.bo[args.buf].buftype = "nofile"
  vim.bo[args.buf].modifiable = false
end

function M.config(opts)
  opts = opts or {}
  local init = vim.tbl_deep_extend("force", { virtualDocuments = true, onResult = "ask" }, opts.init_options or {})
  return {
    name = "prompt-tuner",
    cmd = opts.cmd or { "prompt-tuner-lsp" },
    init_options = init,
    settings = { promptTuner = opts.settings or {} },
  }
end

function M.start(bufnr, opts)
  local config = M.config(opts)
  config.root_dir = root_of(bufnr)
  return vim.lsp.start(config, { bufnr = bufnr })
end

function M.setup(opts)
  local group = vim.api.nvim_create_augroup("prompt_tuner", { clear = true })
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
    group = group,
    pattern = M.patterns,
    callback = function(args)
      M.start(args.buf, opts)
    end,
  })
  vim.api.nvim_create_autocmd("BufReadCmd", { group = group, pattern = "prompt-tuner:*", callback = read_virtual })
  vim.api.nvim_create_user_command("PromptTunerCancel", function()
    local client = vim.lsp.get_clients({ name = "prompt-tuner" })[1]
    if client then
      for token, _ in pairs(client.progress.pending or {}) do
        client:notify("window/workDoneProgress/cancel", { token = token })
      end
    end
  end, { desc = "Cancel prompt-tuner runs in progress" })
end

return M
