-- opencode-lsp for Neovim 0.11+: the `vim.lsp.config` form.
--
-- Put this file on your 'runtimepath' as lsp/opencode.lua (for example
-- ~/.config/nvim/lsp/opencode.lua) and call `vim.lsp.enable("opencode")`.
-- Neovim merges it with anything you pass to `vim.lsp.config("opencode", {...})`.
-- Every setting is described in docs/configuration.md.

---@type vim.lsp.Config
return {
  cmd = { "opencode-lsp" },
  -- Any file type: the agent works on whatever you select. The bridge starts only for
  -- files inside a project (a folder with opencode.json or .git), one bridge per project.
  -- The session's conversation (docs/conversation.md) is outside the project: it names it.
  root_dir = function(bufnr, on_dir)
    local ok, conversation = pcall(require, "opencode_lsp.conversation")
    local root = ok and conversation.folder(bufnr)
      or vim.fs.root(bufnr, { "opencode.json", ".git" })
    if root then
      on_dir(root)
    end
  end,
  -- initializationOptions: the settings object (camelCase keys). Use vim.NIL for null.
  init_options = {
    -- serverUrl = "http://127.0.0.1:4096",    -- this OpenCode server and no other
    -- model = "anthropic/claude-sonnet-4-5",  -- provider/model for the bridge's prompts
    -- agent = "build",
    -- prompts = { document = vim.NIL, perf = "Make the selected code in {file} faster." },
  },
}
