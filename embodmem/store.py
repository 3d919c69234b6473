"""Persistence: checksummed JSON snapshot files and a crash-safe SQLite snapshot store.

- `.json` files end with the sha256 of the rest of the document (`,"sha256":"..."}`), are
  written to a temporary file in the same folder, fsynced, then renamed over the target
  (`os.replace` is atomic), so a crash mid-save leaves the previous file intact. The file keeps
  the mode of the file it replaces; temporary files of writers that died are removed by the
  next save.
- `.sqlite` / `.db` files hold the last `keep_last` snapshots (one row each, zlib-compressed
  JSON with a sha256); each save is one transaction in WAL mode, so a writer killed mid-save
  never loses the previous snapshot, and readers are never blocked. `compact` drops old rows and
  gives the space back.
- Loading never writes: SQLite stores are opened read-only (immutable when no writer is
  active), and a database without embodmem's table is refused, not converted.
- Saving refuses to replace what is not an embodmem snapshot (another program's database, any
  other file) unless forced, and never replaces a directory or a device.
Numpy arrays (e.g. the octree) travel inside the JSON as base64 blobs (`encode_array`).
"""

from __future__ import annotations

import base64
import contextlib
import gc
import hashlib
import os
import re
import secrets
import sqlite3
import stat
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from embodmem.errors import OutputError, SnapshotError, ValidationError

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
SQLITE_MAGIC = b"SQLite format 3\x00"
JSON_MAGIC = b'{"format":"embodmem.'
DEFAULT_KEEP = 10  # snapshots a SQLite store keeps by default
WAL_LIMIT = 16 << 20  # bytes the WAL file is truncated to after a checkpoint
_CHECKSUM = re.compile(rb',"sha256":"([0-9a-f]{64})"\}\s*\Z')
_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp\Z")
_SCHEMA = (
    "CREATE TABLE snapshots ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, created_ns INTEGER NOT NULL,"
    " label TEXT, format TEXT NOT NULL, version INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL, payload BLOB NOT NULL)"
)
_COLUMNS = ["id", "created_ns", "label", "format", "version", "sha256", "payload"]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a snapshot's millions of small objects are
    built or parsed (they form no cycles to collect; the collector's passes over them cost more
    than the work itself, about 2x on 10,000 objects). Also a decorator."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def encode_array(arr: np.ndarray) -> dict[str, Any]:
    """JSON-ready form of a numpy array (exact: raw bytes, base64)."""
    arr = np.ascontiguousarray(arr)
    return {
        "__ndarray__": base64.b64encode(arr.tobytes()).decode("ascii"),
        "dtype": arr.dtype.str,
        "shape": list(arr.shape),
    }


def decode_array(d: Mapping[str, Any], field: str) -> np.ndarray:
    """Inverse of `encode_array`; raises `SnapshotError` naming the field on any defect."""
    try:
        dtype = np.dtype(d["dtype"])
        if dtype.kind not in "biuf" or dtype.hasobject:
            raise ValueError(f"unsupported dtype {dtype.str}")
        shape = [int(n) for n in d["shape"]]
        raw = base64.b64decode(d["__ndarray__"], validate=True)
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise SnapshotError(f"{field}: malformed array ({exc})") from None
    return arr.copy()


def dumps(payload: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes of a snapshot (orjson: shortest round-trip floats, exact)."""
    try:
        return orjson.dumps(payload)
    except TypeError as exc:
        raise ValidationError("snapshot", "payload", f"not serialisable: {exc}") from None


def loads(data: bytes, where: str) -> dict[str, Any]:
    """Parse snapshot JSON; truncated or corrupt data (or NaN/inf) raises `SnapshotError`."""
    try:
        out = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"{where}: truncated or corrupt snapshot ({exc})") from None
    if not isinstance(out, dict):
        raise SnapshotError(f"{where}: expected a JSON object at the top level")
    return out


def sealed(payload: Mapping[str, Any]) -> bytes:
    """JSON bytes of a snapshot with its checksum as the last member: `{...,"sha256":"hex"}`,
    where hex is the sha256 of the same document without that member."""
    data = dumps(payload)
    if data == b"{}":
        raise ValidationError("snapshot", "{}", "an empty snapshot cannot be saved")
    digest = hashlib.sha256(data).hexdigest().encode("ascii")
    return data[:-1] + b',"sha256":"' + digest + b'"}'


def unsealed(data: bytes, where: str) -> dict[str, Any]:
    """Inverse of `sealed`: verifies the checksum; a document without one is accepted only when
    its `version` is 1 (written before snapshots carried checksums)."""
    m = _CHECKSUM.search(data)
    if m is None:
        out = loads(data, where)
        if out.get("version") != 1 or "sha256" in out:
            raise SnapshotError(f"{where}: missing or malformed checksum (file damaged?)")
        return out
    body = data[: m.start()] + b"}"
    if hashlib.sha256(body).hexdigest().encode("ascii") != m.group(1):
        raise SnapshotError(f"{where}: checksum mismatch (file damaged or edited)")
    return loads(body, where)


# ------------------------------------------------------------------------- targets
def is_sqlite(path: Path) -> bool:
    """True for a SQLite file (by magic bytes, or by suffix for a file not yet written)."""
    if path.is_file():
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    return path.suffix.lower() in SQLITE_SUFFIXES


def _head(path: Path, n: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def _has_schema(db: sqlite3.Connection) -> bool:
    rows = db.execute("PRAGMA table_info(snapshots)").fetchall()
    return [r[1] for r in rows] == _COLUMNS


def existing_kind(path: Path) -> str:
    """What an existing regular file is: "store" (an embodmem SQLite store), "database"
    (another SQLite database), "json" (an embodmem JSON snapshot) or "other"."""
    head = _head(path, len(JSON_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        try:
            with _connect_ro(path) as db:
                return "store" if _has_schema(db) else "database"
        except sqlite3.DatabaseError:
            return "database"
    return "json" if head == JSON_MAGIC else "other"


def check_target(path: str | Path, force: bool = False, kind: str = "snapshot") -> Path:
    """The path a save may write, checked before any work: raises `OutputError` for a directory,
    a device or other special file, a parent that is not a folder, and (unless `force`) for an
    existing file that is not embodmem's own (`kind`: "snapshot", "graphml", or "html" / "png" /
    "rrd" for pictures: any HTML page, PNG image or rerun recording may be replaced)."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(str(path), f"{parent} is not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise OutputError(str(path), f"no permission to write in {parent}")
            break
    if not path.exists():
        if path.name in ("", ".", ".."):
            raise OutputError(str(path), "expected a file name")
        return path
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise OutputError(str(path), "is a directory; give a file name")
    if not stat.S_ISREG(mode):
        raise OutputError(str(path), "is a device or special file, not a regular file")
    if force:
        return path
    if kind == "snapshot":
        ours = existing_kind(path) in ("store", "json")
    else:
        head = _head(path, 64).lstrip().lower()
        ours = any(head.startswith(magic) for magic in _OUTPUT_MAGIC[kind][1])
    if not ours:
        what = "an embodmem snapshot" if kind == "snapshot" else _OUTPUT_MAGIC[kind][0]
        raise OutputError(
            str(path), f"exists and is not {what}; refusing to replace it (use --force/force)"
        )
    return path


# What an existing output of another kind must start with (lower-cased, leading blanks
# stripped) to be replaced without force: (what it is, accepted beginnings).
_OUTPUT_MAGIC: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "graphml": ("a GraphML file", (b"<?xml",)),
    "html": ("an HTML page", (b"<!doctype html", b"<html")),
    "png": ("a PNG image", (b"\x89png\r\n\x1a\n",)),
    "rrd": ("a rerun recording", (b"rrf2",)),
}


def _clean_temps(path: Path) -> None:
    """Remove temporary files that writers of `path` left when they died (pid not running)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        m = _TEMP.match(tmp.name)
        if m is None or m.group("name") != path.name:
            continue
        pid = int(m.group("pid"))
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (PermissionError, OverflowError):
            pass


def _temp_path(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` via temp file + fsync + rename (never a half-written file); the
    new file keeps the mode (and, as root, the owner) of the file it replaces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_temps(path)
    old = path.stat() if path.exists() else None
    tmp = _temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as fh:
            if old is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(old.st_mode))
                if os.geteuid() == 0:
                    os.fchown(fh.fileno(), old.st_uid, old.st_gid)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


# -------------------------------------------------------------------------- SQLite
def _connect_ro(path: Path) -> sqlite3.Connection:
    """Read-only connection that creates no file: immutable when no writer is active (no WAL
    file), plain read-only otherwise (the writer's WAL and index files already exist)."""
    wal = path.with_name(path.name + "-wal")
    flag = "mode=ro" if wal.exists() else "immutable=1"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{flag}", uri=True, timeout=30.0)


class SnapshotStore:
    """The last `keep_last` snapshots in one SQLite file (WAL); each `write` is a single
    transaction. `readonly=True` opens an existing store without writing anything."""

    def __init__(
        self, path: str | Path, keep_last: int | None = DEFAULT_KEEP, readonly: bool = False
    ) -> None:
        self.path = Path(path)
        if keep_last is not None and (
            isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1
        ):
            raise ValidationError("keep_last", keep_last, "expected an integer >= 1 or None")
        self.keep_last = keep_last
        self.readonly = readonly
        try:
            if readonly:
                if not self.path.is_file():
                    raise SnapshotError(f"{self.path}: no such snapshot store")
                self._db = _connect_ro(self.path)
                if not _has_schema(self._db):
                    self._db.close()
                    raise SnapshotError(f"{self.path}: not an embodmem snapshot store")
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            if not _has_schema(self._db):
                if self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    self._db.close()
                    raise SnapshotError(f"{self.path}: another program's database, not a store")
                self._db.execute(_SCHEMA)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"{self.path}: not a usable snapshot database ({exc})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SnapshotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, payload: Mapping[str, Any], label: str | None = None) -> int:
        """Append one snapshot atomically (dropping the oldest beyond `keep_last`); its id."""
        if self.readonly:
            raise SnapshotError(f"{self.path}: store opened read-only")
        data = dumps(payload)
        blob = zlib.compress(data, 1)
        digest = hashlib.sha256(data).hexdigest()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute(
                "INSERT INTO snapshots (created_ns, label, format, version, sha256, payload)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    time.time_ns(),
                    label,
                    str(payload.get("format")),
                    int(payload.get("version", 0)),
                    digest,
                    blob,
                ),
            )
            snap_id = int(cur.lastrowid or 0)
            if self.keep_last is not None:
                self._prune(self.keep_last)
        return snap_id

    def _prune(self, keep_last: int) -> int:
        cur = self._db.execute(
            "DELETE FROM snapshots WHERE id NOT IN"
            " (SELECT id FROM snapshots ORDER BY id DESC LIMIT ?)",
            (keep_last,),
        )
        return cur.rowcount

    def compact(self, keep_last: int | None = None) -> int:
        """Drop all but the last `keep_last` (default: the store's setting) snapshots, give the
        space back to the file system (VACUUM) and empty the WAL; returns rows dropped."""
        keep = self.keep_last if keep_last is None else keep_last
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValidationError("keep_last", keep, "expected an integer >= 1")
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            dropped = self._prune(keep)
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return dropped

    def list(self) -> list[dict[str, Any]]:
        """Snapshot ids, times, labels, formats and versions, oldest first."""
        rows = self._query(
            "SELECT id, created_ns, label, format, version FROM snapshots ORDER BY id"
        ).fetchall()
        keys = ("id", "created_ns", "label", "format", "version")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def _query(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"{self.path}: corrupt snapshot database ({exc})") from None

    def read(self, snapshot_id: int | None = None) -> dict[str, Any]:
        """One snapshot (the latest when no id is given), checksum-verified."""
        if snapshot_id is None:
            cur = self._query("SELECT id, sha256, payload FROM snapshots ORDER BY id DESC LIMIT 1")
        else:
            if isinstance(snapshot_id, bool) or not isinstance(snapshot_id, int):
                raise ValidationError("snapshot_id", snapshot_id, "expected an integer id")
            if not 0 <= snapshot_id < 2**63:
                raise SnapshotError(f"{self.path}: no snapshot id={snapshot_id}")
            cur = self._query(
                "SELECT id, sha256, payload FROM snapshots WHERE id = ?", (snapshot_id,)
            )
        try:
            row = cur.fetchone()
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"{self.path}: corrupt snapshot database ({exc})") from None
        if row is None:
            what = "no snapshots" if snapshot_id is None else f"no snapshot id={snapshot_id}"
            raise SnapshotError(f"{self.path}: {what}")
        try:
            data = zlib.decompress(row[2])
        except (zlib.error, TypeError) as exc:
            raise SnapshotError(f"{self.path} snapshot {row[0]}: corrupt payload ({exc})") from None
        if hashlib.sha256(data).hexdigest() != row[1]:
            raise SnapshotError(f"{self.path} snapshot {row[0]}: checksum mismatch")
        return loads(data, f"{self.path} snapshot {row[0]}")


def _replace_store(path: Path, payload: Mapping[str, Any], keep_last: int | None) -> None:
    """Forced save over a file that is not our store: build a new store beside it, then rename
    it over the old file (dropping the old database's WAL so it cannot be replayed)."""
    _clean_temps(path)
    tmp = _temp_path(path)
    try:
        with SnapshotStore(tmp, keep_last) as new:
            new.write(payload)
        for side in ("-wal", "-shm", "-journal"):
            path.with_name(path.name + side).unlink(missing_ok=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def save_snapshot(
    path: str | Path,
    payload: Mapping[str, Any],
    force: bool = False,
    keep_last: int | None = DEFAULT_KEEP,
) -> Path:
    """Save to a JSON file (atomic replace) or append to a SQLite store: an existing file keeps
    its kind, a new one is a store when its suffix says so (.sqlite, .sqlite3, .db). What may
    be replaced is decided by `check_target` (other files only with `force`)."""
    path = check_target(path, force)
    kind = existing_kind(path) if path.exists() else None
    if kind == "store" or (kind is None and path.suffix.lower() in SQLITE_SUFFIXES):
        with SnapshotStore(path, keep_last) as store:
            store.write(payload)
    elif kind == "database" or (kind == "other" and path.suffix.lower() in SQLITE_SUFFIXES):
        _replace_store(path, payload, keep_last)  # forced: check_target refused otherwise
    else:
        atomic_write(path, sealed(payload))
    return path


def load_snapshot(path: str | Path, snapshot_id: int | None = None) -> dict[str, Any]:
    """Load a JSON snapshot file or the latest (or given) snapshot of a SQLite store; reads
    only, never writes."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(f"{path}: no such snapshot file")
    try:
        if _head(path, 16) == SQLITE_MAGIC:
            return _read_store(path, snapshot_id)
        if snapshot_id is not None:
            raise SnapshotError(f"{path}: a JSON snapshot file holds one snapshot, no ids")
        return unsealed(path.read_bytes(), str(path))
    except PermissionError as exc:
        raise SnapshotError(f"{path}: cannot read ({exc.strerror})") from None


def _read_store(path: Path, snapshot_id: int | None) -> dict[str, Any]:
    """Read a store read-only; a read that raced a writer's checkpoint (an immutable read while
    a WAL appeared) is retried once through the WAL."""
    wal = path.with_name(path.name + "-wal")
    immutable = not wal.exists()
    try:
        with SnapshotStore(path, readonly=True) as store:
            return store.read(snapshot_id)
    except SnapshotError:
        if not (immutable and wal.exists()):
            raise
    with SnapshotStore(path, readonly=True) as store:
        return store.read(snapshot_id)


def compact_store(path: str | Path, keep_last: int = DEFAULT_KEEP) -> tuple[int, int, int]:
    """`SnapshotStore.compact` on an existing store: (rows dropped, bytes before, bytes after)."""
    path = Path(path)
    if not path.is_file() or existing_kind(path) != "store":
        raise SnapshotError(f"{path}: not an embodmem SQLite snapshot store")
    before = path.stat().st_size
    with SnapshotStore(path, keep_last=None) as store:
        dropped = store.compact(keep_last)
    _clean_temps(path)
    return dropped, before, path.stat().st_size
