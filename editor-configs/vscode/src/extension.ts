// opencode-lsp for VS Code: starts the language server, and adds what LSP alone does not
// give VS Code: a prompt input box (OpenCode: Ask…), a status bar item fed by the
// opencode/status notification, the whole last answer on demand, and the conversation
// document opened beside the code, kept saved and followed at its end.
//
// Everything else comes from VS Code's own LSP support: the OpenCode code actions on a
// selection (light bulb / Ctrl+.), progress ($/progress) as a notification, permission
// prompts (window/showMessageRequest), the agent's edits (workspace/applyEdit), and the
// server's workspace commands.

import * as vscode from "vscode";
import {
  CancellationToken,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
} from "vscode-languageclient/node";

interface Status {
  state?: string;
  sessionID?: string;
  message?: string;
}

const MAX_STATUS_TEXT = 50;
const PROPOSAL_SCHEME = "opencode-proposal";
const MESSAGE_TYPE_INFO = 3;
// The bridge's conversation documents (docs/conversation.md): one Markdown file per session
// in <state>/opencode-lsp/conversations/, or in a temporary opencode-lsp-conversations-*/
// when the state folder is inside a workspace folder.
const CONVERSATION_PATH = /\/opencode-lsp[/-]conversations[\w-]*\/[\w.-]+\.md$/;
// The user's typing in a conversation is saved this long after the last key.
const CONVERSATION_SAVE_DELAY_MS = 300;

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let lastAnswer: string | undefined;
const proposals = new Map<string, string>(); // proposal URI → the proposed text
const pendingSaves = new Map<string, ReturnType<typeof setTimeout>>(); // conversation URI → timer

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  statusItem.command = "opencodeLsp.ask";
  showStatus({ state: "starting" });
  statusItem.show();

  context.subscriptions.push(
    statusItem,
    vscode.commands.registerCommand("opencodeLsp.ask", ask),
    vscode.commands.registerCommand("opencodeLsp.runCommand", runCommand),
    vscode.commands.registerCommand("opencodeLsp.showAnswer", showAnswer),
    vscode.commands.registerCommand("opencodeLsp.newSession", newSession),
    vscode.commands.registerCommand("opencodeLsp.selectSession", selectSession),
    vscode.commands.registerCommand("opencodeLsp.selectModel", selectModel),
    vscode.commands.registerCommand("opencodeLsp.abort", abort),
    vscode.commands.registerCommand("opencodeLsp.openConversation", openConversation),
    vscode.commands.registerCommand("opencodeLsp.send", send),
    vscode.workspace.onDidChangeTextDocument((event) => keepSaved(event.document)),
    vscode.commands.registerCommand("opencodeLsp.restart", async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, {
      provideTextDocumentContent: (uri) => proposals.get(uri.toString()) ?? "",
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("opencodeLsp.serverCommand")) {
        await stop();
        await start(context);
      }
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  await stop();
}

/** The `opencode` settings section, without the keys VS Code reports as null (unset). */
function settings(): Record<string, unknown> {
  const section = vscode.workspace.getConfiguration("opencode");
  const keys = [
    "serverUrl", "attachUrl", "username", "password", "spawn", "command", "model", "agent",
    "prompts", "requestTimeout", "syncBuffers", "editApproval", "openTranscript",
    "openConversation", "api",
  ];
  const result: Record<string, unknown> = {};
  for (const key of keys) {
    const inspected = section.inspect(key);
    const set =
      inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
    if (set !== undefined) {
      result[key] = set;
    }
  }
  return result;
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const command = vscode.workspace
    .getConfiguration("opencodeLsp")
    .get<string[]>("serverCommand", ["opencode-lsp"]);
  // No `transport`: stdio is the default, and TransportKind.stdio would append `--stdio`,
  // which opencode-lsp before 0.2 refused (exit code 2, five times, then the client gave up).
  const serverOptions: ServerOptions = { command: command[0], args: command.slice(1) };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions: settings(),
    // The server asks workspace/configuration for the "opencode" section, and is told
    // when it changes.
    synchronize: { configurationSection: "opencode" },
    outputChannelName: "OpenCode",
    middleware: {
      window: {
        // The bridge's Show diff opens a .diff document; a diff of one file that applies to
        // the file as it is opens in VS Code's diff editor instead. A conversation opens
        // beside the code.
        showDocument: async (params, token, next) => {
          if (await showDiffEditor(params.uri)) {
            return { success: true };
          }
          const uri = vscode.Uri.parse(params.uri);
          if (isConversation(uri)) {
            return { success: await showConversation(uri, params.takeFocus === true) };
          }
          return next(params, token);
        },
      },
      workspace: {
        // The bridge appends to a conversation: saved at once (a tab closed meanwhile would
        // ask to save), and an editor showing its end keeps showing it.
        handleApplyEdit: async (params, next) => {
          const following = conversationEditorsAtTheEnd();
          const result = await next(params, CancellationToken.None); // not cancellable
          const edited = new Set(
            [
              ...Object.keys(params.edit.changes ?? {}),
              ...(params.edit.documentChanges ?? []).flatMap((change) =>
                "textDocument" in change ? [change.textDocument.uri] : [],
              ),
            ].map((uri) => vscode.Uri.parse(uri).toString()),
          );
          for (const document of vscode.workspace.textDocuments) {
            if (edited.has(document.uri.toString())) {
              keepSaved(document, 0);
            }
          }
          for (const editor of following) {
            const end = editor.document.lineAt(editor.document.lineCount - 1).range.end;
            editor.revealRange(new vscode.Range(end, end));
          }
          return result;
        },
      },
    },
  };
  client = new LanguageClient("opencode", "OpenCode", serverOptions, clientOptions);
  client.onNotification("opencode/status", (params: Status) => showStatus(params));
  client.onNotification("window/logMessage", (params: { type: number; message: string }) => {
    // opencode-lsp logs each whole answer; the message shows only its start.
    if (params.type === MESSAGE_TYPE_INFO) {
      lastAnswer = params.message;
    }
    client?.outputChannel.appendLine(params.message);
  });
  try {
    await client.start();
  } catch (error) {
    showStatus({ state: "error", message: String(error) });
    void vscode.window.showErrorMessage(
      `opencode-lsp did not start (${command.join(" ")}): ${String(error)}. ` +
        "Install it (pipx install opencode-lsp) or set opencodeLsp.serverCommand.",
    );
    return;
  }
  context.subscriptions.push(client);
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop();
  }
}

function showStatus(status: Status): void {
  const state = status.state ?? "idle";
  const icon = state === "busy" || state === "retry" ? "$(sync~spin)" : "$(sparkle)";
  let text = `${icon} OpenCode: ${state}`;
  if (status.message) {
    text += ` · ${status.message.replace(/\s+/g, " ")}`;
  }
  statusItem.text = text.length > MAX_STATUS_TEXT ? text.slice(0, MAX_STATUS_TEXT - 1) + "…" : text;
  statusItem.tooltip = [
    `OpenCode: ${state}`,
    status.sessionID ? `session ${status.sessionID}` : undefined,
    status.message,
    "Click to ask OpenCode.",
  ]
    .filter(Boolean)
    .join("\n");
}

function offeredCommands(): string[] {
  return client?.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
}

async function execute(command: string, args?: unknown[]): Promise<unknown> {
  if (!client) {
    void vscode.window.showWarningMessage("opencode-lsp is not running.");
    return undefined;
  }
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
}

/** Runs a server command for a palette entry; its error (one sentence from the server) is
 * shown as it is. */
async function run<T>(command: string, args?: unknown[]): Promise<T | undefined> {
  try {
    return (await execute(command, args)) as T | undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(`OpenCode: ${message}`);
    return undefined;
  }
}

interface SessionInfo {
  sessionID: string;
  title?: string | null;
  updated?: string;
  current?: boolean;
}

function titled(session: { sessionID: string; title?: string | null }): string {
  return session.title ? `"${session.title}"` : session.sessionID;
}

/** OpenCode: New Session — the next prompt goes to a new session. */
async function newSession(): Promise<void> {
  const session = await run<SessionInfo>("opencode.session.new", [{}]);
  if (session?.sessionID) {
    void vscode.window.showInformationMessage(
      `OpenCode: started session ${titled(session)}; the next prompt goes to it.`,
    );
  }
}

/** OpenCode: Select Session… — the workspace's sessions, newest first. */
async function selectSession(): Promise<void> {
  const sessions = await run<SessionInfo[]>("opencode.session.list", [{}]);
  if (!sessions) {
    return;
  }
  if (sessions.length === 0) {
    void vscode.window.showInformationMessage(
      "OpenCode has no sessions in this workspace yet; OpenCode: New Session starts one.",
    );
    return;
  }
  const picked = await vscode.window.showQuickPick(
    sessions.map((session) => ({
      label: session.title || session.sessionID,
      description: session.current ? "current" : undefined,
      detail: session.updated ? `changed ${session.updated}` : undefined,
      session,
    })),
    { title: "OpenCode: which session should the next prompt go to?" },
  );
  if (!picked) {
    return;
  }
  const selected = await run<SessionInfo>("opencode.session.select", [
    { sessionID: picked.session.sessionID },
  ]);
  if (selected?.sessionID) {
    void vscode.window.showInformationMessage(
      `OpenCode: the next prompt goes to session ${titled(selected)}.`,
    );
  }
}

/** OpenCode: Select Model… — the server offers the models it has as a notification; the
 * pick shows in the status bar (`OpenCode: idle · model provider/model`). */
async function selectModel(): Promise<void> {
  await run("opencode.model.select", [{}]);
}

/** OpenCode: Stop the Answer — aborts the current session's run. */
async function abort(): Promise<void> {
  const stopped = await run<{ sessionID: string }>("opencode.session.abort", [{}]);
  if (stopped?.sessionID) {
    void vscode.window.showInformationMessage(
      `OpenCode: stopping the answer in session ${stopped.sessionID}.`,
    );
  }
}

/** A conversation document of the bridge (a file in its state folder), by its path. */
function isConversation(uri: vscode.Uri): boolean {
  return uri.scheme === "file" && CONVERSATION_PATH.test(uri.path);
}

/** The conversation in the editor group that already has it, else beside the active one;
 * the focus stays where it is unless the bridge asks for it. */
async function showConversation(uri: vscode.Uri, takeFocus: boolean): Promise<boolean> {
  const tab = vscode.window.tabGroups.all
    .flatMap((group) => group.tabs)
    .find((t) => t.input instanceof vscode.TabInputText && t.input.uri.toString() === uri.toString());
  try {
    await vscode.window.showTextDocument(uri, {
      viewColumn: tab?.group.viewColumn ?? vscode.ViewColumn.Beside,
      preserveFocus: !takeFocus,
      preview: false,
    });
    return true;
  } catch {
    return false;
  }
}

/** The visible conversation editors whose last line is on screen. */
function conversationEditorsAtTheEnd(): vscode.TextEditor[] {
  return vscode.window.visibleTextEditors.filter((editor) => {
    const last = editor.visibleRanges[editor.visibleRanges.length - 1];
    return (
      isConversation(editor.document.uri) &&
      last !== undefined &&
      last.end.line >= editor.document.lineCount - 2
    );
  });
}

/** A conversation is saved after each change: at once after the bridge's, shortly after the
 * user's typing. The file is outside the workspace, in the bridge's state folder, and a tab
 * left unsaved would ask "Save changes?" when closed. */
function keepSaved(document: vscode.TextDocument, delay = CONVERSATION_SAVE_DELAY_MS): void {
  if (!isConversation(document.uri)) {
    return;
  }
  const key = document.uri.toString();
  clearTimeout(pendingSaves.get(key));
  pendingSaves.set(
    key,
    setTimeout(async () => {
      pendingSaves.delete(key);
      if (document.isClosed) {
        return;
      }
      // Not `isDirty`: once a save ends, the extension host reads the document as clean even
      // when a change came during the save. A changed version means save again.
      const version = document.version;
      if ((await document.save()) && document.version !== version) {
        keepSaved(document);
      }
    }, delay),
  );
}

/** OpenCode: Open the Conversation — the current session's, beside the code. */
async function openConversation(): Promise<void> {
  await run("opencode.session.open", [{}]);
}

/** OpenCode: Send — what the user wrote at the end of the conversation goes to its session
 * (the same as the code action there). */
async function send(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !isConversation(editor.document.uri) || !client) {
    void vscode.window.showInformationMessage(
      "OpenCode: Send sends what you wrote at the end of a conversation; " +
        "OpenCode: Open the Conversation opens one.",
    );
    return;
  }
  await run("opencode.session.send", [
    { uri: client.code2ProtocolConverter.asUri(editor.document.uri) },
  ]);
}

/** OpenCode: Ask… — a prompt input box; the selected lines go with it. */
async function ask(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const selection = editor && !editor.selection.isEmpty ? editor.selection : undefined;
  const prompt = await vscode.window.showInputBox({
    title: "OpenCode",
    prompt: selection ? "Ask about the selected lines" : "Ask OpenCode",
    placeHolder: "What should the agent do?",
    ignoreFocusOut: true,
  });
  if (!prompt?.trim()) {
    return;
  }
  const args: Record<string, unknown> = { prompt };
  if (editor && selection && client) {
    const start = new vscode.Position(selection.start.line, 0);
    const end = editor.document.lineAt(selection.end.line).range.end;
    args.uri = client.code2ProtocolConverter.asUri(editor.document.uri);
    args.range = client.code2ProtocolConverter.asRange(new vscode.Range(start, end));
  }
  await execute("opencode.ask", [args]);
}

/** OpenCode: Run a Command… — any command the server offers, with JSON arguments. */
async function runCommand(): Promise<void> {
  const command = await vscode.window.showQuickPick(offeredCommands().sort(), {
    title: "OpenCode command",
  });
  if (!command) {
    return;
  }
  const raw = await vscode.window.showInputBox({
    title: command,
    prompt: "Arguments as a JSON object (empty for none)",
  });
  if (raw === undefined) {
    return;
  }
  let args: unknown[] | undefined;
  try {
    args = raw.trim() ? [JSON.parse(raw)] : undefined;
  } catch {
    void vscode.window.showErrorMessage(`Not JSON: ${raw}`);
    return;
  }
  const result = await execute(command, args);
  if (result !== null && result !== undefined) {
    client?.outputChannel.appendLine(`${command}: ${JSON.stringify(result, null, 2)}`);
    client?.outputChannel.show(true);
  }
}

/** OpenCode: Show the Whole Answer — the last answer as a Markdown document. */
async function showAnswer(): Promise<void> {
  if (lastAnswer === undefined) {
    void vscode.window.showInformationMessage("No answer from OpenCode yet.");
    return;
  }
  const document = await vscode.workspace.openTextDocument({
    content: lastAnswer,
    language: "markdown",
  });
  await vscode.window.showTextDocument(document, { preview: true });
}

/** The file a one-file unified diff changes, and its text with the diff applied; undefined
 * when the diff has several files or does not apply exactly. */
export function applyUnifiedDiff(
  diff: string,
  read: (file: string) => string | undefined,
): { file: string; text: string } | undefined {
  const lines = diff.split("\n");
  const targets = lines.filter((line) => line.startsWith("+++ "));
  if (targets.length !== 1) {
    return undefined;
  }
  const file = targets[0].slice(4).split("\t")[0].trim();
  const original = read(file);
  if (original === undefined) {
    return undefined;
  }
  const source = original.split("\n");
  const out: string[] = [];
  let at = 0; // next source line (0-based)
  let index = lines.findIndex((line) => line.startsWith("@@"));
  if (index < 0) {
    return undefined;
  }
  while (index < lines.length) {
    const header = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@/.exec(lines[index]);
    if (!header) {
      break;
    }
    const count = header[2] === undefined ? 1 : Number(header[2]);
    const start = count === 0 ? Number(header[1]) : Number(header[1]) - 1;
    if (start < at) {
      return undefined;
    }
    out.push(...source.slice(at, start));
    at = start;
    for (index++; index < lines.length && !lines[index].startsWith("@@"); index++) {
      const line = lines[index];
      const kind = line[0] ?? " ";
      const text = line.slice(1);
      if (kind === "\\") {
        continue; // "\ No newline at end of file"
      }
      if (kind === "+") {
        out.push(text);
      } else if (kind === " " || kind === "-") {
        if (source[at] !== text) {
          return undefined;
        }
        if (kind === " ") {
          out.push(text);
        }
        at++;
      } else {
        return undefined;
      }
    }
  }
  // A trailing empty line of the diff text is not a context line.
  out.push(...source.slice(at));
  return { file, text: out.join("\n") };
}

async function showDiffEditor(uri: string): Promise<boolean> {
  const target = vscode.Uri.parse(uri);
  if (target.scheme !== "file" || !target.path.endsWith(".diff")) {
    return false;
  }
  try {
    const diff = new TextDecoder().decode(await vscode.workspace.fs.readFile(target));
    const files = new Map<string, string>();
    const header = /^\+\+\+ (.+?)(?:\t.*)?$/m.exec(diff);
    if (!header) {
      return false;
    }
    const fileUri = vscode.Uri.file(header[1].trim());
    const document = await vscode.workspace.openTextDocument(fileUri);
    files.set(header[1].trim(), document.getText());
    const applied = applyUnifiedDiff(diff.replace(/\n$/, ""), (file) => files.get(file));
    if (!applied) {
      return false;
    }
    const proposal = vscode.Uri.from({
      scheme: PROPOSAL_SCHEME,
      path: fileUri.path,
      query: target.path.split("/").pop(),
    });
    proposals.set(proposal.toString(), applied.text);
    const name = fileUri.path.split("/").pop();
    await vscode.commands.executeCommand(
      "vscode.diff",
      fileUri,
      proposal,
      `${name} ↔ OpenCode's proposed change`,
    );
    return true;
  } catch {
    return false;
  }
}
