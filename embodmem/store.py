"""Persistence: versioned JSON snapshot files and a crash-safe SQLite snapshot store.

- `.json` files are written to a temporary file in the same folder, fsynced, then renamed over
  the target (`os.replace` is atomic), so a crash mid-save leaves the previous file intact.
- `.sqlite` / `.db` files hold many snapshots (one row each, zlib-compressed JSON with a sha256);
  each save is one transaction in WAL mode, so a writer killed mid-save never loses the previous
  snapshot, and readers are never blocked.
Numpy arrays (e.g. the octree) travel inside the JSON as base64 blobs (`encode_array`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import tempfile
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from embodmem.errors import SnapshotError, ValidationError

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
SQLITE_MAGIC = b"SQLite format 3\x00"


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
        raw = base64.b64decode(d["__ndarray__"], validate=True)
        arr = np.frombuffer(raw, dtype=np.dtype(d["dtype"])).reshape(d["shape"])
    except (KeyError, TypeError, ValueError) as exc:
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


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` via temp file + fsync + rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def is_sqlite(path: Path) -> bool:
    """True for a SQLite file (by magic bytes, or by suffix for a file not yet written)."""
    if path.exists():
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    return path.suffix.lower() in SQLITE_SUFFIXES


class SnapshotStore:
    """Many snapshots in one SQLite file (WAL); each `write` is a single transaction."""

    def __init__(self, path: str | Path, keep_last: int | None = None) -> None:
        self.path = Path(path)
        self.keep_last = keep_last
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS snapshots ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT, created_ns INTEGER NOT NULL,"
                " label TEXT, format TEXT NOT NULL, version INTEGER NOT NULL,"
                " sha256 TEXT NOT NULL, payload BLOB NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"{self.path}: not a usable snapshot database ({exc})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SnapshotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, payload: Mapping[str, Any], label: str | None = None) -> int:
        """Append one snapshot atomically; returns its id."""
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
                self._db.execute(
                    "DELETE FROM snapshots WHERE id NOT IN"
                    " (SELECT id FROM snapshots ORDER BY id DESC LIMIT ?)",
                    (self.keep_last,),
                )
        return snap_id

    def list(self) -> list[dict[str, Any]]:
        """Snapshot ids, times, labels, formats and versions, oldest first."""
        rows = self._db.execute(
            "SELECT id, created_ns, label, format, version FROM snapshots ORDER BY id"
        ).fetchall()
        keys = ("id", "created_ns", "label", "format", "version")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def read(self, snapshot_id: int | None = None) -> dict[str, Any]:
        """One snapshot (the latest when no id is given), checksum-verified."""
        try:
            if snapshot_id is None:
                row = self._db.execute(
                    "SELECT id, sha256, payload FROM snapshots ORDER BY id DESC LIMIT 1"
                ).fetchone()
            else:
                row = self._db.execute(
                    "SELECT id, sha256, payload FROM snapshots WHERE id = ?", (snapshot_id,)
                ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"{self.path}: corrupt snapshot database ({exc})") from None
        if row is None:
            what = "no snapshots" if snapshot_id is None else f"no snapshot id={snapshot_id}"
            raise SnapshotError(f"{self.path}: {what}")
        try:
            data = zlib.decompress(row[2])
        except zlib.error as exc:
            raise SnapshotError(f"{self.path} snapshot {row[0]}: corrupt payload ({exc})") from None
        if hashlib.sha256(data).hexdigest() != row[1]:
            raise SnapshotError(f"{self.path} snapshot {row[0]}: checksum mismatch")
        return loads(data, f"{self.path} snapshot {row[0]}")


def save_snapshot(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Save to a JSON file (atomic replace) or append to a SQLite store, by file type/suffix."""
    path = Path(path)
    if is_sqlite(path):
        with SnapshotStore(path) as store:
            store.write(payload)
    else:
        atomic_write(path, dumps(payload))
    return path


def load_snapshot(path: str | Path, snapshot_id: int | None = None) -> dict[str, Any]:
    """Load a JSON snapshot file or the latest (or given) snapshot of a SQLite store."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(f"{path}: no such snapshot file")
    if is_sqlite(path):
        with SnapshotStore(path) as store:
            return store.read(snapshot_id)
    return loads(path.read_bytes(), str(path))
