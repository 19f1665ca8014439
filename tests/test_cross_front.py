"""One run, four fronts, one number: a tune started from Slack shows each version's score exactly
as the core defines it (``task_versions`` → ``VersionView.score``: its measurement on the most
examples across the task's runs) in ``prompt-tuner versions`` (``--json`` and the table), in
Slack's ``/tune history``, in the language server's hover and history document, and on
``prompt-tuner view``'s task page.

The store is made the way people make it: two tunes from Slack (signed slash commands to the
real Bolt app, the fake model server as every model). The first runs on six reviews, the second
on four of them, and the winner (GOOD) answers the first four right and the last two wrong. So
GOOD is measured twice: 67% on n=6 (older) and 100% on n=4 (newer). A front showing the highest
score, or the latest, shows 100% and fails here; the one definition shows 67% (n=6).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from core import Store, VersionView, task_versions
from core.cli import main as cli_main
from core.viewer import make_server
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer
from tests.fakes.slack_api import FakeSlackApi, SlackSender
from tests.fakes.slack_harness import (
    GOOD,
    MARKER,
    ORIGINAL,
    PLAIN,
    REVIEWS,
    SLOT,
    TASK,
    WRONG,
    Paths,
    proposal,
    running_bot,
    write_world,
)
from tests.test_slack_bot import block_text

REPO = Path(__file__).resolve().parents[1]
CHANNEL = "C0001"
TIMEOUT = 30
SCORE = r"\d+% \[\d+%, \d+%\] \(n=\d+\)"
KNOWN = 4  # GOOD answers the first four reviews right, the other two wrong


def rules() -> dict[str, Any]:
    """The fake model: the optimizer proposes GOOD (a rewrite, PLAIN); the target answers GOOD
    right on the first ``KNOWN`` reviews only, everything else wrong."""
    found: list[list[str]] = [[WRONG, proposal(PLAIN)], [SLOT, proposal(GOOD)]]
    found += [[f"{MARKER} Answer with one word, positive or negative.\nReview: {text}", label]
              for text, label in list(REVIEWS.items())[:KNOWN]]
    return {"rules": found, "reply": f"fixed:{WRONG}"}


def keep_examples(paths: Paths, n: int) -> None:
    """The task file in the bot's folder, with only its first ``n`` examples."""
    path = paths.tasks / f"{TASK}.tune.yaml"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["examples"] = data["examples"][:n]
    path.write_text(json.dumps(data), encoding="utf-8")


def run_status(paths: Paths, run_id: str) -> str | None:
    if not paths.store.exists():
        return None
    db = sqlite3.connect(paths.store)
    try:
        row = db.execute("SELECT status FROM runs WHERE id = ?", [run_id]).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
    return None if row is None else str(row[0])


async def tune_from_slack(slack: SlackSender, api: FakeSlackApi, paths: Paths) -> str:
    """``/tune task:reviews``; wait until the run is finished in the store and its report is
    uploaded to its thread. The run's id."""
    ack = (await slack.command(f"task:{TASK}")).json()
    assert "Started run" in ack["text"], ack
    run_id = str(ack["text"].split("`")[1])
    uploads = len(api.calls("files.completeUploadExternal"))
    await api.until(lambda a: run_status(paths, run_id) == "finished"
                    and len(a.calls("files.completeUploadExternal")) > uploads, 60,
                    f"run {run_id} to finish")
    return run_id


# -- reading each front --------------------------------------------------------------------------


def slack_scores(blocks: Any) -> dict[int, str]:
    """``/tune history``: one line a version, ``*vN* `id` · operator · SCORE · reviews``."""
    line = re.compile(r"\*v(\d+)\* `[0-9a-f]+` · [^·\n]+ · (.+?) · \d+ approved")
    return {int(m.group(1)): m.group(2) for m in line.finditer(block_text(blocks))}


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path,
        *argv: str, columns: int) -> str:
    """``prompt-tuner ARGV --store STORE`` with the terminal ``columns`` wide; its stdout."""
    monkeypatch.setenv("COLUMNS", str(columns))
    capsys.readouterr()
    code = cli_main([*argv, "--store", str(store)])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def table_scores(out: str, score: str) -> dict[int, str]:
    """The ``versions`` table's rows (they start with the version number) and their score cell:
    right-aligned, it ends where its header does."""
    lines = out.splitlines()
    header = next(line for line in lines if re.match(r"v\s+first seen", line))
    end = header.index("score") + len("score")
    cells = {}
    for line in lines:
        found = re.match(r"\s*(\d+)\s", line)
        if found:
            cell = re.search(rf"({score}|—)$", line[:end])
            assert cell, (line, out)
            cells[int(found.group(1))] = cell.group(1)
    return cells


class Cells(HTMLParser):
    """Every table row of a page, as the text of its cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def viewer_scores(html: str) -> dict[int, str]:
    """The task page's "Prompt versions" table: version → its score cell."""
    parser = Cells()
    parser.feed(html)
    header = next(r for r in parser.rows if r[:1] == ["version"])
    at, score = header.index("version"), header.index("score")
    out: dict[int, str] = {}
    for row in parser.rows[parser.rows.index(header) + 1:]:
        if len(row) != len(header) or not re.fullmatch(r"v\d+", row[at]):
            break  # the end of the table
        out[int(row[at].removeprefix("v"))] = row[score]
    return out


@contextmanager
def served(store: Path) -> Iterator[str]:
    """``prompt-tuner view``'s server for ``store`` on a free port of 127.0.0.1; its base URL."""
    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def viewer_pages(store: Path, numbers: list[int]) -> tuple[str, dict[int, str]]:
    """The task page, and each version's page, as a browser gets them."""
    with served(store) as base, httpx.Client(base_url=base, timeout=30, trust_env=False) as web:
        pages = [web.get(f"/tasks/{TASK}"), *(web.get(f"/tasks/{TASK}/versions/{n}")
                                              for n in numbers)]
    assert [p.status_code for p in pages] == [200] * len(pages), pages
    return pages[0].text, dict(zip(numbers, (p.text for p in pages[1:]), strict=True))


def version_page_score(html: str) -> str:
    """A version's page says ``… · score SCORE · id`` under its title."""
    found = re.search(rf"· score ({SCORE}|—) ·", html)
    assert found, html
    return found.group(1)


async def lsp_start(root: Path, store: Path) -> LanguageClient:
    """``python -m lsp_server`` over stdio, initialized with the store and no reachable model."""
    client = make_test_lsp_client()
    spec = "openai:fake@http://127.0.0.1:9/v1"
    init = {"models": {"target": spec, "optimizer": spec, "judge": spec},
            "storePath": str(store),
            "settings": {"run_dir": str(root / "lsp-runs"), "cache.enabled": False}}
    await client.start_io(sys.executable, "-m", "lsp_server", cwd=str(root),
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    await client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=root.as_uri(),
        initialization_options=init,
        workspace_folders=[lsp.WorkspaceFolder(uri=root.as_uri(), name="w")]))
    return client


def linked_source(prompt: str) -> str:
    """A Python module whose prompt is linked to the bot's task file by a marker comment."""
    return (f"# prompt-tuner: task=tasks/{TASK}.tune.yaml\n"
            f"PROMPT = {prompt!r}\n")


async def lsp_hover(client: LanguageClient, path: Path, prompt: str) -> str:
    text = linked_source(prompt)
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    hover = await asyncio.wait_for(client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(1, 12))),
        TIMEOUT)
    assert hover is not None and isinstance(hover.contents, lsp.MarkupContent), hover
    return hover.contents.value


async def lsp_history(client: LanguageClient, path: Path) -> str:
    got = await asyncio.wait_for(client.workspace_execute_command_async(lsp.ExecuteCommandParams(
        command="promptTuner.history", arguments=[{"uri": path.as_uri(), "key": "PROMPT"}])),
        TIMEOUT)
    assert isinstance(got, dict), got
    return str(got["content"])


def hover_score(hover: str) -> tuple[int, str]:
    """The hovered prompt's own line: ``vN `id`: **SCORE**, measured … by run `…```."""
    found = re.search(rf"^v(\d+) `[0-9a-f]+`: \*\*({SCORE})\*\*", hover, re.M)
    assert found, hover
    return int(found.group(1)), found.group(2)


def hover_best(hover: str) -> tuple[int, str]:
    found = re.search(rf"^best stored: v(\d+) ({SCORE}) \(run", hover, re.M)
    assert found, hover
    return int(found.group(1)), found.group(2)


def history_scores(document: str) -> dict[int, str]:
    """The history document: ``## vN `id`: SCORE, run RUN`` (or ``not scored``)."""
    head = re.compile(rf"^## v(\d+) `[0-9a-f]+`: ({SCORE}|not scored)", re.M)
    return {int(m.group(1)): m.group(2) for m in head.finditer(document)}


# -- the test ------------------------------------------------------------------------------------


def measurements(store: Path, cid: str) -> list[tuple[float, int, str]]:
    db = sqlite3.connect(store)
    try:
        return [(float(s), int(n), str(r)) for s, n, r in db.execute(
            "SELECT score, n, run_id FROM candidates WHERE id = ? AND task_name = ? AND "
            "score IS NOT NULL AND n > 0 ORDER BY created_at", [cid, TASK])]
    finally:
        db.close()


def the_one_definition(store: Path) -> list[VersionView]:
    opened = Store(store)
    try:
        return task_versions(opened, TASK)
    finally:
        opened.close()


async def tunes_from_slack(model: FakeServer, tmp_path: Path) -> tuple[Paths, str, str, Any]:
    """Two tunes started from Slack, on six reviews and then four; their run ids and what
    ``/tune history`` answered afterwards (the blocks of its ephemeral reply)."""
    paths = write_world(tmp_path, model)
    with FakeSlackApi() as api:
        async with running_bot(paths, api) as bot:
            first = await tune_from_slack(bot.slack, api, paths)
            keep_examples(paths, KNOWN)
            second = await tune_from_slack(bot.slack, api, paths)
            history = await bot.slack.command(f"history {TASK}")
    assert history.status_code == 200 and history.json()["response_type"] == "ephemeral"
    return paths, first, second, history.json()["blocks"]


def scores(versions: list[VersionView], unscored: str) -> dict[int, str]:
    """What a front must show for every version: the one definition, or its ``unscored`` mark."""
    return {v.version: unscored if v.score is None else v.score.fmt() for v in versions}


def cli_scores(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
               store: Path) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """``versions --json`` (its score object printed as ``Estimate.fmt`` does), the table at
    200 columns (the full score) and at 100 (``mean (n=N)``)."""
    data = json.loads(cli(capsys, monkeypatch, store, "versions", TASK, "--json", columns=200))
    as_json = {v["version"]: "—" if v["score"] is None else
               f"{v['score']['mean']:.0%} [{v['score']['low']:.0%}, {v['score']['high']:.0%}] "
               f"(n={v['score']['n']})" for v in data}
    wide = table_scores(cli(capsys, monkeypatch, store, "versions", TASK, columns=200), SCORE)
    narrow = table_scores(cli(capsys, monkeypatch, store, "versions", TASK, columns=100),
                          r"\d+% \(n=\d+\)")
    return as_json, wide, narrow


async def test_a_slack_run_shows_the_same_scores_in_the_cli_slack_the_editor_and_the_viewer(
    fake_server: StartFakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, cli_console: None
) -> None:
    model = fake_server()
    model.configure(**rules())
    paths, first, second, slack_blocks = await tunes_from_slack(model, tmp_path)

    versions = the_one_definition(paths.store)
    by_id = {v.id: v for v in versions}
    store = Store(paths.store)
    run = next(r for r in store.runs() if r["id"] == first)
    store.close()
    original, winner = by_id[run["original_id"]], by_id[run["best_id"]]
    assert original.text == ORIGINAL and winner.text == GOOD
    # the premise: the winner was measured twice, higher and later on fewer examples, so a front
    # that showed the highest or the latest measurement would disagree with the one definition
    assert measurements(paths.store, winner.id) == [(KNOWN / 6, 6, first), (1.0, KNOWN, second)]
    assert winner.score is not None and original.score is not None
    assert (winner.score.fmt(), winner.scored_in) == ("67% [30%, 90%] (n=6)", first)
    expected = scores(versions, "—")

    # 1. the CLI
    as_json, wide, narrow = cli_scores(capsys, monkeypatch, paths.store)
    assert as_json == expected and wide == expected
    assert narrow == {v.version: "—" if v.score is None else f"{v.score.mean:.0%} (n={v.score.n})"
                      for v in versions}

    # 2. Slack's history
    assert slack_scores(slack_blocks) == scores(versions, "not scored")

    # 3. the editor: hover on the winner and on the original, and the history document
    client = await lsp_start(tmp_path, paths.store)
    try:
        hover_winner = await lsp_hover(client, tmp_path / "winner.py", winner.text)
        hover_original = await lsp_hover(client, tmp_path / "original.py", original.text)
        document = await lsp_history(client, tmp_path / "winner.py")
    finally:
        await client.shutdown_session()
    assert hover_score(hover_winner) == (winner.version, expected[winner.version])
    assert hover_score(hover_original) == (original.version, expected[original.version])
    assert hover_best(hover_original) == (winner.version, expected[winner.version])
    assert history_scores(document) == scores(versions, "not scored")

    # 4. the viewer: the task page's table and each version's own page
    task_page, version_pages = await asyncio.to_thread(viewer_pages, paths.store, list(expected))
    assert viewer_scores(task_page) == expected
    assert {n: version_page_score(html) for n, html in version_pages.items()} == expected
