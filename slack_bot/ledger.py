"""The bot's own memory, on disk beside the core's store (never inside it): which Slack thread
and progress message belong to which run, and which Slack requests were already taken.

It is what lets a restarted bot finish a run in the thread it started in, and what makes a
request that Slack retries start nothing the second time. SQLite via sqlite-utils, WAL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import sqlite_utils

from core import migrate_database, open_database

ACTIVE = ("starting", "running")


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("threads").create({
        "run_id": str, "kind": str, "channel": str, "thread_ts": str, "progress_ts": str,
        "user_id": str, "task_name": str, "status": str, "budget": int, "request_json": str,
        "created_at": float, "updated_at": float, "report_posted": int,
    }, pk="run_id")
    db.table("threads").create_index(["status"])
    db.table("requests").create({"key": str, "run_id": str, "created_at": float}, pk="key")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m001_initial]


@dataclass
class ThreadRecord:
    """One run (a tune or an A/B test) and where in Slack it is shown."""

    run_id: str
    kind: str                    # tune | compare
    channel: str
    user_id: str
    task_name: str
    budget: int
    request: dict[str, Any] = field(default_factory=dict)  # enough to start it again
    thread_ts: str | None = None  # the parent message: every later post goes in its thread
    progress_ts: str | None = None
    status: str = "starting"      # starting | running | finished | failed | cancelled
    report_posted: bool = False
    created_at: float = field(default_factory=time.time)

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        data["request_json"] = json.dumps(data.pop("request"), ensure_ascii=False, sort_keys=True)
        data["report_posted"] = int(self.report_posted)
        data["updated_at"] = time.time()
        return data

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ThreadRecord:
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in row.items() if k in names}
        data["request"] = json.loads(row.get("request_json") or "{}")
        data["report_posted"] = bool(row.get("report_posted"))
        return cls(**data)


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_database(path, "the bot's ledger", "db_path")
        migrate_database(self.db, MIGRATIONS, f"the bot's ledger {path}", "db_path")

    # -- requests Slack may send twice ----------------------------------------------------------
    def claim(self, key: str, run_id: str | None = None) -> bool:
        """True the first time ``key`` is seen (then it is remembered); False on a repeat."""
        cur = self.db.execute("INSERT OR IGNORE INTO requests (key, run_id, created_at) "
                              "VALUES (?, ?, ?)", [key, run_id, time.time()])
        return cur.rowcount == 1

    # -- threads -------------------------------------------------------------------------------------
    def add(self, record: ThreadRecord) -> None:
        self.db.table("threads").insert(record.row(), replace=True)

    def update(self, run_id: str, **changes: Any) -> None:
        if "report_posted" in changes:
            changes["report_posted"] = int(changes["report_posted"])
        self.db.table("threads").update(run_id, {**changes, "updated_at": time.time()})

    def get(self, run_id: str) -> ThreadRecord | None:
        rows = list(self.db.table("threads").rows_where("run_id = ?", [run_id]))
        return ThreadRecord.from_row(rows[0]) if rows else None

    def find(self, prefix: str) -> list[ThreadRecord]:
        rows = self.db.table("threads").rows_where("run_id LIKE ? ESCAPE '\\'",
                                                   [_like(prefix) + "%"], order_by="created_at")
        return [ThreadRecord.from_row(r) for r in rows]

    def unfinished(self) -> list[ThreadRecord]:
        """Runs the bot had not finished when it stopped (oldest first)."""
        rows = self.db.table("threads").rows_where("status in ('starting', 'running')",
                                                   order_by="created_at")
        return [ThreadRecord.from_row(r) for r in rows]

    def recent(self, limit: int = 10, user_id: str | None = None) -> list[ThreadRecord]:
        where, args = ("user_id = ?", [user_id]) if user_id else (None, [])
        rows = self.db.table("threads").rows_where(where, args, order_by="created_at desc",
                                                   limit=limit)
        return [ThreadRecord.from_row(r) for r in rows]

    def reserved_calls(self, since: float, *, user_id: str | None = None,
                       channel: str | None = None) -> int:
        """Model calls reserved by runs started since ``since`` (by a person, or in a channel)."""
        where, args = "created_at >= ?", list[Any]([since])
        if user_id is not None:
            where, args = where + " AND user_id = ?", [*args, user_id]
        if channel is not None:
            where, args = where + " AND channel = ?", [*args, channel]
        row = self.db.execute(f"SELECT coalesce(sum(budget), 0) FROM threads WHERE {where}",
                              args).fetchone()
        return int(row[0])

    def close(self) -> None:
        self.db.conn.close()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
