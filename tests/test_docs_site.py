"""The documentation site: `mkdocs build --strict` passes, the generated pages are complete, and
the site is self-contained — nothing it loads comes from outside it, checked in the HTML and in
headless Chromium, which also takes the screenshots in docs/images/ (written there when
``PROMPT_TUNER_UPDATE_DOCS_IMAGES=1`` is set)."""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core import task_schema
from core.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
IMAGES = ROOT / "docs" / "images"
# read at import: the suite's autouse fixture clears PROMPT_TUNER_* before every test
UPDATE_IMAGES = os.environ.get("PROMPT_TUNER_UPDATE_DOCS_IMAGES") == "1"
# Names the API page must document (the names the README's example and every front use).
API_NAMES = ("tune", "load_task", "evaluate_prompt")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def subcommands() -> list[str]:
    import argparse

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    raise AssertionError("the CLI has no subcommands")


def text_of(page: Path) -> str:
    """The page's visible text, roughly: tags dropped, entities left as they are."""
    return re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))


def test_every_cli_subcommand_has_a_generated_page_with_its_options(site: Path) -> None:
    names = subcommands()
    assert {"tune", "eval", "compare", "schema", "config", "cache"} <= set(names)
    index = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for name in names:
        page = site / "cli" / name / "index.html"
        assert page.exists(), f"no CLI page for `prompt-tuner {name}`"
        assert f'href="{name}/"' in index, f"the CLI overview does not link to {name}"
    tune = text_of(site / "cli" / "tune" / "index.html")
    for flag in ("--max-calls", "--strategy", "--resume", "--interactive", "--no-warm-start"):
        assert flag in tune
    assert "usage: prompt-tuner tune" in tune
    cache = text_of(site / "cli" / "cache" / "index.html")
    assert "prompt-tuner cache clear" in cache and "--older-than" in cache  # nested subcommands


def test_the_task_file_page_lists_every_top_level_field_of_the_schema(site: Path) -> None:
    page = (site / "task-files" / "index.html").read_text(encoding="utf-8")
    fields = list(task_schema()["properties"])
    assert len(fields) >= 10
    missing = [f for f in fields if f"<code>{f}</code>" not in page]
    assert missing == []
    for name in task_schema().get("$defs", {}):
        assert f'id="schema-{name.lower()}"' in page, f"no section for the schema's {name}"


def test_the_api_page_documents_the_public_api(site: Path) -> None:
    import core

    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in API_NAMES:
        assert f'id="core.{name}"' in page, f"core.{name} is not on the API page"
    documented = set(re.findall(r'id="core\.([A-Za-z_]+)"', page))
    assert set(core.__all__) <= documented, set(core.__all__) - documented


class _Assets(HTMLParser):
    """Every URL a page loads: stylesheets, scripts, images, fonts, preloads, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and (a.get("rel") or "").split()[0:1] != ["canonical"]:
            rel = a.get("rel") or ""
            if any(r in rel for r in ("stylesheet", "preload", "preconnect", "icon", "modulepreload",
                                      "dns-prefetch", "manifest")):
                self.loaded.append(a.get("href") or "")
        elif tag in ("script", "img", "iframe", "source", "audio", "video", "embed"):
            self.loaded.append(a.get("src") or "")


def test_no_page_loads_anything_from_outside_the_site(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 30
    external = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        parser = _Assets()
        parser.feed(text)
        external += [f"{page.relative_to(site)}: {url}" for url in parser.loaded
                     if urlsplit(url).scheme in ("http", "https") or url.startswith("//")]
        external += [f"{page.relative_to(site)}: {m}" for m in
                     re.findall(r"@import\s+url\(['\"]?https?://[^)]+\)", text)]
        if 'class="mermaid"' in text:  # Material would fetch its Mermaid script from a CDN
            external.append(f"{page.relative_to(site)}: a Mermaid diagram")
    for css in site.rglob("*.css"):
        external += [f"{css.relative_to(site)}: {m}" for m in
                     re.findall(r"url\(['\"]?(?:https?:)?//[^)]+\)", css.read_text(encoding="utf-8"))]
    assert external == []


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")
def test_the_site_renders_in_chromium_without_errors_or_outside_requests(
    served: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    shots = {"docs-home.png": "/", "docs-api.png": "/api/", "docs-cli-tune.png": "/cli/tune/",
             "docs-task-files.png": "/task-files/"}
    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.on("request", lambda r: outside.append(r.url)
                    if urlsplit(r.url).hostname != "127.0.0.1" and not r.url.startswith(("data:", "blob:"))
                    else None)
            for name, path in shots.items():
                response = page.goto(served + path, wait_until="networkidle")
                assert response is not None and response.ok, path
                assert page.locator("h1").count() >= 1
                page.screenshot(path=str(tmp_path / name))
            # the search runs in a web worker from the site's own files
            page.goto(served + "/", wait_until="networkidle")
            page.keyboard.press("/")
            page.keyboard.type("evaluate_prompt")
            page.wait_for_selector(".md-search-result__item", timeout=15_000)
        finally:
            browser.close()
    assert errors == []
    assert outside == []
    if UPDATE_IMAGES:
        for name in ("docs-home.png", "docs-api.png"):
            (IMAGES / name).write_bytes((tmp_path / name).read_bytes())
