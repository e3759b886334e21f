-- opencode_lsp.selection: tell opencode-lsp what you select, so that an OpenCode TUI
-- running beside Neovim (in the same project) shows it as context and sends it with its
-- next prompt. See docs/tui.md.
--
-- In Visual mode every selection change sends `opencode/selection {uri, range}` (debounced);
-- entering another file's buffer sends that file with nothing selected. Leaving Visual
-- mode keeps the last selection: you select, then switch to the TUI and type.
--
--   require("opencode_lsp.selection").setup({ name = "opencode" })  -- done by opencode_lsp

local M = {}

M.options = {
  name = "opencode", -- the LSP client's name
  selection = true, -- false: send nothing
  debounce = 50, -- milliseconds
}

local timer = nil
local last = nil -- what was sent last, to send each change once

local function clients(bufnr)
  return vim.lsp.get_clients({ name = M.options.name, bufnr = bufnr })
end

local function notify(client, params)
  if vim.fn.has("nvim-0.11") == 1 then
    return client:notify("opencode/selection", params)
  end
  return client.notify("opencode/selection", params) -- Neovim 0.10
end

--- A byte column of a line as the client's position encoding counts it.
local function character(bufnr, row, col, client)
  return vim.lsp.util.character_offset(bufnr, row, col, client.offset_encoding or "utf-16")
end

--- The Visual selection of the current buffer as an LSP range for `client`, or nil.
function M.range(client)
  local mode = vim.api.nvim_get_mode().mode
  if not (mode == "v" or mode == "V" or mode == "\22") then
    return nil
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local a, b = vim.fn.getpos("v"), vim.fn.getpos(".")
  if a[2] > b[2] or (a[2] == b[2] and a[3] > b[3]) then
    a, b = b, a
  end
  local first, last = a[2] - 1, b[2] - 1 -- 0-based rows
  if mode ~= "v" then -- line-wise (and block-wise, whole lines): up to the next line's start
    return { start = { line = first, character = 0 }, ["end"] = { line = last + 1, character = 0 } }
  end
  local last_line = vim.api.nvim_buf_get_lines(bufnr, last, last + 1, true)[1] or ""
  -- The end column is inclusive in Vim: the range ends after that character.
  local end_byte = math.min(b[3] - 1, #last_line)
  if end_byte < #last_line then
    end_byte = end_byte + #vim.fn.strcharpart(last_line:sub(end_byte + 1), 0, 1)
  end
  return {
    start = { line = first, character = character(bufnr, first, a[3] - 1, client) },
    ["end"] = { line = last, character = character(bufnr, last, end_byte, client) },
  }
end

local function send(with_range)
  local bufnr = vim.api.nvim_get_current_buf()
  for _, client in ipairs(clients(bufnr)) do
    local params = { uri = vim.uri_from_bufnr(bufnr), range = with_range and M.range(client) or vim.NIL }
    local key = vim.json.encode(params)
    if key ~= last then
      last = key
      notify(client, params)
    end
  end
end

local function later(with_range)
  if timer then
    timer:stop()
  else
    timer = vim.uv.new_timer()
  end
  timer:start(M.options.debounce, 0, vim.schedule_wrap(function()
    send(with_range)
  end))
end

function M.setup(opts)
  M.options = vim.tbl_extend("force", M.options, opts or {})
  local group = vim.api.nvim_create_augroup("opencode_lsp_selection", { clear = true })
  if M.options.selection == false then
    return M
  end
  vim.api.nvim_create_autocmd({ "CursorMoved", "ModeChanged" }, {
    group = group,
    callback = function()
      local mode = vim.api.nvim_get_mode().mode
      if mode == "v" or mode == "V" or mode == "\22" then
        later(true)
      end
    end,
  })
  vim.api.nvim_create_autocmd({ "BufEnter", "LspAttach" }, {
    group = group,
    callback = function(event)
      if #clients(event.buf) > 0 and vim.api.nvim_get_mode().mode:sub(1, 1) == "n" then
        local uri = vim.uri_from_bufnr(event.buf)
        if not (last and last:find(vim.json.encode(uri), 1, true)) then
          later(false)
        end
      end
    end,
  })
  return M
end

return M
