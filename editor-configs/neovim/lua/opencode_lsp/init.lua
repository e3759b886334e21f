-- opencode_lsp: what the LSP client cannot do by itself for opencode-lsp in Neovim.
--
--   require("opencode_lsp").setup()
--
-- * a prompt input: vim.ui.input -> workspace/executeCommand opencode.ask {prompt}
--   (from Visual mode the selected lines go with it);
-- * keymaps (<leader>o…) for the main commands, made only for commands the server offers;
-- * :OpenCodeAsk, :OpenCodeActions, :OpenCodeCommand, :OpenCodeAnswer;
-- * a statusline component fed by the opencode/status notification and $/progress;
-- * the whole last answer (window/logMessage) in a scratch buffer: Neovim only logs it.
--
-- Works with the vim.lsp.config form (lsp/opencode.lua) and with nvim-lspconfig
-- (pass `handlers = require("opencode_lsp").handlers` to its setup).

local M = {}

local defaults = {
  name = "opencode", -- the client's name: vim.lsp.config("opencode") / lspconfig.opencode
  prefix = "<leader>o", -- keymap prefix; false for no keymaps
  configure = true, -- add M.handlers to vim.lsp.config(name) (Neovim 0.11+)
  width = 60, -- the statusline component's longest text
}

M.options = vim.deepcopy(defaults)

-- What the statusline shows; also handy for your own components.
local status = {
  state = nil, -- idle | busy | retry | error | disconnected… (from opencode/status)
  message = nil, -- the status message, or the last $/progress message
  session = nil, -- the current OpenCode session id
  progress = nil, -- title and message of a running $/progress, nil when none runs
}

-- Every whole answer of this Neovim session, the last one last.
M.answers = {}

--- Keymaps: { suffix, modes, action, description }. An action that is a string is a
--- workspace command, mapped only when the server lists it in executeCommandProvider.
M.keys = {
  { "a", { "n", "x" }, "ask", "OpenCode: ask (the selection goes with it)" },
  { "o", { "n", "x" }, "actions", "OpenCode: code actions (Explain, Review, …)" },
  { "c", "n", "commands", "OpenCode: run any of the server's commands" },
  { "r", "n", "answer", "OpenCode: the whole last answer" },
  { "t", { "n", "x" }, "opencode.tui.appendPrompt", "OpenCode: add the selection to the TUI prompt" },
  { "n", "n", "opencode.session.new", "OpenCode: new session" },
  { "l", "n", "opencode.session.select", "OpenCode: switch session" },
  { "x", "n", "opencode.session.abort", "OpenCode: abort the run" },
  { "m", "n", "opencode.model.select", "OpenCode: choose the model" },
  { "g", "n", "opencode.agent.select", "OpenCode: choose the agent" },
  { "p", "n", "opencode.permission.list", "OpenCode: pending permission requests" },
  { "s", "n", "opencode.status", "OpenCode: status" },
}

local function notify(message, level)
  vim.notify(message, level or vim.log.levels.INFO, { title = "OpenCode" })
end

local function redraw()
  vim.schedule(function()
    vim.cmd.redrawstatus({ bang = true })
  end)
end

--- The opencode-lsp client of a buffer (else of any buffer), or nil.
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.options.name, bufnr = bufnr or 0 })
  if #clients == 0 then
    clients = vim.lsp.get_clients({ name = M.options.name })
  end
  return clients[1]
end

--- The commands the server offers (its initialize result), sorted.
function M.commands(client)
  client = client or M.client()
  local provider = client and client.server_capabilities.executeCommandProvider
  local commands = vim.deepcopy(type(provider) == "table" and provider.commands or {})
  table.sort(commands)
  return commands
end

local function request(client, method, params, handler, bufnr)
  if vim.fn.has("nvim-0.11") == 1 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr) -- Neovim 0.10
end

--- Run a workspace command; `on_result(result)` gets its result. Errors are shown.
function M.execute(command, arguments, on_result)
  local client = M.client()
  if not client then
    notify("opencode-lsp is not running for this buffer.", vim.log.levels.WARN)
    return false
  end
  if not vim.list_contains(M.commands(client), command) then
    notify(("This opencode-lsp does not offer %s."):format(command), vim.log.levels.WARN)
    return false
  end
  local params = { command = command, arguments = arguments }
  request(client, "workspace/executeCommand", params, function(err, result)
    if err then
      notify(("%s: %s"):format(command, err.message), vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end, vim.api.nvim_get_current_buf())
  return true
end

--- Whole lines `first`..`last` (1-based) of a buffer as {uri, range}.
function M.lines(bufnr, first, last, client)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local last_text = vim.api.nvim_buf_get_lines(bufnr, last - 1, last, true)[1]
  local encoding = client and client.offset_encoding or "utf-16"
  local last_char = vim.lsp.util.character_offset(bufnr, last - 1, #last_text, encoding)
  return {
    uri = vim.uri_from_bufnr(bufnr),
    range = {
      start = { line = first - 1, character = 0 },
      ["end"] = { line = last - 1, character = last_char },
    },
  }
end

--- The lines selected in Visual mode as {uri, range} (whole lines), or nil outside it.
--- Leaves Visual mode, as the commands that use it do.
function M.selection(client)
  local mode = vim.api.nvim_get_mode().mode
  if not (mode == "v" or mode == "V" or mode == "\22") then
    return nil
  end
  local first, last = vim.fn.line("v"), vim.fn.line(".")
  if first > last then
    first, last = last, first
  end
  vim.cmd.normal({ vim.keycode("<Esc>"), bang = true })
  return M.lines(0, first, last, client)
end

--- Ask OpenCode: `opts.prompt`, else what you type in vim.ui.input. In Visual mode (or
--- with `opts.uri` and `opts.range`) the selected lines go with the prompt.
function M.ask(opts)
  opts = opts or {}
  local selection = (opts.uri and opts) or M.selection(M.client())
  local function send(text)
    if not text or vim.trim(text) == "" then
      return
    end
    local arguments = { prompt = text }
    if selection then
      arguments.uri, arguments.range = selection.uri, selection.range
    end
    M.execute("opencode.ask", { arguments })
  end
  if opts.prompt then
    send(opts.prompt)
  else
    local label = selection and "OpenCode (about the selection): " or "OpenCode: "
    vim.ui.input({ prompt = label }, send)
  end
end

--- The OpenCode code actions on the selection (or the cursor's diagnostics): Explain,
--- Review, Fix the diagnostics, Write tests, Document, your templates, and the
--- permission quick fixes when a request is pending.
function M.actions()
  vim.lsp.buf.code_action({
    filter = function(action)
      local command = action.command
      local name = type(command) == "table" and command.command or command
      return vim.startswith(action.kind or "", "refactor.opencode")
        or (type(name) == "string" and vim.startswith(name, "opencode."))
    end,
  })
end

--- Pick one of the server's commands, give its arguments as JSON (empty for none), run
--- it and show its result.
function M.pick_command()
  vim.ui.select(M.commands(), { prompt = "OpenCode command" }, function(command)
    if not command then
      return
    end
    vim.ui.input({ prompt = command .. " arguments (JSON object, empty for none): " }, function(raw)
      if raw == nil then
        return
      end
      local arguments = nil
      if vim.trim(raw) ~= "" then
        local ok, decoded = pcall(vim.json.decode, raw)
        if not ok then
          notify("Not JSON: " .. raw, vim.log.levels.ERROR)
          return
        end
        arguments = { decoded }
      end
      M.execute(command, arguments, function(result)
        if result ~= nil and result ~= vim.NIL then
          notify(command .. ": " .. vim.inspect(result))
        end
      end)
    end)
  end)
end

--- The whole last answer in a scratch buffer (the message shows only its start).
function M.show_answer()
  local answer = M.answers[#M.answers]
  if not answer then
    notify("No answer from OpenCode yet.")
    return
  end
  vim.cmd("botright new")
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = "nofile"
  vim.bo[bufnr].bufhidden = "wipe"
  vim.bo[bufnr].filetype = "markdown"
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, vim.split(answer, "\n", { plain = true }))
  vim.bo[bufnr].modifiable = false
end

--- A command that sends the selection ({uri, range}) when there is one.
local function run_with_selection(command)
  local selection = M.selection(M.client())
  M.execute(command, selection and { selection } or nil, function(result)
    if result ~= nil and result ~= vim.NIL then
      notify(command .. ": " .. vim.inspect(result))
    end
  end)
end

local actions = {
  ask = function()
    M.ask()
  end,
  actions = M.actions,
  commands = M.pick_command,
  answer = M.show_answer,
}

-- ---------------------------------------------------------------------------- statusline

--- What the statusline component shows, as a table (state, message, session, progress).
function M.status()
  return vim.deepcopy(status)
end

--- The statusline component: "" when no opencode-lsp runs, else
--- "OpenCode: busy · Running bash" (the state, then the running step or last message).
function M.statusline()
  if not status.state then
    return ""
  end
  local text = "OpenCode: " .. status.state
  local detail = status.progress or status.message
  if detail and detail ~= "" then
    text = text .. " · " .. detail:gsub("%s+", " ")
  end
  if vim.fn.strchars(text) > M.options.width then
    text = vim.fn.strcharpart(text, 0, M.options.width - 1) .. "…"
  end
  return text
end

local function is_ours(client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  return client ~= nil and client.name == M.options.name
end

local function on_status(_, params)
  if type(params) ~= "table" then
    return
  end
  status.state = params.state
  status.message = params.message ~= vim.NIL and params.message or nil
  if params.sessionID and params.sessionID ~= vim.NIL then
    status.session = params.sessionID
  end
  if status.state ~= "busy" and status.state ~= "retry" then
    status.progress = nil
  end
  redraw()
end

local function on_progress(event)
  local data = event.data or {}
  if not is_ours(data.client_id) then
    return
  end
  local value = (data.params or {}).value or {}
  if value.kind == "end" then
    status.progress = nil
    status.message = value.message or status.message
  elseif value.kind == "begin" then
    status.progress = value.message or value.title
  elseif value.message then
    status.progress = value.message
  end
  redraw()
end

local function on_log_message(err, params, ctx, config)
  -- opencode-lsp logs each whole answer; Neovim would only write it to :LspLog.
  if params and params.message and params.type == vim.lsp.protocol.MessageType.Info then
    table.insert(M.answers, params.message)
  end
  return vim.lsp.handlers["window/logMessage"](err, params, ctx, config)
end

--- Handlers for the client's config (vim.lsp.config or lspconfig's setup).
M.handlers = {
  ["opencode/status"] = on_status,
  ["window/logMessage"] = on_log_message,
}

-- ---------------------------------------------------------------------------- setup

local function map_keys(client, bufnr)
  local prefix = M.options.prefix
  if not prefix then
    return
  end
  local offered = M.commands(client)
  for _, key in ipairs(M.keys) do
    local suffix, modes, action, desc = key[1], key[2], key[3], key[4]
    local rhs = actions[action]
    if not rhs and vim.list_contains(offered, action) then
      rhs = function()
        run_with_selection(action)
      end
    end
    if rhs then
      vim.keymap.set(modes, prefix .. suffix, rhs, { buffer = bufnr, desc = desc })
    end
  end
end

function M.setup(opts)
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  if M.options.configure and vim.lsp.config then
    vim.lsp.config(M.options.name, { handlers = M.handlers })
  end
  -- Also when the client came from elsewhere without M.handlers: only opencode-lsp sends it.
  vim.lsp.handlers["opencode/status"] = vim.lsp.handlers["opencode/status"] or on_status

  local group = vim.api.nvim_create_augroup("opencode_lsp", { clear = true })
  vim.api.nvim_create_autocmd("LspProgress", { group = group, callback = on_progress })
  vim.api.nvim_create_autocmd("LspAttach", {
    group = group,
    callback = function(event)
      local client = vim.lsp.get_client_by_id(event.data.client_id)
      if client and client.name == M.options.name then
        map_keys(client, event.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd("LspDetach", {
    group = group,
    callback = function(event)
      if is_ours(event.data.client_id) and #vim.lsp.get_clients({ name = M.options.name }) <= 1 then
        status.state, status.message, status.progress = nil, nil, nil
        redraw()
      end
    end,
  })

  vim.api.nvim_create_user_command("OpenCodeAsk", function(command)
    if command.range > 0 then
      local selection = M.lines(0, command.line1, command.line2, M.client())
      selection.prompt = command.args ~= "" and command.args or nil
      M.ask(selection)
    else
      M.ask({ prompt = command.args ~= "" and command.args or nil })
    end
  end, { nargs = "*", range = true, desc = "Ask OpenCode (with a range: about those lines)" })
  vim.api.nvim_create_user_command("OpenCodeActions", M.actions, { desc = "OpenCode code actions" })
  vim.api.nvim_create_user_command("OpenCodeCommand", function(command)
    if command.args == "" then
      M.pick_command()
    else
      local name, raw = command.args:match("^(%S+)%s*(.*)$")
      local arguments = raw ~= "" and { vim.json.decode(raw) } or nil
      M.execute(name, arguments, function(result)
        if result ~= nil and result ~= vim.NIL then
          notify(name .. ": " .. vim.inspect(result))
        end
      end)
    end
  end, {
    nargs = "*",
    complete = function()
      return M.commands()
    end,
    desc = "Run an opencode-lsp command: :OpenCodeCommand [name [JSON arguments]]",
  })
  vim.api.nvim_create_user_command("OpenCodeAnswer", M.show_answer, { desc = "The last answer" })
  require("opencode_lsp.selection").setup(M.options) -- your selection as the TUI's context

  -- Clients that attached before setup() ran.
  for _, client in ipairs(vim.lsp.get_clients({ name = M.options.name })) do
    for bufnr in pairs(client.attached_buffers) do
      map_keys(client, bufnr)
    end
  end
  return M
end

return M
