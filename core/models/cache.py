"""The response cache: SQLite on disk, keyed by a hash of everything that changes an answer.

The key comes from :func:`core.models.base.request_hash` (adapter, model, base URLs, messages,
every sampling parameter, seed). API keys never enter the key or the file. Entries older than
``ttl_s`` are misses and are fetched again.

Writes are batched (up to 64 entries or half a second, and always on ``close``), turned into JSON
and committed by a writer thread: one SQLite commit per response on the event loop was a tenth of
the call stack's CPU at 1,000+ requests/s, and the JSON another 3%. Entries not yet on disk are
served from memory, so they are never a miss.

Several processes may share the file (see :mod:`core.sqlitedb`). A storage failure (a full disk, a
damaged or read-only file) is one :class:`~core.sqlitedb.StorageError` line; one met by the writer
thread is raised by the next ``put``, ``flush`` or ``close``. A damaged file is thrown away and
started again only when asked (``discard_corrupt``: what ``prompt-tuner cache clear`` does).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ..sqlitedb import Connection, Place, StorageCorrupt, StorageError, connect
from .base import Completion

log = logging.getLogger(__name__)

SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    model TEXT NOT NULL,
    completion TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_created ON responses(created_at);
COMMIT;
"""
CORRUPT_HINT = "clear it with `prompt-tuner cache clear`, or run with --no-cache"


BATCH = 64
FLUSH_S = 0.5
# Rows a statement inserts (4 variables each; SQLite before 3.32 allows 999). One statement for
# many rows, not ``executemany``: sqlite3 lets go of the GIL around every row it steps, and each
# time the writer thread wants it back the event loop is made to stop and hand it over. With a
# row a step that stalled the loop ~64 times a batch: a third of the stack's CPU at 2,000 calls/s.
ROWS_PER_INSERT = 200
INSERT = "INSERT OR REPLACE INTO responses(key, created_at, model, completion) VALUES "


@dataclass(frozen=True)
class CacheStats:
    path: str
    entries: int
    expired: int
    bytes: int
    oldest: float | None
    newest: float | None
    by_model: dict[str, int]


class ResponseCache:
    def __init__(self, path: Path, ttl_s: float | None = None, *,
                 discard_corrupt: bool = False) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self.place = Place(path, "the response cache", "cache.path", CORRUPT_HINT)
        self._lock = threading.Lock()
        try:
            self._db = self._open(check=discard_corrupt)
        except StorageCorrupt:
            if not discard_corrupt:
                raise
            log.warning("the response cache %s was damaged; it is started again, empty", path)
            self._discard()
            self._db = self._open()
        # Writes happen on their own thread and connection (WAL lets reads go on meanwhile), so
        # a commit never stalls the event loop; entries stay readable from memory until written.
        self._write_db = connect(self.place)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-writer")
        self._pending: dict[str, tuple[float, Completion]] = {}
        self._writing: dict[str, tuple[float, Completion]] = {}
        self._failure: StorageError | None = None
        self._last_flush = time.monotonic()

    def _open(self, *, check: bool = False) -> Connection:
        """``check``: read every page first (a damaged page is otherwise found only when read)."""
        db = connect(self.place)
        try:
            db.executescript(SCHEMA)
            verdict = db.execute("PRAGMA quick_check").fetchone()[0] if check else "ok"
            if verdict != "ok":
                raise StorageCorrupt(f"{self.place.name} is damaged ({verdict})", CORRUPT_HINT)
        except BaseException:
            db.close()
            raise
        return db

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            except OSError as exc:
                raise self.place.translate(exc) or exc from None

    def get(self, key: str) -> Completion | None:
        with self._lock:
            mem = self._pending.get(key) or self._writing.get(key)
            if mem is None:
                row = self._db.execute(
                    "SELECT created_at, completion FROM responses WHERE key = ?", (key,)
                ).fetchone()
        if mem is not None:  # a Completion is immutable: the one kept is the one to answer
            created_at, completion = mem
        elif row is None:
            return None
        else:
            created_at, completion = row[0], Completion.from_json(json.loads(row[1]))
        if self.ttl_s is not None and time.time() - created_at > self.ttl_s:
            return None
        return replace(completion, cached=True)

    def put(self, key: str, completion: Completion) -> None:
        entry = (time.time(), replace(completion, cached=False) if completion.cached else completion)
        with self._lock:
            self._raise_failure()
            self._pending[key] = entry
            if len(self._pending) >= BATCH or time.monotonic() - self._last_flush > FLUSH_S:
                self._submit()

    def _submit(self) -> None:
        """Hand the pending entries to the writer thread (call with the lock held)."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        self._writing.update(batch)
        self._writer.submit(self._write, batch)

    def _write(self, batch: dict[str, tuple[float, Completion]]) -> None:
        rows = [(k, t, c.model, json.dumps(c.to_json(), ensure_ascii=False))
                for k, (t, c) in batch.items()]
        try:
            with self._write_db:
                self._write_db.execute("BEGIN IMMEDIATE")
                for start in range(0, len(rows), ROWS_PER_INSERT):
                    chunk = rows[start:start + ROWS_PER_INSERT]
                    self._write_db.execute(INSERT + ", ".join(["(?, ?, ?, ?)"] * len(chunk)),
                                           [value for row in chunk for value in row])
        except StorageError as exc:
            with self._lock:  # the entries stay served from memory; the next put says why
                self._failure = self._failure or exc
            return
        with self._lock:
            for key, entry in batch.items():
                if self._writing.get(key) is entry:
                    del self._writing[key]

    def _raise_failure(self) -> None:
        """Raise what the writer thread met (call with the lock held)."""
        if self._failure is not None:
            raise self._failure

    def flush(self) -> None:
        """Write everything pending and wait until it is on disk."""
        with self._lock:
            self._submit()
        self._writer.submit(lambda: None).result()
        with self._lock:
            self._raise_failure()

    def stats(self) -> CacheStats:
        now = time.time()
        self.flush()
        with self._lock:
            entries, oldest, newest = self._db.execute(
                "SELECT count(*), min(created_at), max(created_at) FROM responses"
            ).fetchone()
            expired = 0
            if self.ttl_s is not None:
                expired = self._db.execute(
                    "SELECT count(*) FROM responses WHERE created_at < ?", (now - self.ttl_s,)
                ).fetchone()[0]
            by_model = dict(
                self._db.execute("SELECT model, count(*) FROM responses GROUP BY model")
            )
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return CacheStats(str(self.path), entries, expired, size, oldest, newest, by_model)

    def clear(self, older_than_s: float | None = None) -> int:
        self.flush()
        with self._lock:
            if older_than_s is None:
                cur = self._db.execute("DELETE FROM responses")
            else:
                cur = self._db.execute(
                    "DELETE FROM responses WHERE created_at < ?", (time.time() - older_than_s,)
                )
            self._db.execute("VACUUM")
            return cur.rowcount

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            self.flush()
        finally:
            self._writer.shutdown(wait=True)
            self._writer = None  # type: ignore[assignment]
            self._write_db.close()
            self._db.close()
