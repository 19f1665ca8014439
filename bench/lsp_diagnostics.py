"""How fast do diagnostics follow an edit in a large Python file?

Starts ``python -m lsp_server`` over stdio with a real LSP client (pygls), opens a generated
2,000-line Python module holding a few prompts (one linked to a task file), then types: each
change is a one-character edit inside a prompt, sent after the previous diagnostics arrived and
a pause longer than the server's debounce window. The time from sending ``didChange`` to
receiving ``publishDiagnostics`` for that document version is the latency. Models point at the
loopback fake model server, whose log must show no request at the end (typing calls no model).

    python bench/lsp_diagnostics.py --lines 2000 --edits 40
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from tests.fakes.harness import FakeServer

REPO = Path(__file__).resolve().parents[1]
TASK = """name: bench-sentiment
prompt: "Classify: {{ text }}"
metric: label
labels: [positive, negative]
examples:
  - {text: "A joy.", expected: positive}
  - {text: "Dull.", expected: negative}
"""


def module_source(lines: int) -> tuple[str, int]:
    """A Python module of about ``lines`` lines with three prompts; and the line of the first."""
    head = [
        "import textwrap", "",
        "# prompt-tuner: task=sentiment.tune.yaml",
        'SYSTEM_PROMPT = "Try to classify the review as positive or negative. {{ text }}"',
        "",
        'SUMMARY_PROMPT = textwrap.dedent("""\\',
        "    Summarize the text in a few sentences.",
        "    Summarize the text in a few sentences.",
        '    """)',
        "",
    ]
    body: list[str] = []
    i = 0
    while len(head) + len(body) < lines - 4:
        body += [f"def helper_{i}(x: int, y: int) -> int:",
                 f'    """Helper {i}: adds, scales and formats."""',
                 f"    total = x + y * {i % 7}",
                 "    if total > 100:",
                 "        return total - 100",
                 f"    return total  # helper {i}", ""]
        i += 1
    tail = ["", 'FINAL_PROMPT = ("If possible, answer briefly.\\n"', '                "Be polite.")', ""]
    return "\n".join(head + body + tail), 3


class Client(LanguageClient):
    def __init__(self) -> None:
        super().__init__("bench", "0")
        self.arrived: dict[int, float] = {}
        self.event = asyncio.Event()


async def run(lines: int, edits: int, gap_s: float) -> dict[str, Any]:
    with FakeServer("openai") as fake, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "sentiment.tune.yaml").write_text(TASK, encoding="utf-8")
        source, prompt_line = module_source(lines)
        path = root / "big_module.py"
        path.write_text(source, encoding="utf-8")
        client = Client()

        def diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
            if params.version is not None:
                client.arrived[params.version] = time.perf_counter()
                client.event.set()

        client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(diagnostics)

        spec = f"openai:fake@{fake.base_url}"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        await client.start_io(sys.executable, "-m", "lsp_server", env=env, cwd=str(root))
        await client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(), root_uri=root.as_uri(),
            initialization_options={"models": {"target": spec, "optimizer": spec, "judge": spec},
                                    "storePath": str(root / "store.db")}))
        client.initialized(lsp.InitializedParams())
        uri = path.as_uri()
        client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(uri=uri, language_id="python", version=1, text=source)))
        await asyncio.wait_for(client.event.wait(), 30)
        latencies = []
        column = len('SYSTEM_PROMPT = "Try to')
        for version in range(2, edits + 2):
            await asyncio.sleep(gap_s)
            client.event.clear()
            sent = time.perf_counter()
            client.text_document_did_change(lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[lsp.TextDocumentContentChangePartial(
                    range=lsp.Range(lsp.Position(prompt_line, column), lsp.Position(prompt_line, column)),
                    text="x")]))
            column += 1
            while version not in client.arrived:
                await asyncio.wait_for(client.event.wait(), 30)
                client.event.clear()
            latencies.append((client.arrived[version] - sent) * 1000)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()  # type: ignore[no-untyped-call]
        calls = len(fake.requests())
    latencies.sort()
    return {"lines": source.count("\n") + 1, "edits": edits, "model_calls": calls,
            "median_ms": statistics.median(latencies),
            "p95_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))],
            "max_ms": latencies[-1]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=2000)
    p.add_argument("--edits", type=int, default=40)
    p.add_argument("--gap", type=float, default=0.25, help="seconds between edits (> debounce)")
    p.add_argument("--budget-ms", type=float, default=50.0, help="fail if the median exceeds it")
    args = p.parse_args()
    got = asyncio.run(run(args.lines, args.edits, args.gap))
    print(f"{got['lines']} lines, {got['edits']} edits: diagnostics after median "
          f"{got['median_ms']:.1f} ms, p95 {got['p95_ms']:.1f} ms, max {got['max_ms']:.1f} ms; "
          f"model calls while typing: {got['model_calls']}")
    return 0 if got["median_ms"] <= args.budget_ms and got["model_calls"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
