"""Opening a SQLite database the way every part of prompt-tuner does, and bringing its schema up
to date with numbered migrations.

- Safe to open from several processes at once: the busy timeout holds from the first statement,
  the file is in WAL mode, and migrations run under ``BEGIN IMMEDIATE`` with the schema version
  read again inside that write transaction, so two processes opening a new database at the same
  moment wait for each other instead of failing with "database is locked".
- ``read_only=True`` opens with ``mode=ro``: nothing is created or changed, and a file nobody may
  write (or one in a folder nobody may write) can still be read.
- Every failure a person can act on (a full disk, a damaged file, a read-only file or folder, a
  lock held too long, a path that is a folder or a device) is a :class:`StorageError`: one line
  that names the file, with a hint. The connection itself translates SQLite's errors, so this
  holds for every statement, not only for opening.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import sqlite_utils

from .errors import PromptTunerError

Migration = Callable[[sqlite_utils.Database], None]

BUSY_TIMEOUT_S = 30.0  # how long a statement waits for another process's write lock


class StorageError(PromptTunerError):
    """A database file cannot be opened, read or written (the message names the file)."""


class StorageFull(StorageError):
    """The disk (or the database's size limit) is full."""


class StorageCorrupt(StorageError):
    """The file is not a SQLite database, or a damaged one."""


class StorageReadOnly(StorageError):
    """A command that writes met a file or folder it may not write."""


class StorageBusy(StorageError):
    """Another process held the database's lock for longer than the busy timeout."""


@dataclass(frozen=True)
class Place:
    """A database file and how to speak about it in errors: ``what`` ("the store"), ``setting``
    (the option that moves it) and what to do when the file is damaged."""

    path: Path
    what: str
    setting: str
    corrupt_hint: str = ""

    @property
    def name(self) -> str:
        return f"{self.what} {self.path}"

    def translate(self, exc: sqlite3.Error | OSError, *, write: bool = True) -> StorageError | None:
        """The error a person sees for ``exc``, or None when it is not a storage problem (a bug:
        bad SQL, a constraint) and should stay what it is."""
        if isinstance(exc, OSError):
            why = problem(self.path, write=write) or exc.strerror or str(exc)
            return StorageError(f"cannot open {self.name}: {why}",
                                f"check {self.setting} and its permissions")
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code == sqlite3.SQLITE_FULL:
            return StorageFull(f"the disk is full: cannot write {self.name}",
                               f"free some space on its disk, or point {self.setting} elsewhere")
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return StorageCorrupt(f"{self.name} is damaged ({exc})", self.corrupt_hint or (
                f"move it aside (e.g. rename it to {self.path.name}.broken) and run again; "
                "a new one is started"))
        if code == sqlite3.SQLITE_READONLY:
            why = problem(self.path, write=True) or "it is read-only"
            return StorageReadOnly(f"cannot write {self.name}: {why}",
                                   f"make it writable, or point {self.setting} at a writable place")
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) and "locked" in str(exc):
            return StorageBusy(f"{self.name} is locked by another process (waited "
                               f"{BUSY_TIMEOUT_S:.0f} s)", "let the other prompt-tuner finish, then "
                               "try again")
        if code == sqlite3.SQLITE_CANTOPEN:
            why = problem(self.path, write=write) or str(exc)
            cls = StorageReadOnly if why.endswith(NOT_WRITABLE) else StorageError
            return cls(f"cannot open {self.name}: {why}", f"check {self.setting} and its permissions")
        if code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH,
                    sqlite3.SQLITE_NOLFS, sqlite3.SQLITE_PROTOCOL):
            return StorageError(f"cannot read or write {self.name}: {exc}",
                                f"check the disk and {self.setting}")
        return None


NOT_WRITABLE = "is not writable"


def problem(path: Path, *, write: bool) -> str | None:
    """What is wrong with ``path`` as a database file, in words, when the file system can tell."""
    try:
        if path.is_dir():
            return "it is a folder, not a file"
        if path.exists():
            if not path.is_file():
                return "it is not a regular file"
            if write and not _may_write(path):
                return f"the file {NOT_WRITABLE}"
            if write and not _may_write(path.parent):
                return f"its folder {path.parent} {NOT_WRITABLE}"  # the -wal and -shm files go there
            return None
        folder = next((p for p in path.parents if p.exists()), None)
        if folder is not None and not folder.is_dir():
            return f"{folder} is not a folder"
        if write and folder is not None and not _may_write(folder):
            return f"the folder {folder} {NOT_WRITABLE}"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _may_write(path: Path) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK, effective_ids=True)
    return os.access(path, os.W_OK)


class Connection(sqlite3.Connection):
    """A connection whose storage failures are :class:`StorageError` lines naming the file
    (statements, fetched rows, and the commit of ``with conn:``)."""

    place: Place | None = None  # set by connect(); None only while it sets the connection up
    write = True

    def _fail(self, exc: sqlite3.Error) -> StorageError | sqlite3.Error:
        if self.place is None:
            return exc
        return self.place.translate(exc, write=self.write) or exc

    def cursor(self, factory: Any = None) -> Any:
        cur = super().cursor(factory or Cursor)
        if isinstance(cur, Cursor):
            cur.place, cur.write = self.place, self.write
        return cur

    # sqlite3's own shortcuts make a plain cursor; these make ours, whose rows are checked too
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        cur: Cursor = self.cursor()
        return cur.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        cur: Cursor = self.cursor()
        return cur.executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        cur: Cursor = self.cursor()
        return cur.executescript(script)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None, /) -> Literal[False]:
        if kind is None:
            self.commit()
        elif self.in_transaction:
            self.rollback()
        return False


class Cursor(sqlite3.Cursor):
    place: Place | None = None  # set by connect(); None only while it sets the connection up
    write = True

    def _fail(self, exc: sqlite3.Error) -> StorageError | sqlite3.Error:
        if self.place is None:
            return exc
        return self.place.translate(exc, write=self.write) or exc

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Cursor:
        try:
            return super().executemany(sql, seq_of_parameters)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def executescript(self, sql_script: str, /) -> Cursor:
        try:
            super().executescript(sql_script)
            return self
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(size)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc


def connect(place: Place, *, read_only: bool = False) -> Connection:
    """A checked connection to ``place`` in autocommit mode (``BEGIN`` explicitly), usable from
    any thread. Creates the file and its folder unless ``read_only``; the first statement has
    run, so a damaged or unreadable file fails here."""
    path = place.path
    what = problem(path, write=False)
    if what is not None and (path.exists() or not read_only):
        raise StorageError(f"cannot open {place.name}: {what}",
                           f"point {place.setting} at a SQLite file")
    if read_only and not path.exists():
        raise StorageError(f"cannot open {place.name}: it does not exist", f"check {place.setting}")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise place.translate(exc) or exc from None
    conn = _open(place, read_only)
    try:
        if read_only:
            conn.execute("PRAGMA query_only = ON")
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except StorageError as exc:
                if isinstance(exc, StorageCorrupt | StorageBusy) or _may_write(path.parent):
                    raise
                # A WAL file in a folder nobody may write, with no -shm beside it: SQLite cannot
                # share the WAL index, but nobody can be writing either (a writer needs that
                # folder for its -wal file), so read the file as it is.
                conn.close()
                conn = _open(place, read_only, immutable=True)
                conn.execute("PRAGMA query_only = ON")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        else:
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: Connection) -> None:
    """Switch a new file to WAL. The switch needs the file to itself, and SQLite answers "locked"
    at once, without waiting, when another process is switching it at the same moment (waiting
    could deadlock); so wait here, up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except StorageBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _open(place: Place, read_only: bool, *, immutable: bool = False) -> Connection:
    if read_only:
        target, uri = place.path.resolve().as_uri() + "?mode=ro" + (
            "&immutable=1" if immutable else ""), True
    else:
        target, uri = str(place.path), False
    try:
        # timeout= sets the busy timeout before any statement runs (journal_mode=WAL included)
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False, uri=uri, factory=Connection)
    except sqlite3.Error as exc:
        raise place.translate(exc, write=not read_only) or exc from None
    assert isinstance(conn, Connection)
    conn.place, conn.write = place, not read_only
    return conn


def open_database(path: Path, what: str, setting: str, *, read_only: bool = False,
                  corrupt_hint: str = "") -> sqlite_utils.Database:
    """``what`` names the database in errors ("the store"), ``setting`` the option that moves it,
    ``corrupt_hint`` what to do with a damaged file.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import StorageCorrupt, open_database
        >>> path = Path(tempfile.mkdtemp()) / "notes.db"
        >>> db = open_database(path, "the notes", "notes_path")
        >>> db["notes"].insert({"id": 1, "text": "first"}, pk="id").count
        1
        >>> db.conn.close()
        >>> _ = path.write_bytes(b"not a database" * 100)
        >>> try:
        ...     open_database(path, "the notes", "notes_path", corrupt_hint="delete it").table_names()
        ... except StorageCorrupt as exc:
        ...     print(exc.hint)
        delete it
    """
    return sqlite_utils.Database(connect(Place(path, what, setting, corrupt_hint),
                                         read_only=read_only))


def schema_version(db: sqlite_utils.Database) -> int:
    if "_migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT max(version) FROM _migrations").fetchone()
    return int(row[0] or 0)


def _refuse_newer(current: int, migrations: Sequence[Migration], what: str, setting: str) -> None:
    if current > len(migrations):
        raise PromptTunerError(f"{what} has schema v{current}, newer than this prompt-tuner "
                               f"(v{len(migrations)})", f"upgrade prompt-tuner or change {setting}")


def migrate(db: sqlite_utils.Database, migrations: Sequence[Migration], what: str,
            setting: str) -> None:
    """Apply the migrations not yet applied, all in one ``BEGIN IMMEDIATE`` transaction in which
    the version is read (so concurrent openers apply each migration once, and a read-only file
    fails here, before any work); refuse a database written by a newer version.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import migrate_database, open_database
        >>> db = open_database(Path(tempfile.mkdtemp()) / "notes.db", "the notes", "notes_path")
        >>> def notes(db):
        ...     db["notes"].create({"id": int, "text": str}, pk="id")
        >>> def tags(db):
        ...     db["notes"].add_column("tags", str)
        >>> migrate_database(db, [notes], "the notes", "notes_path")
        >>> migrate_database(db, [notes, tags], "the notes", "notes_path")  # only tags runs
        >>> db["notes"].columns_dict, db.execute("SELECT max(version) FROM _migrations").fetchone()
        ({'id': <class 'int'>, 'text': <class 'str'>, 'tags': <class 'str'>}, (2,))
        >>> migrate_database(db, [notes], "the notes", "notes_path")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        core.errors.PromptTunerError: the notes has schema v2, newer than this prompt-tuner (v1) (...)
    """
    conn = db.conn
    db.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(db)
        _refuse_newer(current, migrations, what, setting)
        if current < len(migrations) and "_migrations" not in db.table_names():
            db.table("_migrations").create({"version": int, "applied_at": float}, pk="version")
        for version, migration in enumerate(migrations[current:], start=current + 1):
            migration(db)
            db.table("_migrations").insert({"version": version, "applied_at": time.time()})
        db.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()
        raise


def open_migrated(place: Place, migrations: Sequence[Migration], *,
                  read_only: bool = False) -> sqlite_utils.Database:
    """Open ``place`` with its schema up to date.

    Read-only, nothing is written, with one exception: a database of an older schema is
    upgraded first when it can be written (the same upgrade any command that writes would do);
    when it cannot, a :class:`StorageReadOnly` error says how to upgrade it."""
    db = sqlite_utils.Database(connect(place, read_only=read_only))
    try:
        if not read_only:
            migrate(db, migrations, place.name, place.setting)
            return db
        current = schema_version(db)
        _refuse_newer(current, migrations, place.name, place.setting)
        if current == len(migrations):
            return db
    except BaseException:
        db.conn.close()
        raise
    db.conn.close()
    try:
        open_migrated(place, migrations).conn.close()
    except StorageError as exc:
        raise StorageReadOnly(
            f"{place.name} has schema v{current}, older than this prompt-tuner "
            f"(v{len(migrations)}), and cannot be upgraded here ({exc.message})",
            "run prompt-tuner once where it may write the file (any command upgrades it), or "
            "use the prompt-tuner version that wrote it") from None
    return open_migrated(place, migrations, read_only=True)
