-- Test init for headless Neovim: the user's setup from editor-configs/neovim/init.lua,
-- plus what only a test needs (the pinned opencode, no probe of 127.0.0.1:4096). vim.notify
-- is left as it is: the module shows messages its own way when no plugin replaced it.
local configs = assert(vim.env.EDITOR_CONFIGS_NEOVIM, "EDITOR_CONFIGS_NEOVIM is not set")
vim.opt.runtimepath:prepend(configs)

dofile(configs .. "/init.lua")

vim.lsp.config("opencode", { init_options = vim.json.decode(vim.env.EDITOR_TEST_BRIDGE_OPTIONS) })
vim.lsp.set_log_level("info")
