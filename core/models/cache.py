"""The response cache: SQLite on disk, keyed by a hash of everything that changes an answer.

The key comes from :func:`core.models.base.request_hash` (adapter, model, base URLs, messages,
every sampling parameter, seed). API keys never enter the key or the file. Entries older than
``ttl_s`` are misses and are fetched again.

Writes are batched (up to 64 entries or half a second, and always on ``close``) and committed by a
writer thread: one SQLite commit per response on the event loop was a tenth of the call stack's
CPU at 1,000+ requests/s. Entries not yet on disk are served from memory, so they are never a miss.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from .base import Completion

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    model TEXT NOT NULL,
    completion TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_created ON responses(created_at);
"""


BATCH = 64
FLUSH_S = 0.5


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
    def __init__(self, path: Path, ttl_s: float | None = None) -> None:
        self.path = path
        self.ttl_s = ttl_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = self._connect()
        self._db.executescript(SCHEMA)
        # Writes happen on their own thread and connection (WAL lets reads go on meanwhile), so
        # a commit never stalls the event loop; entries stay readable from memory until written.
        self._write_db = self._connect()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-writer")
        self._pending: dict[str, tuple[float, str, str]] = {}
        self._writing: dict[str, tuple[float, str, str]] = {}
        self._last_flush = time.monotonic()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        return db

    def get(self, key: str) -> Completion | None:
        with self._lock:
            mem = self._pending.get(key) or self._writing.get(key)
            if mem is not None:
                row: tuple[float, str] | None = (mem[0], mem[2])
            else:
                row = self._db.execute(
                    "SELECT created_at, completion FROM responses WHERE key = ?", (key,)
                ).fetchone()
        if row is None:
            return None
        created_at, blob = row
        if self.ttl_s is not None and time.time() - created_at > self.ttl_s:
            return None
        return replace(Completion.from_json(json.loads(blob)), cached=True)

    def put(self, key: str, completion: Completion) -> None:
        blob = json.dumps(replace(completion, cached=False).to_json(), ensure_ascii=False)
        with self._lock:
            self._pending[key] = (time.time(), completion.model, blob)
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

    def _write(self, batch: dict[str, tuple[float, str, str]]) -> None:
        rows = [(k, t, m, b) for k, (t, m, b) in batch.items()]
        with self._write_db:
            self._write_db.executemany(
                "INSERT OR REPLACE INTO responses(key, created_at, model, completion)"
                " VALUES (?, ?, ?, ?)", rows)
        with self._lock:
            for key, entry in batch.items():
                if self._writing.get(key) is entry:
                    del self._writing[key]

    def flush(self) -> None:
        """Write everything pending and wait until it is on disk."""
        with self._lock:
            self._submit()
        self._writer.submit(lambda: None).result()

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
        self.flush()
        self._writer.shutdown(wait=True)
        self._writer = None  # type: ignore[assignment]
        self._write_db.close()
        self._db.close()
