-- opencode_lsp.conversation: the session's conversation document in Neovim (docs/conversation.md).
--
-- The bridge owns a Markdown document per session, outside the project (its state folder),
-- and shows it with window/showDocument {takeFocus = false}. Neovim's own handler would open
-- it above the code, and the client would not attach to a file outside the project. Here:
--
-- * it opens in a window beside the current one (to the right) and the cursor stays where
--   it was; a conversation already in a window is not opened twice;
-- * the opencode-lsp client that showed it attaches to it (didOpen), so the bridge streams
--   the answer into it with workspace/applyEdit and its code actions work there;
-- * it can never be written by Neovim ('buftype' nowrite: the bridge writes it when you
--   close it), so nothing asks to save it, on :q, :bd or :qa;
-- * a window whose cursor is on its last line follows the text as it streams in (like
--   `tail -f`); anywhere else the cursor and the view stay where you put them;
-- * :OpenCodeConversation (<leader>ov) opens the current session's conversation,
--   :OpenCodeSend (<leader>o<CR> in the document) sends the prompt area at its end, as
--   the code action "OpenCode: Send" does.

local M = {}

--- Buffers that hold a conversation document: bufnr -> client id.
M.buffers = {}

local function bridge()
  return require("opencode_lsp")
end

--- Whether `bufnr` holds a conversation document the bridge showed.
function M.is_conversation(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  return M.buffers[bufnr] ~= nil
end

--- The project folder a conversation document names in its header ("- Folder: `…`"
--- under "- Session: `ses_…`"), or nil when `bufnr` is not a conversation document.
function M.folder(bufnr)
  if not vim.api.nvim_buf_get_name(bufnr):match("%.md$") then
    return nil
  end
  local session, folder = false, nil
  for _, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, 8, false)) do
    session = session or line:match("^%- Session: `ses_") ~= nil
    folder = folder or line:match("^%- Folder: `(.+)`$")
  end
  return session and folder or nil
end

--- What a conversation buffer needs: never written by Neovim, no swap file, Markdown.
local function prepare(bufnr, client_id)
  local first = M.buffers[bufnr] == nil
  M.buffers[bufnr] = client_id
  -- Every time: :bdelete resets a buffer's options and mappings.
  vim.bo[bufnr].buftype = "nowrite" -- the bridge writes it; 'modified' never blocks :q/:bd
  vim.bo[bufnr].swapfile = false
  vim.bo[bufnr].buflisted = true
  if vim.bo[bufnr].filetype == "" then
    vim.bo[bufnr].filetype = "markdown"
  end
  local prefix = bridge().options.prefix
  if prefix then
    vim.keymap.set("n", prefix .. "<CR>", M.send, {
      buffer = bufnr,
      desc = "OpenCode: send the prompt at the end of the conversation",
    })
  end
  if not first then
    return
  end
  -- Back after :bd (unloaded, and so detached): attach again to the bridge that showed it.
  vim.api.nvim_create_autocmd("BufReadPost", {
    buffer = bufnr,
    callback = function()
      local id = M.buffers[bufnr]
      if id and vim.lsp.get_client_by_id(id) then
        prepare(bufnr, id)
        vim.lsp.buf_attach_client(bufnr, id)
      end
    end,
  })
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = bufnr,
    once = true,
    callback = function()
      M.buffers[bufnr] = nil
    end,
  })
end

--- The window beside the current one that shows `bufnr`, opened without entering it.
local function window_beside(bufnr)
  local shown = vim.fn.win_findbuf(bufnr)[1]
  if shown then
    return shown
  end
  return vim.api.nvim_open_win(bufnr, false, { split = "right", win = 0 })
end

--- window/showDocument: a conversation (takeFocus false, not external) opens beside the
--- code without the focus and gets the client attached; anything else goes to Neovim's
--- own handler (a diff to review, a web page).
function M.on_show_document(err, params, ctx, config)
  local default = vim.lsp.handlers["window/showDocument"]
  if type(params) ~= "table" or params.external or params.takeFocus ~= false then
    return default(err, params, ctx, config)
  end
  local bufnr = vim.uri_to_bufnr(params.uri)
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    vim.fn.bufload(bufnr)
  end
  prepare(bufnr, ctx.client_id)
  local win = window_beside(bufnr)
  vim.lsp.buf_attach_client(bufnr, ctx.client_id)
  if params.selection and params.selection ~= vim.NIL then
    local line = math.min(params.selection.start.line + 1, vim.api.nvim_buf_line_count(bufnr))
    pcall(vim.api.nvim_win_set_cursor, win, { line, 0 })
  end
  return { success = true }
end

--- Around a bridge edit of a conversation buffer: windows at its last line follow the new
--- end; the buffer is not left modified (a typed prompt counts as modified until sent). Returns the function to call after the edit.
function M.around_edit(bufnr)
  if not M.is_conversation(bufnr) then
    return function() end
  end
  local last = vim.api.nvim_buf_line_count(bufnr)
  local following = {}
  for _, win in ipairs(vim.fn.win_findbuf(bufnr)) do
    if vim.api.nvim_win_get_cursor(win)[1] >= last then
      table.insert(following, win)
    end
  end
  return function()
    vim.bo[bufnr].modified = false -- the bridge has the text (didChange) and writes it
    local new_last = vim.api.nvim_buf_line_count(bufnr)
    for _, win in ipairs(following) do
      if vim.api.nvim_win_is_valid(win) and vim.api.nvim_win_get_buf(win) == bufnr then
        vim.api.nvim_win_set_cursor(win, { new_last, 0 })
      end
    end
  end
end

--- Open the conversation of the current session (or `session_id`) beside the code.
function M.open(session_id)
  local arguments = session_id and { { sessionID = session_id } } or nil
  bridge().execute("opencode.session.open", arguments)
end

--- Send the prompt area at the end of this conversation to its session.
function M.send()
  local bufnr = vim.api.nvim_get_current_buf()
  if not M.is_conversation(bufnr) then
    bridge().say("OpenCode: this buffer is not a conversation (:OpenCodeConversation opens it).",
      vim.log.levels.WARN)
    return
  end
  bridge().execute("opencode.session.send", { { uri = vim.uri_from_bufnr(bufnr) } }, nil,
    { bufnr = bufnr })
end

function M.setup()
  -- A conversation opened as a file (:edit, :oldfiles) gets the client through root_dir
  -- (lsp/opencode.lua); then it is set up as one shown by the bridge.
  vim.api.nvim_create_autocmd("LspAttach", {
    group = vim.api.nvim_create_augroup("opencode_lsp_conversation", { clear = true }),
    callback = function(event)
      local client = vim.lsp.get_client_by_id(event.data.client_id)
      if client and client.name == bridge().options.name and M.folder(event.buf) then
        prepare(event.buf, client.id)
      end
    end,
  })
  vim.api.nvim_create_user_command("OpenCodeConversation", function(command)
    M.open(command.args ~= "" and command.args or nil)
  end, { nargs = "?", desc = "Open the OpenCode conversation beside the code" })
  vim.api.nvim_create_user_command("OpenCodeSend", M.send, {
    desc = "Send the prompt at the end of the OpenCode conversation",
  })
end

return M
