"""The response cache: SQLite on disk, keyed by a hash of everything that changes an answer.

The key comes from :func:`core.models.base.request_hash` (adapter, model, base URLs, messages,
every sampling parameter, seed). API keys never enter the key or the file. Entries older than
``ttl_s`` are misses and are fetched again.

Writes are batched (up to 64 entries or half a second, and always on ``close``): one SQLite commit
per response was a tenth of the call stack's CPU at 1,000+ requests/s. Pending entries are
served from memory, so a batched write is never a miss.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
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
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._pending: dict[str, tuple[float, str, str]] = {}
        self._last_flush = time.monotonic()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._pending.get(key)
            if row is not None:
                row = (row[0], row[2])
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
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            rows = [(k, t, m, b) for k, (t, m, b) in self._pending.items()]
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO responses(key, created_at, model, completion)"
                    " VALUES (?, ?, ?, ?)", rows)
            self._pending.clear()
        self._last_flush = time.monotonic()

    def stats(self) -> CacheStats:
        now = time.time()
        with self._lock:
            self._flush()
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
        with self._lock:
            self._flush()
            if older_than_s is None:
                cur = self._db.execute("DELETE FROM responses")
            else:
                cur = self._db.execute(
                    "DELETE FROM responses WHERE created_at < ?", (time.time() - older_than_s,)
                )
            self._db.execute("VACUUM")
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._flush()
            self._db.close()
