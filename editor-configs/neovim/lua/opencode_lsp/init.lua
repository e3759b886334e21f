-- opencode_lsp: what the LSP client cannot do by itself for opencode-lsp in Neovim.
--
--   require("opencode_lsp").setup()
--
-- * a prompt input: vim.ui.input -> workspace/executeCommand opencode.ask {prompt}
--   (from Visual mode the selected lines go with it);
-- * keymaps (<leader>o…) for the main commands, made only for commands the server offers;
-- * :OpenCodeAsk, :OpenCodeActions, :OpenCodeCommand, :OpenCodeAnswer;
-- * a statusline component fed by the opencode/status notification and $/progress;
-- * the whole last answer (window/logMessage) in a scratch buffer: Neovim only logs it;
-- * messages in one line that never raises "Press ENTER" (window/showMessage);
-- * permission prompts that never take keys typed before they appeared: in Insert mode (or
--   with keys still to be read) a prompt waits until you are back in Normal mode;
-- * agent edits that leave a buffer as Neovim's own reload would (workspace/applyEdit): a
--   clean buffer stays clean, a merged one is modified only by your own change, and the
--   file on disk counts as read (no W12, no warning on :w);
-- * a picker of the pending permission requests that answers them;
-- * the session's conversation (window/showDocument without the focus) beside the code,
--   attached to the bridge, never written by Neovim; :OpenCodeConversation, :OpenCodeSend
--   (opencode_lsp.conversation, docs/conversation.md).
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
  { "p", "n", "pending", "OpenCode: answer a pending permission request" },
  { "v", "n", "conversation", "OpenCode: the session's conversation, beside the code" },
  { "s", "n", "opencode.status", "OpenCode: status" },
}

-- Every message of this Neovim session, whole (the screen shows one line): :OpenCodeMessages.
M.messages = {}

local HIGHLIGHTS = { [vim.log.levels.ERROR] = "ErrorMsg", [vim.log.levels.WARN] = "WarningMsg" }

--- `text` as one line that fits the command line without a "Press ENTER" prompt.
function M.one_line(text)
  local line = vim.trim((tostring(text):gsub("%s+", " ")))
  local room = math.max(vim.v.echospace + (vim.o.cmdheight - 1) * vim.o.columns - 1, 10)
  if vim.fn.strdisplaywidth(line) <= room then
    return line
  end
  local chars = room - 1
  local cut = vim.fn.strcharpart(line, 0, chars)
  while chars > 0 and vim.fn.strdisplaywidth(cut) > room - 1 do
    chars = chars - 1
    cut = vim.fn.strcharpart(line, 0, chars)
  end
  return cut .. "…"
end

local function builtin_notify()
  local info = debug.getinfo(vim.notify, "S")
  return info ~= nil and info.source:find("vim/_editor.lua", 1, true) ~= nil
end

--- Show a message. A notification plugin (vim.notify replaced) gets it whole; otherwise it
--- is one line in the command line (whole in :OpenCodeMessages), so it never stops you with
--- "Press ENTER". `opts.whole`: show all of it even so (errors of a command you ran).
function M.say(message, level, opts)
  level = level or vim.log.levels.INFO
  message = tostring(message)
  table.insert(M.messages, message)
  if #M.messages > 200 then
    table.remove(M.messages, 1)
  end
  if not builtin_notify() then
    vim.notify(message, level, { title = "OpenCode" })
    return
  end
  local text = (opts and opts.whole) and message or M.one_line(message)
  vim.api.nvim_echo({ { text, HIGHLIGHTS[level] } }, true, {})
end

local function notify(message, level)
  M.say(message, level)
end

local function redraw()
  vim.schedule(function()
    vim.cmd.redrawstatus({ bang = true })
  end)
end

--- The opencode-lsp client of a buffer, or nil. A buffer that is not a file (a scratch or
--- answer buffer) uses any running one; a file outside every project has none.
function M.client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local clients = vim.lsp.get_clients({ name = M.options.name, bufnr = bufnr })
  if #clients == 0 and (vim.bo[bufnr].buftype ~= "" or vim.api.nvim_buf_get_name(bufnr) == "") then
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

local ROOT_MARKERS = { "opencode.json", ".git" }

--- Why no opencode-lsp serves buffer `bufnr`, and what to do: one sentence or two.
function M.why_not_running(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" or vim.bo[bufnr].buftype ~= "" then
    return "OpenCode works on files in a project, and this buffer is not a file: "
      .. "open a file of the project first."
  end
  local shown = vim.fn.fnamemodify(name, ":~:.")
  if not vim.fs.root(bufnr, ROOT_MARKERS) then
    local why = "OpenCode is off for %s: there is no .git or opencode.json in its folder or "
      .. "above, so opencode-lsp did not start. Open a file inside a project, or create "
      .. "opencode.json (or run git init) in the project's folder and :edit the file again."
    return why:format(shown)
  end
  if vim.fn.executable("opencode-lsp") == 0 then
    return "opencode-lsp is not installed (not on PATH): install it (see the README) and "
      .. ":edit the file again."
  end
  local filter = { name = M.options.name, bufnr = bufnr, _uninitialized = true }
  if #vim.lsp.get_clients(filter) > 0 then
    return "opencode-lsp is still starting for this project; try again in a moment."
  end
  return ("opencode-lsp is not running for %s (see :checkhealth vim.lsp and :LspLog); "
    .. ":edit the file to start it again."):format(shown)
end

--- Run a workspace command; `on_result(result)` gets its result. Errors are shown.
--- `opts.bufnr`: the buffer whose opencode-lsp runs it (default: the current one, else any).
function M.execute(command, arguments, on_result, opts)
  local bufnr = opts and opts.bufnr or vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    M.say(M.why_not_running(bufnr), vim.log.levels.WARN, { whole = true })
    return false
  end
  if not vim.list_contains(M.commands(client), command) then
    notify(("This opencode-lsp does not offer %s."):format(command), vim.log.levels.WARN)
    return false
  end
  local params = { command = command, arguments = arguments }
  request(client, "workspace/executeCommand", params, function(err, result)
    if err then
      M.say(("OpenCode: %s failed: %s"):format(command, err.message), vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end, bufnr)
  return true
end

--- What a command's result means, as a sentence (nil: nothing worth saying).
local function sentence(command, result)
  if result == nil or result == vim.NIL then
    return nil
  end
  local function field(key)
    local value = type(result) == "table" and result[key] or nil
    return value ~= vim.NIL and value or nil
  end
  local session = field("title") or field("sessionID")
  local said = {
    ["opencode.session.new"] = session
      and ("OpenCode: started a new session (%s)."):format(session),
    ["opencode.session.select"] = session and ("OpenCode: switched to session %s."):format(session),
    ["opencode.session.fork"] = session and ("OpenCode: forked into session %s."):format(session),
    ["opencode.session.abort"] = "OpenCode: asked the agent to stop.",
    ["opencode.model.select"] = field("model") and ("OpenCode: model %s."):format(field("model")),
    ["opencode.agent.select"] = field("agent") and ("OpenCode: agent %s."):format(field("agent")),
    ["opencode.permission.reply"] = field("reply") and ("OpenCode: sent your answer (%s)."):format(
      ({ once = "allow once", always = "allow always", reject = "reject" })[field("reply")]
        or field("reply")
    ),
    ["opencode.tui.appendPrompt"] = "OpenCode: added to the TUI's prompt.",
  }
  if said[command] ~= nil then
    return said[command] or nil
  end
  if type(result) ~= "table" then
    return ("OpenCode: %s: %s."):format(command, tostring(result))
  end
  if vim.islist(result) then
    return ("OpenCode: %s: %d item%s."):format(command, #result, #result == 1 and "" or "s")
  end
  local parts = {}
  for key, value in vim.spairs(result) do
    if type(value) ~= "table" and value ~= vim.NIL then
      table.insert(parts, ("%s %s"):format(key, tostring(value)))
    end
  end
  local details = #parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or ""
  return ("OpenCode: %s done%s."):format(command, details)
end
M.sentence = sentence

local function say_result(command)
  return function(result)
    if command == "opencode.status" and type(result) == "table" then
      -- You asked for the report: the server's message (just before the result) shown whole,
      -- as :ls shows its list.
      local report = M.messages[#M.messages]
      if report and report:find("\nModel: ", 1, true) then
        vim.api.nvim_echo({ { report } }, false, {})
      end
      return
    end
    local text = sentence(command, result)
    if text then
      notify(text)
    end
  end
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
  if not M.client() then
    M.say(M.why_not_running(0), vim.log.levels.WARN, { whole = true })
    return
  end
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
  if not M.client() then
    M.say(M.why_not_running(0), vim.log.levels.WARN, { whole = true })
    return
  end
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
  if not M.client() then
    M.say(M.why_not_running(0), vim.log.levels.WARN, { whole = true })
    return
  end
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
      M.execute(command, arguments, say_result(command))
    end)
  end)
end

local function show_text(text)
  vim.cmd("botright new")
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = "nofile"
  vim.bo[bufnr].bufhidden = "wipe"
  vim.bo[bufnr].filetype = "markdown"
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, vim.split(text, "\n", { plain = true }))
  vim.bo[bufnr].modifiable = false
end

--- The whole last answer in a scratch buffer (the message shows only its start).
function M.show_answer()
  local answer = M.answers[#M.answers]
  if not answer then
    notify("OpenCode: no answer yet.")
    return
  end
  show_text(answer)
end

--- Every OpenCode message of this session, whole, in a scratch buffer (the screen showed
--- each in one line).
function M.show_messages()
  if #M.messages == 0 then
    notify("OpenCode: no messages yet.")
    return
  end
  show_text(table.concat(M.messages, "\n\n"))
end

--- A command that sends the selection ({uri, range}) when there is one.
local function run_with_selection(command)
  local selection = M.selection(M.client())
  M.execute(command, selection and { selection } or nil, say_result(command))
end

local actions = {
  ask = function()
    M.ask()
  end,
  actions = function()
    M.actions()
  end,
  commands = function()
    M.pick_command()
  end,
  answer = function()
    M.show_answer()
  end,
  pending = function()
    M.pending()
  end,
  conversation = function()
    require("opencode_lsp.conversation").open()
  end,
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

-- ---------------------------------------------------------------------------- messages

local LEVELS = {
  [vim.lsp.protocol.MessageType.Error] = vim.log.levels.ERROR,
  [vim.lsp.protocol.MessageType.Warning] = vim.log.levels.WARN,
}

-- Neovim's own handler echoes "LSP[opencode][Info] …" plus a newline: every message, however
-- short, raised "Press ENTER". One line instead, whole in :OpenCodeMessages.
local function on_show_message(_, params)
  if type(params) == "table" and params.message then
    M.say(params.message, LEVELS[params.type] or vim.log.levels.INFO)
  end
  return vim.NIL
end

-- ---------------------------------------------------------------------------- prompts

-- A prompt (window/showMessageRequest: a permission, a question, a choice) opens only when
-- nothing typed before it can reach it: in Normal mode, with no keys waiting to be read.
-- Otherwise it waits, and one line says so.
local waiting = {} -- resume functions of prompts waiting for Normal mode
local poll = nil

local function ready_for_prompt()
  local mode = vim.api.nvim_get_mode()
  return mode.mode == "n"
    and not mode.blocking
    and vim.fn.getchar(1) == 0 -- no keys waiting to be read
    and vim.fn.state("moaxs") == "" -- no mapping, operator or completion half done
end

local function check_waiting()
  if #waiting == 0 then
    if poll then
      poll:stop()
      poll:close()
      poll = nil
    end
    return
  end
  if ready_for_prompt() then
    table.remove(waiting, 1)()
  end
end

local function wait_for_normal_mode()
  local co = coroutine.running()
  table.insert(waiting, function()
    coroutine.resume(co)
  end)
  if not poll then
    poll = vim.uv.new_timer()
    poll:start(200, 200, vim.schedule_wrap(check_waiting))
  end
  coroutine.yield()
end

--- The pending requests of `kind` ("permission" or "question"), synchronously (the bridge
--- answers list commands at once); nil when that cannot be asked.
local function pending_requests(kind)
  local client = M.client()
  if not client then
    return nil
  end
  local params = { command = ("opencode.%s.list"):format(kind), arguments = {} }
  local method = "workspace/executeCommand"
  local ok, response = pcall(client.request_sync, client, method, params, 2000, 0)
  if not ok or not response or response.err or type(response.result) ~= "table" then
    return nil
  end
  return response.result
end

local function is_pending(message)
  for _, kind in ipairs({ "permission", "question" }) do
    for _, item in ipairs(pending_requests(kind) or {}) do
      if item.message == message then
        return true
      end
    end
  end
  return false
end

local function on_show_message_request(err, params, ctx, config)
  local co, main = coroutine.running()
  if not co or main or ready_for_prompt() then
    return vim.lsp.handlers["window/showMessageRequest"](err, params, ctx, config)
  end
  local asked = is_pending(params.message)
  local headline = vim.split(params.message or "", "\n", { plain = true })[1]
  headline = headline:gsub("^OpenCode asks[^:]*: ", "") -- a question's own "OpenCode asks"
  M.say(("OpenCode asks (opens in Normal mode): %s"):format(headline), vim.log.levels.WARN)
  wait_for_normal_mode()
  if asked and not is_pending(params.message) then
    return vim.NIL -- answered meanwhile (the picker, a quick fix, the TUI)
  end
  return vim.lsp.handlers["window/showMessageRequest"](err, params, ctx, config)
end

--- How many prompts wait for Normal mode.
function M.waiting_prompts()
  return #waiting
end

-- ---------------------------------------------------------------------------- pending requests

local REPLIES = { ["Allow once"] = "once", ["Allow always"] = "always", ["Reject"] = "reject" }
local SHOWS_DIFF = { edit = true, write = true, apply_patch = true }

local function where(item)
  if type(item.uri) ~= "string" then
    return ""
  end
  local path = vim.fn.fnamemodify(vim.uri_to_fname(item.uri), ":~:.")
  return (" (%s:%d)"):format(path, (tonumber(item.line) or 0) + 1)
end

--- Pick a pending permission request, then answer it: Allow once, Allow always, Reject,
--- or Show diff.
function M.pending()
  M.execute("opencode.permission.list", nil, function(items)
    if type(items) ~= "table" or #items == 0 then
      notify("OpenCode: no permission request is waiting.")
      return
    end
    local function headline(item)
      return vim.split(item.message or item.id, "\n", { plain = true })[1]
    end
    vim.ui.select(items, {
      prompt = "OpenCode is waiting for",
      format_item = function(item)
        return headline(item) .. where(item)
      end,
    }, function(item)
      if not item then
        return
      end
      local choices = { "Allow once", "Allow always", "Reject" }
      if SHOWS_DIFF[item.permission] then
        table.insert(choices, "Show diff")
      end
      vim.ui.select(choices, { prompt = headline(item) }, function(choice)
        if choice == "Show diff" then
          M.execute("opencode.permission.showDiff", { { id = item.id } })
        elseif choice then
          local command = "opencode.permission.reply"
          M.execute(command, { { id = item.id, reply = REPLIES[choice] } }, say_result(command))
        end
      end)
    end)
  end)
end

-- ---------------------------------------------------------------------------- agent edits

-- The bridge says, before it sends an edit that brings a buffer up to date with its file,
-- which text of the file that edit accounts for (opencode/willSync {uri, sha256, merged}).
local will_sync = {}

local function on_will_sync(_, params)
  if type(params) == "table" and type(params.uri) == "string" then
    will_sync[params.uri] = params
  end
end

local function read_file(path)
  local file = io.open(path, "rb")
  if not file then
    return nil
  end
  local data = file:read("*a")
  file:close()
  if data:sub(1, 3) == "\239\187\191" then
    data = data:sub(4)
  end
  return data
end

--- The file's text is the one the bridge's edit accounts for.
local function disk_is(bufnr, hint)
  local data = read_file(vim.api.nvim_buf_get_name(bufnr))
  return data ~= nil and vim.fn.sha256(data) == hint.sha256
end

local function cursors(bufnr)
  local saved = {}
  for _, win in ipairs(vim.fn.win_findbuf(bufnr)) do
    saved[win] = vim.api.nvim_win_get_cursor(win)
  end
  return function()
    for win, pos in pairs(saved) do
      if vim.api.nvim_win_is_valid(win) and vim.api.nvim_win_get_buf(win) == bufnr then
        local last = vim.api.nvim_buf_line_count(bufnr)
        pcall(vim.api.nvim_win_set_cursor, win, { math.min(pos[1], last), pos[2] })
      end
    end
  end
end

--- Neovim's own reload of an unmodified buffer ('autoread'): the buffer takes the file's
--- text as one undo step and the file counts as read. No autocommands run (no
--- FileChangedShell, no BufRead*); language servers get didClose/didOpen as on any reload.
--- False when it did not happen (the file's time did not change, or 'undoreload' would
--- drop the undo history).
local function reload(bufnr)
  local limit = vim.o.undoreload
  if limit >= 0 and vim.api.nvim_buf_line_count(bufnr) > limit then
    return false
  end
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local own = vim.fn.getbufvar(bufnr, "&l:autoread")
  vim.bo[bufnr].autoread = true
  pcall(vim.cmd, ("noautocmd checktime %d"):format(bufnr))
  if own == -1 or own == "" then
    vim.api.nvim_buf_call(bufnr, function()
      vim.cmd("set autoread<")
    end)
  else
    vim.bo[bufnr].autoread = own == 1
  end
  return vim.api.nvim_buf_get_changedtick(bufnr) ~= tick and not vim.bo[bufnr].modified
end

--- One text document's edits. A clean buffer whose file already holds the result is
--- reloaded instead (so it stays clean); a merge into unsaved text also records the file
--- as read, so :w does not warn that it changed.
local function apply_document(uri, version, edits, encoding)
  local bufnr = vim.uri_to_bufnr(uri)
  local hint = will_sync[uri]
  will_sync[uri] = nil
  local loaded = vim.api.nvim_buf_is_loaded(bufnr)
  if loaded and version and version ~= vim.NIL and version > 0 then
    local current = vim.lsp.util.buf_versions[bufnr]
    if current and current > version then
      local why = "the buffer changed since (version %d, the edit is for %d)"
      error(why:format(current, version), 0)
    end
  end
  local after = require("opencode_lsp.conversation").around_edit(bufnr)
  local synced = loaded and hint and vim.api.nvim_buf_get_name(bufnr) ~= "" and disk_is(bufnr, hint)
  if synced and not hint.merged and not vim.bo[bufnr].modified then
    local restore = cursors(bufnr)
    if reload(bufnr) then
      restore()
      return
    end
  end
  vim.lsp.util.apply_text_edits(edits, bufnr, encoding)
  after()
  if synced and hint.merged and vim.bo[bufnr].modified then
    local merged = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
    local restore = cursors(bufnr)
    vim.bo[bufnr].modified = false
    if reload(bufnr) then
      vim.api.nvim_buf_call(bufnr, function()
        vim.cmd("silent undo")
      end)
      if not vim.deep_equal(vim.api.nvim_buf_get_lines(bufnr, 0, -1, true), merged) then
        vim.api.nvim_buf_set_lines(bufnr, 0, -1, true, merged) -- never lose your text
      end
    end
    vim.bo[bufnr].modified = true
    restore()
  end
end

-- Neovim's own handler applies the edit and prints "Workspace edit <label>" each time, and it
-- reports an edit for a stale version as applied.
local function on_apply_edit(_, params, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local encoding = client and client.offset_encoding or "utf-16"
  local edit = params and params.edit or {}
  local ok, reason = pcall(function()
    if edit.documentChanges then
      for _, change in ipairs(edit.documentChanges) do
        if change.kind then
          vim.lsp.util.apply_workspace_edit({ documentChanges = { change } }, encoding)
        else
          local document = change.textDocument
          apply_document(document.uri, document.version, change.edits, encoding)
        end
      end
    elseif edit.changes then
      for uri, edits in pairs(edit.changes) do
        apply_document(uri, nil, edits, encoding)
      end
    end
  end)
  return { applied = ok, failureReason = not ok and tostring(reason) or nil }
end

--- Handlers for the client's config (vim.lsp.config or lspconfig's setup).
M.handlers = {
  ["opencode/status"] = on_status,
  ["opencode/willSync"] = on_will_sync,
  ["window/logMessage"] = on_log_message,
  ["window/showMessage"] = on_show_message,
  ["window/showMessageRequest"] = on_show_message_request,
  ["window/showDocument"] = function(...)
    return require("opencode_lsp.conversation").on_show_document(...)
  end,
  ["workspace/applyEdit"] = on_apply_edit,
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

-- The same keys everywhere else (unless you mapped them yourself): in a file outside every
-- project they say why OpenCode is off there instead of typing `a` or `o` into the buffer.
local function map_fallback_keys()
  local prefix = M.options.prefix
  if not prefix then
    return
  end
  for _, key in ipairs(M.keys) do
    local suffix, modes, action, desc = key[1], key[2], key[3], key[4]
    local lhs = prefix .. suffix
    local run = actions[action]
      or function()
        if M.client() then
          run_with_selection(action)
        else
          M.say(M.why_not_running(0), vim.log.levels.WARN, { whole = true })
        end
      end
    for _, mode in ipairs(type(modes) == "table" and modes or { modes }) do
      if vim.fn.maparg(lhs, mode) == "" then
        vim.keymap.set(mode, lhs, run, { desc = desc })
      end
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

  map_fallback_keys()
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
      M.execute(name, arguments, say_result(name))
    end
  end, {
    nargs = "*",
    complete = function()
      return M.commands()
    end,
    desc = "Run an opencode-lsp command: :OpenCodeCommand [name [JSON arguments]]",
  })
  vim.api.nvim_create_user_command("OpenCodeAnswer", M.show_answer, { desc = "The last answer" })
  vim.api.nvim_create_user_command("OpenCodeMessages", M.show_messages, {
    desc = "Every OpenCode message of this session, whole",
  })
  vim.api.nvim_create_user_command("OpenCodePending", M.pending, {
    desc = "Answer a pending OpenCode permission request",
  })
  require("opencode_lsp.selection").setup(M.options) -- your selection as the TUI's context
  require("opencode_lsp.conversation").setup() -- :OpenCodeConversation, :OpenCodeSend

  -- Clients that attached before setup() ran.
  for _, client in ipairs(vim.lsp.get_clients({ name = M.options.name })) do
    for bufnr in pairs(client.attached_buffers) do
      map_keys(client, bufnr)
    end
  end
  return M
end

return M
