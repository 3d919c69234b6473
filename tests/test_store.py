"""Snapshot persistence: atomic JSON files, the SQLite store, and crash safety."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from embodmem.errors import OutputError, SnapshotError
from embodmem.store import (
    SnapshotStore,
    atomic_write,
    compact_store,
    decode_array,
    encode_array,
    load_snapshot,
    paused_gc,
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
    payload = {"format": "embodmem.x", "version": 1, "value": [0.1, 1e-300, 2**62]}
    path = save_snapshot(tmp_path / "a.json", payload)
    assert load_snapshot(path) == payload


def test_truncated_json_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    save_snapshot(path, {"format": "embodmem.x", "version": 1, "value": list(range(100))})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(SnapshotError, match="truncated or corrupt"):
        load_snapshot(path)


def test_nan_in_json_rejected(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"format": "embodmem.x", "version": 1, "v": NaN}')
    with pytest.raises(SnapshotError, match="corrupt"):
        load_snapshot(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no such snapshot"):
        load_snapshot(tmp_path / "missing.json")


def test_sqlite_store_keeps_history(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    for i in range(3):
        save_snapshot(path, {"format": "embodmem.x", "version": 1, "i": i})
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
            store.write({"format": "embodmem.x", "version": 1, "i": i})
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
        save_snapshot(path, {"format": "embodmem.x", "version": 1, "i": i, "big": big})
        print(i, flush=True)
        i += 1
    """
)


@pytest.mark.parametrize(
    "kills",
    [pytest.param(4, id="fast"), pytest.param(100, id="slow", marks=pytest.mark.slow)],
)
@pytest.mark.parametrize("suffix", [".json", ".sqlite"])
def test_killed_writer_never_loses_the_previous_snapshot(
    tmp_path: Path, suffix: str, kills: int
) -> None:
    """kill -9 at spread-out moments inside saves: the file always loads the last complete
    snapshot (or a later one), and the next save leaves no temporary file behind."""
    path = tmp_path / f"crash{suffix}"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    last = -1
    for attempt in range(kills):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        done = int(proc.stdout.readline())  # at least one complete snapshot exists
        time.sleep(0.01 * (attempt % 10 + 1))  # kill somewhere inside a later save
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        snap = load_snapshot(path)
        assert snap["format"] == "embodmem.x" and len(snap["big"]) == 400_000
        assert snap["i"] >= done  # the snapshot the writer reported complete, or newer
        last = snap["i"]
    save_snapshot(path, {"format": "embodmem.x", "version": 1, "i": last + 1, "big": []})
    assert load_snapshot(path)["i"] == last + 1
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_json_checksum_catches_every_byte_flip(tmp_path: Path) -> None:
    payload = {"format": "embodmem.x", "version": 2, "v": [1.5, "abc"]}
    path = save_snapshot(tmp_path / "a.json", payload)
    data = path.read_bytes()
    assert data.endswith(b'"}') and b'"sha256":"' in data
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0x01
        path.write_bytes(bytes(flipped))
        with pytest.raises(SnapshotError):
            load_snapshot(path)


def test_unchecksummed_json_loads_only_as_version_1(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text('{"format": "embodmem.x", "version": 1, "v": 3}')
    assert load_snapshot(path)["v"] == 3  # written before snapshots carried checksums
    path.write_text('{"format": "embodmem.x", "version": 2, "v": 3}')
    with pytest.raises(SnapshotError, match="checksum"):
        load_snapshot(path)


def test_replace_keeps_the_file_mode(tmp_path: Path) -> None:
    path = save_snapshot(tmp_path / "a.json", {"format": "embodmem.x", "version": 1})
    path.chmod(0o644)
    save_snapshot(path, {"format": "embodmem.x", "version": 1, "i": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o640)
    save_snapshot(path, {"format": "embodmem.x", "version": 1, "i": 3})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    umask = os.umask(0o022)
    try:
        fresh = save_snapshot(tmp_path / "b.json", {"format": "embodmem.x", "version": 1})
    finally:
        os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # 0666 less the umask, not 0600


def test_orphan_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    orphan = tmp_path / f".a.json.{pid}.0123abcd.tmp"
    alive = tmp_path / f".a.json.{os.getppid()}.0123abcd.tmp"  # a live writer's file stays
    other = tmp_path / f".b.json.{pid}.0123abcd.tmp"  # another target's file is not ours
    for p in (orphan, alive, other):
        p.write_bytes(b"half a snapshot")
    save_snapshot(tmp_path / "a.json", {"format": "embodmem.x", "version": 1})
    assert not orphan.exists() and alive.exists() and other.exists()


def test_sqlite_store_retention_bounds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    payload = {"format": "embodmem.x", "version": 1, "big": list(range(20_000))}
    sizes = []
    for i in range(60):
        save_snapshot(path, {**payload, "i": i})
        sizes.append(path.stat().st_size)
    with SnapshotStore(path, readonly=True) as store:
        assert [r["id"] for r in store.list()] == list(range(51, 61))  # the default keeps 10
    assert sizes[-1] <= 1.3 * sizes[15]  # freed pages are reused: no growth after retention
    save_snapshot(path, {**payload, "i": 60}, keep_last=None)  # None keeps everything
    with SnapshotStore(path, readonly=True) as store:
        assert len(store.list()) == 11


def test_compact_drops_old_snapshots_and_shrinks(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    for i in range(8):
        payload = {"format": "embodmem.x", "version": 1, "i": i, "big": list(range(20_000))}
        save_snapshot(path, payload)
    dropped, before, after = compact_store(path, keep_last=2)
    assert dropped == 6 and after < before / 2
    assert load_snapshot(path)["i"] == 7
    with pytest.raises(SnapshotError, match="not an embodmem SQLite"):
        compact_store(save_snapshot(tmp_path / "a.json", {"format": "embodmem.x", "version": 1}))


def _foreign_db(path: Path) -> bytes:
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE people (name TEXT)")
        db.execute("INSERT INTO people VALUES ('ada')")
    db.close()
    return path.read_bytes()


def test_loading_never_writes(tmp_path: Path) -> None:
    store_path = save_snapshot(tmp_path / "run.sqlite", {"format": "embodmem.x", "version": 1})
    foreign = tmp_path / "other.db"
    foreign_bytes = _foreign_db(foreign)
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.iterdir()}
    assert load_snapshot(store_path)["format"] == "embodmem.x"
    with pytest.raises(SnapshotError, match="not an embodmem snapshot store"):
        load_snapshot(foreign)
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.iterdir()}
    assert after == before  # no -wal / -shm files, no table added, nothing touched
    assert foreign.read_bytes() == foreign_bytes


def test_reading_while_a_writer_holds_the_store(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with SnapshotStore(path) as writer:
        writer.write({"format": "embodmem.x", "version": 1, "i": 1})
        assert path.with_name("run.sqlite-wal").exists()
        assert load_snapshot(path)["i"] == 1
        writer.write({"format": "embodmem.x", "version": 1, "i": 2})
        assert load_snapshot(path)["i"] == 2


@pytest.mark.parametrize("what", ["foreign.db", "random.db", "random.json", "empty.json"])
def test_saving_refuses_files_that_are_not_snapshots(tmp_path: Path, what: str) -> None:
    path = tmp_path / what
    if what == "foreign.db":
        original = _foreign_db(path)
    else:
        original = os.urandom(100) if what.startswith("random") else b""
        path.write_bytes(original)
    payload = {"format": "embodmem.x", "version": 1, "i": 1}
    with pytest.raises(OutputError, match="refusing to replace"):
        save_snapshot(path, payload)
    assert path.read_bytes() == original
    save_snapshot(path, payload, force=True)  # forced: replaced by a snapshot of ours
    assert load_snapshot(path)["i"] == 1


def test_saving_never_replaces_directories_or_devices(tmp_path: Path) -> None:
    payload = {"format": "embodmem.x", "version": 1}
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    for target, reason in ((tmp_path, "directory"), (fifo, "special file")):
        for force in (False, True):
            with pytest.raises(OutputError, match=reason):
                save_snapshot(target, payload, force=force)
    assert fifo.is_fifo()
    if Path(os.devnull).is_char_device():  # the real device, refused (never forced here)
        with pytest.raises(OutputError, match="device"):
            save_snapshot(os.devnull, payload)
        assert Path(os.devnull).is_char_device()
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OutputError, match="not a folder"):
        save_snapshot(tmp_path / "file" / "a.json", payload)


def test_saving_over_our_own_snapshots_needs_no_force(tmp_path: Path) -> None:
    for name in ("a.json", "a.sqlite"):
        path = save_snapshot(tmp_path / name, {"format": "embodmem.x", "version": 1, "i": 1})
        save_snapshot(path, {"format": "embodmem.x", "version": 1, "i": 2})
        assert load_snapshot(path)["i"] == 2


def test_collector_is_paused_only_while_loading(tmp_path: Path) -> None:
    """Loads pause the garbage collector for speed and always switch it back on."""
    import gc

    from embodmem import EmbodiedMemory

    path = EmbodiedMemory().save(tmp_path / "m.json")
    EmbodiedMemory.load(path)
    assert gc.isenabled()
    path.write_bytes(b"{}")
    with pytest.raises(SnapshotError):
        EmbodiedMemory.load(path)
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # a caller's choice to run without it is kept
    finally:
        gc.enable()
