"""Snapshot persistence: atomic JSON files, the SQLite store, and crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from embodmem.errors import SnapshotError
from embodmem.store import (
    SnapshotStore,
    atomic_write,
    decode_array,
    encode_array,
    load_snapshot,
    save_snapshot,
)


def test_array_round_trip_is_exact() -> None:
    for arr in (
        np.arange(10, dtype=np.uint64) << 40,
        np.random.default_rng(0).random((4, 3)),
        np.zeros((0, 3), np.float32),
    ):
        back = decode_array(json.loads(json.dumps(encode_array(arr))), "a")
        assert back.dtype == arr.dtype and back.shape == arr.shape and np.array_equal(back, arr)


def test_bad_array_names_field() -> None:
    with pytest.raises(SnapshotError, match=r"octree\.keys"):
        decode_array({"__ndarray__": "!!", "dtype": "<u8", "shape": [2]}, "octree.keys")


def test_json_snapshot_round_trip(tmp_path: Path) -> None:
    payload = {"format": "x", "version": 1, "value": [0.1, 1e-300, 2**62]}
    path = save_snapshot(tmp_path / "a.json", payload)
    assert load_snapshot(path) == payload


def test_truncated_json_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    save_snapshot(path, {"format": "x", "version": 1, "value": list(range(100))})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(SnapshotError, match="truncated or corrupt"):
        load_snapshot(path)


def test_nan_in_json_rejected(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"format": "x", "version": 1, "v": NaN}')
    with pytest.raises(SnapshotError, match="corrupt"):
        load_snapshot(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no such snapshot"):
        load_snapshot(tmp_path / "missing.json")


def test_sqlite_store_keeps_history(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    for i in range(3):
        save_snapshot(path, {"format": "x", "version": 1, "i": i})
    assert load_snapshot(path)["i"] == 2
    with SnapshotStore(path) as store:
        ids = [row["id"] for row in store.list()]
        assert len(ids) == 3
        assert store.read(ids[0])["i"] == 0
        with pytest.raises(SnapshotError, match="no snapshot id"):
            store.read(999)


def test_sqlite_keep_last_prunes(tmp_path: Path) -> None:
    with SnapshotStore(tmp_path / "s.db", keep_last=2) as store:
        for i in range(5):
            store.write({"format": "x", "version": 1, "i": i})
        assert [store.read(r["id"])["i"] for r in store.list()] == [3, 4]


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    atomic_write(tmp_path / "f.json", b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


WRITER = textwrap.dedent(
    """
    import sys
    from embodmem.store import save_snapshot
    path = sys.argv[1]
    big = list(range(400_000))
    i = 0
    while True:
        save_snapshot(path, {"format": "x", "version": 1, "i": i, "big": big})
        print(i, flush=True)
        i += 1
    """
)


@pytest.mark.parametrize("suffix", [".json", ".sqlite"])
def test_killed_writer_never_loses_the_previous_snapshot(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"crash{suffix}"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    for attempt in range(3):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one complete snapshot exists
        time.sleep(0.05 * (attempt + 1))  # kill somewhere inside a later save
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        snap = load_snapshot(path)
        assert snap["format"] == "x" and len(snap["big"]) == 400_000
