"""``prompt-tuner view``: a read-only web page over a real store (a real tune against the fake
OpenAI server, plus reviews and a version written by people, some of it hostile HTML), served on
127.0.0.1 and read with httpx and headless Chromium. Every page linked from the home page
answers, escapes what people and models wrote, loads nothing from elsewhere and logs no error;
the server refuses other methods, other hosts and unknown ids, and never writes the store. The
screenshot ``docs/images/view.png`` is written when ``PROMPT_TUNER_UPDATE_DOCS_IMAGES=1``."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from core import Store, task_versions
from core.cli import main
from core.viewer import csp, make_server
from tests.fakes.tuned_run import shared_run

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMAGE = ROOT / "docs" / "images" / "view.png"
# read at import: the suite's autouse fixture clears PROMPT_TUNER_* before every test
UPDATE_IMAGES = os.environ.get("PROMPT_TUNER_UPDATE_DOCS_IMAGES") == "1"
HOSTILE_AUTHOR = "<script>alert('author')</script>Mallory"
HOSTILE_PROMPT = "<img src=x onerror=alert(1)> Ignore the review. {{ text }}</pre><b>bold</b>"


@dataclass(frozen=True)
class Served:
    base: str
    port: int
    store: Path
    digest: str          # the store's bytes before the server started
    best_version: int    # the version the run returned


def digest(store: Path) -> str:
    """The bytes of the database and of its write-ahead log (none: empty). A reader of a WAL
    database may create an empty -wal and the -shm index beside it: they hold no data."""
    wal = store.with_name(store.name + "-wal")
    return hashlib.sha256(store.read_bytes() + b"\0" + (wal.read_bytes() if wal.exists() else b"")
                          ).hexdigest()


def add_people(store_path: Path, run_id: str) -> int:
    """Two reviews of the returned prompt, a hostile reviewer and a hostile version written by
    a person; returns the returned prompt's version number."""
    store = Store(store_path)
    try:
        best = str(store.get_run(run_id)["best_id"])
        store.add_review("films", best, reviewer="Ann Lee", verdict="approve", run_id=run_id,
                         source="slack", comment="Clear and short; ship it.")
        store.add_review("films", best, reviewer="Bo", verdict="comment", run_id=run_id,
                         source="cli", comment="Maybe say 'film' instead of 'review'?")
        store.save_version("films", messages=[{"role": "user", "content": HOSTILE_PROMPT}],
                           candidate_id="manual0hostile", parents=[best], author=HOSTILE_AUTHOR)
        store.add_review("films", "manual0hostile", reviewer=HOSTILE_AUTHOR, verdict="edit",
                         source="slack", comment="<a href='https://evil.example/'>see</a>")
        number = next(v.version for v in task_versions(store, "films") if v.id == best)
    finally:
        store.close()
    return number


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with shared_run(tmp_path_factory) as run:
        best = add_people(run.store, run.run_id)
        before = digest(run.store)
        server = make_server(run.store, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = int(server.server_address[1])
        try:
            yield Served(f"http://127.0.0.1:{port}", port, run.store, before, best)
        finally:
            server.shutdown()
            server.server_close()


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


def crawl(base: str) -> dict[str, httpx.Response]:
    """Every page reachable from the home page by links on the site."""
    seen: dict[str, httpx.Response] = {}
    todo = ["/"]
    with httpx.Client(base_url=base, timeout=30) as client:
        while todo and len(seen) < 300:
            path = todo.pop()
            if path in seen:
                continue
            response = seen[path] = client.get(path)
            parser = Links()
            parser.feed(response.text)
            for link in parser.links:
                assert link.startswith("/"), f"{path} links outside the site: {link}"
                if link not in seen:
                    todo.append(link)
    return seen


@pytest.fixture(scope="module")
def pages(served: Served) -> dict[str, httpx.Response]:
    return crawl(served.base)


def kind(path: str) -> str:
    match urlsplit(path).path.strip("/").split("/"):
        case [""]:
            return "home"
        case ["tasks", _]:
            return "task"
        case ["tasks", _, "versions", _]:
            return "version"
        case ["runs", _]:
            return "run"
        case ["runs", _, "report"]:
            return "report"
    return "?"


def test_every_page_linked_from_home_answers_with_a_strict_policy(
        pages: dict[str, httpx.Response], served: Served) -> None:
    assert {path: r.status_code for path, r in pages.items() if r.status_code != 200} == {}
    kinds = [kind(p) for p in pages]
    assert "?" not in kinds
    assert kinds.count("home") == kinds.count("task") == kinds.count("run") == 1
    assert kinds.count("report") == 1
    # five prompts of the run and one a person wrote, each against every other (?against=)
    assert kinds.count("version") == 6 * 6
    for path, r in pages.items():
        policy = r.headers["content-security-policy"]
        assert policy.startswith("default-src 'none'; style-src 'sha256-"), path
        assert "unsafe" not in policy and "http" not in policy, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert "<script" not in r.text.lower(), path


def test_the_pages_show_versions_diffs_reviews_and_the_report(
        pages: dict[str, httpx.Response], served: Served) -> None:
    task = pages["/tasks/films"].text
    assert "Ann Lee" in task and "Clear and short; ship it." in task
    assert f'<a href="/tasks/films/versions/{served.best_version}"><b>v{served.best_version}' in task
    version = pages[f"/tasks/films/versions/{served.best_version}"].text
    assert "<del>" in version and "<ins>" in version  # a word diff against its parent
    assert "Answer with exactly one word" in version and "Ann Lee" in version
    run_page = next(r.text for p, r in pages.items() if kind(p) == "run")
    assert "Full report" in run_page and "returned" in run_page
    report = next(r.text for p, r in pages.items() if p.endswith("/report"))
    assert 'data-chart="rounds"' in report  # the run's own HTML report, charts and all


def test_a_versions_best_score_is_the_one_the_cli_shows(
        pages: dict[str, httpx.Response], served: Served) -> None:
    store = Store.existing(served.store)
    try:
        versions = task_versions(store, "films")
    finally:
        store.close()
    rows = pages["/tasks/films"].text.split("<b>v")[1:]
    shown = {int(row.split("<", 1)[0]): row.split('<td class="num">')[2].split("<", 1)[0]
             for row in rows}
    assert shown == {v.version: "—" if v.score is None else v.score.fmt() for v in versions}
    assert len(set(shown.values())) >= 4


def test_what_people_and_models_wrote_is_escaped(pages: dict[str, httpx.Response]) -> None:
    task = pages["/tasks/films"].text
    assert "&lt;script&gt;alert(&#39;author&#39;)&lt;/script&gt;Mallory" in task
    assert "&lt;a href=&#39;https://evil.example/&#39;&gt;see&lt;/a&gt;" in task
    hostile = next(r.text for p, r in pages.items() if kind(p) == "version"
                   and "&lt;img src=x onerror=alert(1)&gt;" in r.text)
    assert "<img" not in hostile and "<b>bold</b>" not in hostile
    assert "&lt;/pre&gt;&lt;b&gt;bold&lt;/b&gt;" in hostile


@pytest.mark.parametrize("path", [
    "/nothing", "/tasks/nope", "/tasks/films/versions/999", "/tasks/films/versions/v0",
    "/tasks/films/versions/1?against=77", "/runs/nope", "/runs/nope/report",
    "/runs/manual:films", "/tasks/films/extra/1", "/tasks/%3Cscript%3E"])
def test_a_path_that_names_nothing_is_a_short_404_page(served: Served, path: str) -> None:
    r = httpx.get(served.base + path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>404 Not Found</h1>" in r.text and "<script" not in r.text
    assert len(r.text) < 12_000


def test_a_prefix_of_a_run_id_is_not_a_run(served: Served, pages: dict[str, httpx.Response]
                                            ) -> None:
    run = next(p for p in pages if kind(p) == "run")
    assert httpx.get(served.base + run).status_code == 200
    assert httpx.get(served.base + run[:-3]).status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head_are_answered(served: Served, method: str) -> None:
    r = httpx.request(method, served.base + "/", content=b"x=1")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"


def test_head_answers_headers_without_a_body(served: Served) -> None:
    r = httpx.head(served.base + "/tasks/films")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 1000


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1",
                                  "localhost.evil.example:{port}", "", "192.168.0.7:{port}"])
def test_a_host_header_other_than_this_server_is_refused(served: Served, host: str) -> None:
    with httpx.Client() as client:
        request = client.build_request("GET", served.base + "/tasks/films")
        request.headers["Host"] = host.format(port=served.port)
        r = client.send(request)
    assert r.status_code == 421
    assert "Ann Lee" not in r.text


@pytest.mark.parametrize("host", ["localhost:{port}", "LOCALHOST:{port}", "127.0.0.1:{port}"])
def test_the_loopback_names_of_this_server_are_answered(served: Served, host: str) -> None:
    r = httpx.get(served.base + "/", headers={"Host": host.format(port=served.port)})
    assert r.status_code == 200


def test_browsing_never_writes_the_store(served: Served) -> None:
    crawl(served.base)
    httpx.post(served.base + "/tasks/films", content=b"verdict=approve")
    assert digest(served.store) == served.digest


def test_the_policy_allows_only_the_pages_own_stylesheet() -> None:
    page = ("<html><head><title>&lt;style&gt;</title><style>b{}</style></head>"
            "<body><style>i{}</style></body></html>")
    policy = csp(page)
    head = base64.b64encode(hashlib.sha256(b"b{}").digest()).decode()
    assert f"style-src 'sha256-{head}';" in policy
    assert policy.count("'sha256-") == 1  # not the body's: stored text goes there
    assert csp("<p>no head</p>").startswith("default-src 'none'; img-src")


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")
def test_every_page_renders_in_chromium_without_errors_or_requests_elsewhere(
        served: Served, pages: dict[str, httpx.Response], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requested: list[str] = []
    shot = tmp_path / "view.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"{page.url}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.on("request", lambda r: requested.append(r.url))
            for path in pages:
                response = page.goto(served.base + path, wait_until="load")
                assert response is not None and response.status == 200, path
                assert page.locator("h1").count() == 1, path
            page.goto(f"{served.base}/tasks/films/versions/{served.best_version}",
                      wait_until="load")
            width = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert len(requested) > len(pages)
    assert {urlsplit(u).hostname for u in requested} == {"127.0.0.1"}
    assert width <= 1280  # nothing pushes the page sideways
    assert shot.stat().st_size > 30_000
    if UPDATE_IMAGES:
        DOCS_IMAGE.write_bytes(shot.read_bytes())


# -- the command ----------------------------------------------------------------------------------


def test_the_command_prints_its_address_and_serves_until_interrupted(served: Served) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())",
         "view", "--port", "0", "--store", str(served.store)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"serving {served.store} read-only at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].split()[0]
        r = httpx.get(url + "tasks/films", timeout=30)
        assert r.status_code == 200 and "Ann Lee" in r.text
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.com", "::"])
def test_a_host_others_can_reach_needs_allow_remote(
        host: str, served: Served, capsys: pytest.CaptureFixture[str], cli_console: None) -> None:
    assert main(["view", "--host", host, "--port", "0", "--store", str(served.store)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"prompt-tuner: error: --host {host} is not a loopback address")
    assert "--allow-remote" in err


def test_no_store_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          cli_console: None) -> None:
    assert main(["view", "--port", "0", "--store", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prompt-tuner: error: no store at ") and len(err.splitlines()) == 1
    assert not (tmp_path / "none.db").exists()
