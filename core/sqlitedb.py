"""Opening a SQLite database the way every part of prompt-tuner does (WAL, a busy timeout, one
clear error line) and bringing its schema up to date with numbered migrations."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlite_utils

from .errors import PromptTunerError

Migration = Callable[[sqlite_utils.Database], None]


def open_database(path: Path, what: str, setting: str) -> sqlite_utils.Database:
    """``what`` names the database in errors ("the store"), ``setting`` the option that moves it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
    except (OSError, sqlite3.DatabaseError) as exc:
        raise PromptTunerError(f"cannot open {what} {path}: {exc}",
                               f"check {setting} and its permissions") from None
    return db


def schema_version(db: sqlite_utils.Database) -> int:
    if "_migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT max(version) FROM _migrations").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite_utils.Database, migrations: Sequence[Migration], what: str,
            setting: str) -> None:
    """Apply the migrations not yet applied, each in its own transaction; refuse a database
    written by a newer version."""
    current = schema_version(db)
    if current > len(migrations):
        raise PromptTunerError(f"{what} has schema v{current}, newer than this prompt-tuner "
                               f"(v{len(migrations)})", f"upgrade prompt-tuner or change {setting}")
    for version, migration in enumerate(migrations[current:], start=current + 1):
        with db.conn:
            db.execute("BEGIN")
            if "_migrations" not in db.table_names():
                db.table("_migrations").create({"version": int, "applied_at": float},
                                               pk="version")
            migration(db)
            db.table("_migrations").insert({"version": version, "applied_at": time.time()})
