"""The store and the response cache under conditions people meet: several processes opening a
new store at the same moment, a store nobody may write, a full disk, damaged files, and paths
that are not database files. Every failure is one line with a hint and exit 2, never an
"internal error"; read commands never create or write the store."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from core import Store
from core.cli import main
from core.models.base import Completion
from core.models.cache import ResponseCache
from core.store import MIGRATIONS
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.tuned_run import TunedRun, shared_run

pytestmark = pytest.mark.usefixtures("cli_console")

ROOT = Path(__file__).resolve().parents[1]
SENTIMENT = ROOT / "examples" / "sentiment.tune.yaml"
PROCESSES = 4


# -- several processes at once ------------------------------------------------------------------

# Each process imports what it needs, says it is ready, then waits for the word "go", so that all
# of them open the new store and cache within a millisecond or so of each other (imports alone
# take a second or more, and vary by more than a migration lasts).
STARTER = """
import os, sys, time
from pathlib import Path
{prepare}
Path(sys.argv[1]).touch()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.0005)
sys.argv = ["prompt-tuner", *sys.argv[3:]]
{body}
"""
RUN_CLI = ("from core.cli import main", "sys.exit(main())")


def start_together(code: tuple[str, str], args_per_process: list[list[str]], tmp: Path,
                   env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    go = tmp / "go"
    script = STARTER.replace("{prepare}", code[0]).replace("{body}", code[1])
    procs, ready = [], []
    for i, args in enumerate(args_per_process):
        flag = tmp / f"ready-{i}"
        ready.append(flag)
        procs.append(subprocess.Popen(
            [sys.executable, "-c", script, str(flag), str(go), *args],
            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + 120
        while not all(f.exists() for f in ready):
            assert time.monotonic() < deadline, "the processes did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        go.touch()
        done = []
        for p in procs:
            out, err = p.communicate(timeout=240)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
        return done
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_TUNER_")}
    env.update({"PYTHONPATH": str(ROOT), **extra})
    return env


def test_four_tune_processes_on_a_new_store_and_cache_all_finish(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    server.configure(reply="fixed:positive")
    spec = f"openai:fake@{server.base_url}"
    store, cache = tmp_path / "new" / "store.db", tmp_path / "cache" / "responses.db"
    args = [["tune", str(SENTIMENT), "--target", spec, "--optimizer", spec, "--examples", "2",
             "--variations", "1", "--rounds", "1", "--seed", str(i), "--store", str(store),
             "--run-dir", str(tmp_path / "runs"), "--json", "-q"] for i in range(PROCESSES)]
    done = start_together(RUN_CLI, args, tmp_path,
                          child_env(PROMPT_TUNER_CACHE__PATH=str(cache)))

    assert [p.returncode for p in done] == [0] * PROCESSES, [p.stderr for p in done]
    ids = {json.loads(p.stdout)["run_id"] for p in done}
    s = Store(store, read_only=True)
    try:
        assert {r["id"] for r in s.runs()} == ids and len(ids) == PROCESSES
        assert {r["status"] for r in s.runs()} == {"finished"}
        assert s.schema_version() == len(MIGRATIONS)
        assert [r["version"] for r in s.db["_migrations"].rows] == list(
            range(1, len(MIGRATIONS) + 1))  # each migration applied once
    finally:
        s.close()
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT count(*) FROM responses").fetchone()[0] > 0


CACHE_WRITER = ("""
from core.models.base import Completion
from core.models.cache import ResponseCache
""", """
cache = ResponseCache(Path(sys.argv[1]))
for i in range(200):
    cache.put(f"{sys.argv[2]}-{i}", Completion(text=f"answer {i}", model="m"))
cache.close()
""")


def test_four_processes_opening_a_new_response_cache_at_once_all_write_it(tmp_path: Path) -> None:
    cache = tmp_path / "fresh" / "responses.db"
    done = start_together(CACHE_WRITER, [[str(cache), f"p{i}"] for i in range(PROCESSES)],
                          tmp_path, child_env())
    assert [p.returncode for p in done] == [0] * PROCESSES, [p.stderr for p in done]
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 200 * PROCESSES


# -- one line for every mistake ---------------------------------------------------------------


def one_error_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one line, an error with a hint."""
    code = main(args)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("prompt-tuner: error: ") and lines[0].endswith(")"), err
    assert "internal error" not in err
    return lines[0]


def tune_args(store: Path, tmp: Path, spec: str = "openai:fake@http://127.0.0.1:9/v1") -> list[str]:
    """A tiny tune; the default model address is closed (these runs fail before any call)."""
    return ["tune", str(SENTIMENT), "--target", spec, "--optimizer", spec, "--examples", "2",
            "--variations", "1", "--rounds", "1", "--store", str(store), "--run-dir",
            str(tmp / "runs"), "-q"]


READ_COMMANDS = [["runs"], ["show", "last"], ["report", "last", "-o", "-"],
                 ["export", "last"], ["versions", "films"], ["lineage", "last"]]


@pytest.mark.parametrize("command", [["runs"], ["show", "last"], ["tune"]])
def test_a_device_or_a_folder_as_the_store_is_one_line(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for store, says in ((Path("/dev/null"), "it is not a regular file"),
                        (tmp_path, "it is a folder, not a file")):
        args = tune_args(store, tmp_path) if command == ["tune"] else [
            *command, "--store", str(store)]
        line = one_error_line(args, capsys)
        assert f"cannot open the store {store}: {says}" in line and "--store / store_path" in line


def test_a_damaged_store_is_named_with_how_to_move_it_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.db"
    store.write_bytes(b"this is not a database, just garbage " * 200)
    for args in (["runs", "--store", str(store)], ["show", "last", "--store", str(store)],
                 tune_args(store, tmp_path)):
        line = one_error_line(args, capsys)
        assert f"the store {store} is damaged" in line and f"mv {store} {store}.broken" in line
    assert store.read_bytes().startswith(b"this is not a database")  # left as it was


def test_a_store_damaged_inside_is_one_line_when_a_read_reaches_the_damage(
    tuned: TunedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = copy_store(tuned, tmp_path / "s")
    with sqlite3.connect(store) as db:
        size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'candidates'").fetchone()[0]
    db.close()
    with store.open("r+b") as f:  # the header is fine; the candidates table's first page is not
        f.seek((root - 1) * size)
        f.write(b"\xff" * size)
    assert main(["runs", "--store", str(store)]) == 0  # what does not touch the damage still works
    capsys.readouterr()
    line = one_error_line(["show", "last", "--store", str(store)], capsys)
    assert f"the store {store} is damaged (database disk image is malformed)" in line
    assert f"mv {store} {store}.broken" in line


def test_a_damaged_cache_says_so_and_cache_clear_starts_it_again(
    fake_server: StartFakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "cache" / "responses.db"
    cache.parent.mkdir()
    cache.write_bytes(os.urandom(8192))
    monkeypatch.setenv("PROMPT_TUNER_CACHE__PATH", str(cache))
    server = fake_server("openai")
    server.configure(reply="fixed:positive")
    args = tune_args(tmp_path / "store.db", tmp_path, f"openai:fake@{server.base_url}")

    line = one_error_line(args, capsys)
    assert f"the response cache {cache} is damaged" in line
    assert "prompt-tuner cache clear" in line and "--no-cache" in line
    assert one_error_line(["cache", "stats"], capsys) == line

    assert main(["cache", "clear"]) == 0
    assert "removed 0 cached responses" in capsys.readouterr().out
    assert main(args) == 0  # the cache works again
    assert main(["cache", "stats"]) == 0
    assert "entries: 0" not in capsys.readouterr().out


def test_cache_clear_also_starts_a_cache_damaged_inside_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "responses.db"
    cache = ResponseCache(path)
    for i in range(300):
        cache.put(f"k{i}", Completion(text="an answer " * 20, model="m"))
    cache.close()
    with sqlite3.connect(path) as db:
        size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'responses'").fetchone()[0]
    db.close()
    with path.open("r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xff" * size)
    monkeypatch.setenv("PROMPT_TUNER_CACHE__PATH", str(path))

    line = one_error_line(["cache", "stats"], capsys)
    assert f"the response cache {path} is damaged" in line and "cache clear" in line
    assert main(["cache", "clear"]) == 0
    assert main(["cache", "stats"]) == 0
    assert "entries: 0 " in capsys.readouterr().out


@contextmanager
def full_disk(monkeypatch: pytest.MonkeyPatch, path: Path) -> Iterator[None]:
    """Every connection to ``path`` may not grow the file by one page (``max_page_count`` below
    the size clamps to the size): SQLite's own SQLITE_FULL, as on a full disk."""
    real = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = real(database, *args, **kwargs)
        if str(database) == str(path):
            conn.execute("PRAGMA max_page_count = 1")
        return conn

    with monkeypatch.context() as mp:
        mp.setattr(sqlite3, "connect", connect)
        yield


def test_a_full_disk_under_the_store_is_one_line(
    fake_server: StartFakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = tmp_path / "store.db"
    Store(store).close()
    server = fake_server("openai")
    server.configure(reply="fixed:positive")
    with full_disk(monkeypatch, store):
        args = tune_args(store, tmp_path, f"openai:fake@{server.base_url}")
        line = one_error_line([*args, "--no-cache"], capsys)
    assert f"the disk is full: cannot write the store {store}" in line and "free some" in line


def test_a_full_disk_under_the_cache_is_one_line(
    fake_server: StartFakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "responses.db"
    ResponseCache(cache).close()
    monkeypatch.setenv("PROMPT_TUNER_CACHE__PATH", str(cache))
    server = fake_server("openai")
    server.configure(reply="fixed:" + "positive " * 600)  # no answer fits in a free page
    with full_disk(monkeypatch, cache):
        line = one_error_line(tune_args(tmp_path / "store.db", tmp_path,
                                         f"openai:fake@{server.base_url}"), capsys)
    assert f"the disk is full: cannot write the response cache {cache}" in line


# -- read-only stores -----------------------------------------------------------------------------

_CAP_VERSION_3 = 0x20080522
_DAC_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


@contextmanager
def file_permissions_apply() -> Iterator[None]:
    """Make this thread obey file modes. Root ignores them (CAP_DAC_OVERRIDE), so as root the
    capabilities that override them leave the thread's effective set for the block (threads it
    starts inherit that) and come back afterwards."""
    if os.geteuid() != 0:
        yield
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        header, data = _CapHeader(_CAP_VERSION_3, 0), (_CapData * 2)()
        if libc.capget(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capget")
    except (OSError, AttributeError) as exc:
        pytest.skip(f"cannot drop root's file-permission override here: {exc}")
    saved = data[0].effective
    for cap in _DAC_CAPS:
        data[0].effective &= ~(1 << cap)
    assert libc.capset(ctypes.byref(header), data) == 0
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)), data) == 0


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Files r--, folders r-x, for the block."""
    modes = {p: p.stat().st_mode for p in paths}
    try:
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        with file_permissions_apply():
            yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TunedRun]:
    with shared_run(tmp_path_factory) as run:
        yield run


def copy_store(run: TunedRun, folder: Path) -> Path:
    """The run's store alone in ``folder``, closed cleanly (no -wal or -shm beside it)."""
    folder.mkdir()
    store = folder / "store.db"
    shutil.copyfile(run.store, store)
    assert not store.with_name("store.db-wal").exists()
    return store


def test_read_commands_work_on_a_store_nobody_may_write_and_change_nothing(
    tuned: TunedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = copy_store(tuned, tmp_path / "shared")
    before = store.read_bytes()
    with read_only(store, store.parent):
        for command in [*READ_COMMANDS, ["diff", "last", "best"]]:
            code = main([*command, "--store", str(store)])
            out, err = capsys.readouterr()
            assert code == 0, (command, err)
            assert out
    assert sorted(p.name for p in store.parent.iterdir()) == ["store.db"]
    assert store.read_bytes() == before


def test_read_commands_never_create_a_store(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "none" / "store.db"
    for command in READ_COMMANDS:
        line = one_error_line([*command, "--store", str(store)], capsys)
        assert f"no store at {store}" in line
    assert not store.parent.exists()


def test_a_write_command_on_a_read_only_store_is_one_line_before_any_model_call(
    tuned: TunedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    fake_server: StartFakeServer,
) -> None:
    server = fake_server("openai")
    store = copy_store(tuned, tmp_path / "shared")
    args = tune_args(store, tmp_path, f"openai:fake@{server.base_url}")
    with read_only(store):
        line = one_error_line(args, capsys)
    assert f"cannot write the store {store}: the file is not writable" in line
    with read_only(store.parent):
        line = one_error_line(args, capsys)
    assert f"the store {store}: its folder {store.parent} is not writable" in line
    assert server.requests() == []


def test_a_new_store_in_a_folder_nobody_may_write_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_server: StartFakeServer,
) -> None:
    server = fake_server("openai")
    folder = tmp_path / "locked"
    folder.mkdir()
    store = folder / "sub" / "store.db"
    for target in (folder / "store.db", store):
        with read_only(folder):
            line = one_error_line(tune_args(target, tmp_path, f"openai:fake@{server.base_url}"),
                                  capsys)
        assert f"the store {target}" in line and f"the folder {folder} is not writable" in line
    assert list(folder.iterdir()) == [] and server.requests() == []


def old_store(path: Path, version: int) -> None:
    """A store as an older prompt-tuner left it: the first ``version`` migrations."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, applied_at FLOAT)")
    import sqlite_utils

    sdb = sqlite_utils.Database(db)
    for number, migration in enumerate(MIGRATIONS[:version], start=1):
        migration(sdb)
        db.execute("INSERT INTO _migrations VALUES (?, 0)", [number])
    db.execute("INSERT INTO runs (id, task_name, status, created_at) VALUES "
               "('old-run', 'films', 'finished', 1)")
    db.close()


def test_an_older_store_is_upgraded_by_a_read_command_when_it_may_write_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.db"
    old_store(store, 1)
    assert main(["runs", "--store", str(store)]) == 0
    assert "old-run" in capsys.readouterr().out
    s = Store(store, read_only=True)
    try:
        assert s.schema_version() == len(MIGRATIONS)
    finally:
        s.close()


def test_an_older_store_nobody_may_write_says_how_to_upgrade_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "shared" / "store.db"
    store.parent.mkdir()
    old_store(store, 3)
    before = store.read_bytes()
    with read_only(store, store.parent):
        line = one_error_line(["runs", "--store", str(store)], capsys)
    assert (f"the store {store} has schema v3, older than this prompt-tuner "
            f"(v{len(MIGRATIONS)})") in line
    assert "where it may write the file" in line
    assert store.read_bytes() == before
