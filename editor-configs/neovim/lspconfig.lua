-- opencode-lsp with nvim-lspconfig (for Neovim 0.10, or an existing lspconfig setup).
--
-- nvim-lspconfig does not ship an "opencode" server: register it once, then set it up.
-- On Neovim 0.11+ prefer lsp/opencode.lua with vim.lsp.enable("opencode") (see init.lua):
-- recent nvim-lspconfig releases use that form themselves.
-- Needs lua/opencode_lsp/ from this folder on 'runtimepath' for the handlers and keymaps.

local configs = require("lspconfig.configs")
local util = require("lspconfig.util")

if not configs.opencode then
  configs.opencode = {
    default_config = {
      cmd = { "opencode-lsp" },
      -- no filetypes: every file type (the agent works on whatever you select)
      root_dir = util.root_pattern("opencode.json", ".git"),
      single_file_support = false,
      init_options = {},
    },
    docs = {
      description = "opencode-lsp: drive an OpenCode agent server from any LSP editor.",
    },
  }
end

local opencode = require("opencode_lsp")
require("lspconfig").opencode.setup({
  init_options = {
    -- model = "anthropic/claude-sonnet-4-5",  -- see docs/configuration.md
  },
  handlers = opencode.handlers, -- opencode/status and the whole answer (window/logMessage)
})
opencode.setup({ configure = false }) -- keymaps, :OpenCode* commands, statusline
