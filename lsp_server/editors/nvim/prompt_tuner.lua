-- prompt-tuner's language server in Neovim (0.11 or newer), with plain vim.lsp.start.
--
--   -- init.lua (put this folder on 'runtimepath' or copy the file into lua/)
--   require("prompt_tuner").setup({
--     init_options = { models = { target = "embedded" }, budget = { maxCalls = 300 } },
--     -- trust_workspace = true, -- let Optimize/Evaluate run task files' custom metric code
--   })
--
-- Code actions (`gra`, or `:lua vim.lsp.buf.code_action()`) offer "Optimize this prompt",
-- "Evaluate this prompt" and "Show prompt history"; progress shows in `:checkhealth vim.lsp`/the
-- status line (vim.lsp.status()); `:PromptTunerCancel` stops a run.
--
-- Workspace files are untrusted: the server never imports a task's custom metric code while you
-- open or edit files, and runs it on Optimize/Evaluate only with trust_workspace = true.
local M = {}

M.min_version = { 0, 11 }

-- Whether this Neovim is new enough (it uses the 0.11 client API: client:request_sync, …).
function M.supported()
  return vim.fn.has(string.format("nvim-%d.%d", M.min_version[1], M.min_version[2])) == 1
end

local function too_old()
  local v = vim.version()
  vim.notify(string.format("prompt-tuner: needs Neovim %d.%d or newer, this is %d.%d.%d; the "
    .. "language server is not started", M.min_version[1], M.min_version[2], v.major, v.minor, v.patch),
    vim.log.levels.ERROR)
end

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
  if opts.trust_workspace ~= nil then
    init.trustWorkspace = opts.trust_workspace == true -- the server's default: false
  end
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
  if not M.supported() then
    too_old()
    return false
  end
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
  return true
end

return M
