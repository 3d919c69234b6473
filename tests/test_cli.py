"""The embodmem command line: ingest-thor, inspect, export-graphml, demo."""

from __future__ import annotations

import gzip
import re
import shutil
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
        [str(exe), "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "FloorPlan1" in proc.stdout and out.is_file()
    # The scripted episode moved the apple into the fridge; memory and changes show it.
    assert re.search(r"\| Apple +\| in +\| Fridge", proc.stdout)
    assert re.search(r"\| Apple +\| isPickedUp +\| False +\| True +\| PickupObject", proc.stdout)
    mem = EmbodiedMemory.load(out)
    assert mem.scene_graph.places() and len(mem.octree) > 1000
