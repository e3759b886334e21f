-- opencode-lsp in Neovim 0.11+: the whole setup, to copy into your init.lua.
--
-- 1. Copy lsp/opencode.lua and lua/opencode_lsp/ from this folder into ~/.config/nvim/
--    (or add this folder to 'runtimepath': vim.opt.runtimepath:append("/path/to/neovim")).
-- 2. Then:

-- Your settings, merged over lsp/opencode.lua (see docs/configuration.md for every key).
vim.lsp.config("opencode", {
  init_options = {
    -- model = "anthropic/claude-sonnet-4-5",
  },
})
vim.lsp.enable("opencode")

-- The prompt input, keymaps (<leader>o…), :OpenCode* commands, the answer buffer and the
-- statusline component. Keymaps are made for the commands the server offers.
require("opencode_lsp").setup({
  -- prefix = "<leader>o",   -- false: no keymaps
})

-- Show the run in the statusline: "OpenCode: busy · Running bash" while it works.
vim.o.statusline = "%<%f %h%m%r%=%{v:lua.require'opencode_lsp'.statusline()}  %-14.(%l,%c%V%) %P"
