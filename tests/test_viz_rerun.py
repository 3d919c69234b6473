"""The optional rerun backend of `embodmem viz`: a `.rrd` recording of a memory state, and of
an episode trace on a `step` timeline, read back with rerun's own reader."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from embodmem.cli import main
from embodmem.errors import ValidationError
from embodmem.viz import render
from tests.helpers import kitchen_memory

rerun_chunk = pytest.importorskip("rerun.chunk")


def summary(path: Path) -> str:
    return rerun_chunk.RrdReader(path).store().summary()


def test_a_snapshot_becomes_a_recording(shared_data: Path, tmp_path: Path) -> None:
    mem = kitchen_memory(shared_data)
    out = tmp_path / "kitchen.rrd"
    assert render(mem, rrd=out, query="apple") == [out]
    text = summary(out)
    for entity in ("/memory/objects", "/memory/places", "/memory/relations/on", "/memory/query"):
        assert f"{entity} rows=1 static=True" in text, text
    assert "/memory/occupancy rows=1" in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_episode_plays_on_the_step_timeline(tmp_path: Path) -> None:
    from embodmem.trace import load_trace

    run = tmp_path / "run"
    args = ["run-suite", "--suite", "complex", "--episodes", "1", "--viz", "1", "--quiet"]
    assert main([*args, "--out", str(run)]) == 0
    frames = len(load_trace(run / "states" / "00000.json")["frames"])
    assert main(["viz", str(run), "--rrd", str(tmp_path / "ep.rrd")]) == 0
    text = summary(tmp_path / "ep.rrd")
    assert f"/episode/memory rows={frames} static=False timelines=['log_time', 'step']" in text


def test_without_rerun_the_error_names_the_option(
    shared_data: Path, tmp_path: Path, monkeypatch
) -> None:
    real_import = builtins.__import__

    def no_rerun(name, *args, **kw):
        if name == "rerun" or name.startswith("rerun."):
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_rerun)
    with pytest.raises(ValidationError, match="--rrd.*rerun-sdk"):
        render(kitchen_memory(shared_data), rrd=tmp_path / "x.rrd")
    assert not (tmp_path / "x.rrd").exists()
