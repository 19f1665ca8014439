// prompt-tuner in VS Code: starts `prompt-tuner-lsp` over stdio and shows its virtual documents.
// Diagnostics, hovers, code actions ("Optimize this prompt", "Evaluate this prompt", "Show prompt
// history") and work-done progress (with a Cancel button) come from the server through
// vscode-languageclient; this file only wires them up.
import * as vscode from "vscode";
import {
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

// The settings the server reads (see docs/editors.md), from the `promptTuner.*` configuration.
function serverSettings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const keys = [
    "models", "budget", "storePath", "configFile", "profile", "settings", "promptNames",
    "severity", "contextTokens", "debounceMs", "alpha", "offerInsignificant", "onResult",
  ];
  const out: Record<string, unknown> = { virtualDocuments: true };
  for (const key of keys) {
    const value = config.get(key);
    if (value !== undefined && value !== null) {
      out[key] = value;
    }
  }
  return out;
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
    synchronize: { configurationSection: SECTION },
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
  );
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop();
  }
}
