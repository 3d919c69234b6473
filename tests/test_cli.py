"""The embodmem command line: ingest-thor, inspect, export-graphml, demo."""

from __future__ import annotations

import gzip
import re
import shutil
import sqlite3
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from embodmem import EmbodiedMemory
from embodmem.cli import main


def vendored_scene(tmp_path: Path, n: int) -> Path:
    src = resources.files("sim").joinpath(f"data/ithor/FloorPlan{n}_physics.json.gz")
    out = tmp_path / f"FloorPlan{n}_physics.json"
    out.write_bytes(gzip.decompress(src.read_bytes()))
    return out


def test_ingest_thor_scene_dumps(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = [vendored_scene(tmp_path, 1), vendored_scene(tmp_path, 201)]
    out = tmp_path / "mem.json"
    assert main(["ingest-thor", *map(str, paths), "--out", str(out), "--quiet"]) == 0
    mem = EmbodiedMemory.load(out)
    assert {r.label for r in mem.scene_graph.rooms()} == {"kitchen", "living_room"}
    assert "objects" in capsys.readouterr().out


def test_ingest_thor_episode(tmp_path: Path, shared_data: Path) -> None:
    episode = tmp_path / "ep.jsonl"
    shutil.copy(shared_data / "ithor" / "episodes" / "pickup_mug.jsonl", episode)
    out = tmp_path / "mem.sqlite"
    assert main(["ingest-thor", str(episode), "--out", str(out), "--quiet"]) == 0
    mem = EmbodiedMemory.load(out)
    assert mem.observations == len(episode.read_text().splitlines())
    assert mem.scene_graph.places()


def test_inspect_and_export(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "mem.json"
    main(["ingest-thor", str(vendored_scene(tmp_path, 1)), "--out", str(out), "--quiet"])
    assert main(["inspect", str(out), "--objects"]) == 0
    assert "CounterTop" in capsys.readouterr().out
    assert main(["export-graphml", str(out), str(tmp_path / "g.graphml")]) == 0
    assert (tmp_path / "g.graphml").stat().st_size > 0


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["ingest-thor", str(bad), "--out", str(tmp_path / "o.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "bad.json" in err
    assert main(["inspect", str(tmp_path / "missing.json")]) == 2


def test_demo_runs_as_a_console_script(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("embodmem")
    out = tmp_path / "demo.json"
    proc = subprocess.run(
        [str(exe), "demo", "--tasks", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    text = proc.stdout
    assert "FloorPlan1: 2 ALFRED valid-seen tasks" in text
    # Both episodes end in success, with their instructions and plans shown, node ids named.
    assert text.count("  success: ") == 2 and '"Put a pot with sponge in the sink."' in text
    assert re.search(r"navigate_to\(O\d+ DishSponge\) pickup\(O\d+ DishSponge\)", text)
    # The second task recalls objects the first one saw; the table compares with no memory.
    recalled = re.search(r"recalled from earlier tasks: (.+)", text.split("task 2/2")[1])
    assert recalled and "Fridge" in recalled.group(1)
    assert re.search(
        r"\| 2 +\| pick_cool_then_place_in_recep +\| yes +\| \d+ +\| \d+ +\| [1-9]", text
    )
    mem = EmbodiedMemory.load(out)
    assert mem.scene_graph.places() and len(mem.experience) == 2


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_bad_outputs_are_refused_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    scene = vendored_scene(tmp_path, 1)
    foreign = tmp_path / "people.db"
    db = sqlite3.connect(foreign)
    with db:
        db.execute("CREATE TABLE people (name TEXT)")
    db.close()
    random_db = tmp_path / "random.db"
    random_db.write_bytes(b"\x00\x01 not a database")
    (tmp_path / "afile").write_text("x")
    cases = {
        str(tmp_path): "is a directory",
        str(foreign): "refusing to replace",
        str(random_db): "refusing to replace",
        str(tmp_path / "afile" / "m.json"): "is not a folder",
    }
    for out, reason in cases.items():
        before = sorted(p.name for p in tmp_path.iterdir())
        sizes = {p: p.stat().st_size for p in tmp_path.iterdir() if p.is_file()}
        code, err = _run(["ingest-thor", str(scene), "--out", out, "--quiet"], capsys)
        assert code == 2 and reason in err and len(err.strip().splitlines()) == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == before
        assert {p: p.stat().st_size for p in tmp_path.iterdir() if p.is_file()} == sizes
    # --force replaces a file that is not a snapshot (never a directory).
    assert main(["ingest-thor", str(scene), "--out", str(random_db), "--quiet", "--force"]) == 0
    assert EmbodiedMemory.load(random_db).scene_graph.objects()


def test_inputs_that_yield_nothing_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    empty = tmp_path / "inputs"
    empty.mkdir()
    bad_utf8 = tmp_path / "latin1.json"
    bad_utf8.write_bytes(b'{"objects": ["caf\xe9"]}')
    no_objects = tmp_path / "none.json"
    no_objects.write_text('{"objects": []}')
    huge = tmp_path / "huge.json"
    huge.write_text('{"objects": [], "x": 1' + "0" * 400 + "}")
    for path, reason in (
        (empty, "no THOR metadata"),
        (bad_utf8, "not valid UTF-8 JSON"),
        (no_objects, "holds no objects"),
        (huge, "not valid UTF-8 JSON"),
    ):
        out = tmp_path / "out.json"
        code, err = _run(["ingest-thor", str(path), "--out", str(out), "--quiet"], capsys)
        assert code == 2 and reason in err, err
        assert "Traceback" not in err and not out.exists()


def test_demo_refuses_a_scene_without_alfred_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for scene in ("FloorPlan9", "Kitchen9"):
        code, err = _run(["demo", "--scene", scene, "--out", str(tmp_path / "d.json")], capsys)
        assert code == 2 and scene in err
        assert "has no ALFRED valid-seen task" in err and "FloorPlan1" in err
    code, err = _run(["demo", "--tasks", "0", "--out", str(tmp_path / "d.json")], capsys)
    assert code == 2 and "tasks" in err
    assert not (tmp_path / "d.json").exists()


def test_compact_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = tmp_path / "run.sqlite"
    scene = vendored_scene(tmp_path, 1)
    for _ in range(4):
        main(["ingest-thor", str(scene), "--out", str(store), "--quiet"])
    capsys.readouterr()
    assert main(["compact", str(store), "--keep", "1"]) == 0
    assert "dropped 3 old snapshots" in capsys.readouterr().out
    code, err = _run(["compact", str(scene)], capsys)
    assert code == 2 and "not an embodmem SQLite snapshot store" in err


def test_export_refuses_to_overwrite_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    snap = tmp_path / "mem.json"
    main(["ingest-thor", str(vendored_scene(tmp_path, 1)), "--out", str(snap), "--quiet"])
    code, err = _run(["export-graphml", str(snap), str(snap)], capsys)
    assert code == 2 and "refusing to replace" in err
    assert EmbodiedMemory.load(snap).scene_graph.objects()  # the snapshot is intact
    graph = tmp_path / "g.graphml"
    assert main(["export-graphml", str(snap), str(graph)]) == 0
    assert main(["export-graphml", str(snap), str(graph)]) == 0  # GraphML may be replaced
    assert graph.read_bytes().startswith(b"<?xml")
