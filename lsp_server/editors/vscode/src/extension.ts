// prompt-tuner in VS Code: starts `prompt-tuner-lsp` over stdio and shows its virtual documents.
// Diagnostics, hovers, code actions ("Optimize this prompt", "Evaluate this prompt", "Show prompt
// history") and work-done progress (with a Cancel button) come from the server through
// vscode-languageclient; this file only wires them up.
//
// Trust: the server imports a task's custom metric code only on an explicit Optimize/Evaluate and
// only when told `trustWorkspace: true`, which this extension sends only when VS Code trusts the
// workspace AND the user enabled `promptTuner.trustWorkspace` in their own settings (the setting
// is application-scoped: a workspace's .vscode/settings.json cannot turn it on).
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

const SCHEME = "prompt-tuner";
const SECTION = "promptTuner";
let client: LanguageClient | undefined;

interface DocumentReply {
  uri: string;
  content: string;
}

// Whether the server may run the workspace's custom metric code on an explicit action.
function trustWorkspace(): boolean {
  const allowed = vscode.workspace.getConfiguration(SECTION).get<boolean>("trustWorkspace") === true;
  return vscode.workspace.isTrusted && allowed;
}

// The settings the server reads (see docs/editors.md), from the `promptTuner.*` configuration.
function serverSettings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const keys = [
    "models", "budget", "storePath", "configFile", "profile", "settings", "promptNames",
    "severity", "contextTokens", "debounceMs", "alpha", "offerInsignificant", "onResult",
  ];
  const out: Record<string, unknown> = { virtualDocuments: true, trustWorkspace: trustWorkspace() };
  for (const key of keys) {
    const value = config.get(key);
    if (value !== undefined && value !== null) {
      out[key] = value;
    }
  }
  return out;
}

// Tell the server the settings changed; it asks for them again (workspace/configuration), and
// the answer goes through serverSettings() so that trustWorkspace is always the gated value.
function settingsChanged(): void {
  if (client?.isRunning()) {
    client
      .sendNotification(DidChangeConfigurationNotification.type, { settings: null })
      .catch(() => undefined); // a server that is restarting asks for its settings anyway
  }
}

function startClient(context: vscode.ExtensionContext): LanguageClient {
  const command = vscode.workspace.getConfiguration(SECTION).get<string[]>("serverCommand") ?? [
    "prompt-tuner-lsp",
  ];
  const serverOptions: ServerOptions = {
    command: command[0],
    args: command.slice(1),
    transport: TransportKind.stdio,
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "file", pattern: "**/*.tune.{yaml,yml}" },
      { scheme: "file", pattern: "**/*.{prompt,prompt.md,j2,jinja,jinja2}" },
    ],
    initializationOptions: serverSettings(),
    middleware: {
      workspace: {
        configuration: async (params, token, next) => {
          const answers = await next(params, token);
          if (!Array.isArray(answers)) {
            return answers;
          }
          return answers.map((answer, i) =>
            params.items[i]?.section === SECTION ? serverSettings() : answer);
        },
      },
    },
  };
  const created = new LanguageClient("promptTuner", "prompt-tuner", serverOptions, clientOptions);
  context.subscriptions.push(created);
  void created.start();
  return created;
}

class VirtualDocuments implements vscode.TextDocumentContentProvider {
  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    if (!client) {
      return "prompt-tuner's language server is not running.";
    }
    const reply = await client.sendRequest<DocumentReply>("promptTuner/document", {
      uri: uri.toString(true),
    });
    return reply.content;
  }
}

export function activate(context: vscode.ExtensionContext): void {
  client = startClient(context);
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, new VirtualDocuments()),
    vscode.commands.registerCommand("promptTuner.restart", async () => {
      if (client) {
        await client.restart();
      }
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(SECTION)) {
        settingsChanged();
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(settingsChanged),
  );
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop();
  }
}
