-- Test init for headless Neovim: the user's setup from editor-configs/neovim/init.lua,
-- plus what only a test needs (the pinned opencode, no probe of 127.0.0.1:4096) and a
-- record of every message the user is shown.
local configs = assert(vim.env.EDITOR_CONFIGS_NEOVIM, "EDITOR_CONFIGS_NEOVIM is not set")
vim.opt.runtimepath:prepend(configs)

_G.shown = {}
local notify = vim.notify
vim.notify = function(message, level, opts)
  table.insert(_G.shown, message)
  return notify(message, level, opts)
end

dofile(configs .. "/init.lua")

vim.lsp.config("opencode", { init_options = vim.json.decode(vim.env.EDITOR_TEST_BRIDGE_OPTIONS) })
vim.lsp.set_log_level("info")
