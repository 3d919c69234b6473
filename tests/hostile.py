"""Hostile inputs for every public entry point, and the property each entry point must keep.

Shared by the property tests (`tests/test_hostile.py`, fast by default, >= 10,000 cases each
with `-m slow`) and by `experiments/fuzz_entry_points.py`, which counts cases and failures for
the README. A check function returns the outcome ("accepted" / "rejected") and raises
`PropertyViolation` when the promise breaks:

- bad input raises an `EmbodmemError` (the controller: a `ValueError`) and changes nothing;
- accepted input leaves a memory that can be saved, loaded, queried and integrated again.
"""

from __future__ import annotations

import copy
import io
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from embodmem import EmbodiedMemory, MemoryConfig
from embodmem.errors import EmbodmemError
from embodmem.store import dumps, loads
from sim.scenes import scene_objects
from tests.floorplan1 import START

Draw = Callable[[st.SearchStrategy[Any]], Any]


class PropertyViolation(AssertionError):
    """An entry point broke its promise; the message says which and how."""


EDGE_NUMBERS = [
    0,
    -1,
    1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    -(10**400),
    0.1,
    -0.0,
    1e-320,
    1e15,
    1e20,
    3.5e38,
    1e300,
    -1e308,
    math.inf,
    -math.inf,
    math.nan,
]
EDGE_STRINGS = ["", " ", "\x00", "\ud800", "x" * 5000, "Apple", "O1", "P1", "R1", "é", "\n"]


def _deep(depth: int) -> Any:
    out: Any = 0
    for _ in range(depth):
        out = [out]
    return out


def hostile_values() -> st.SearchStrategy[Any]:
    """Any value a hostile or careless caller might pass."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(EDGE_NUMBERS),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(EDGE_STRINGS),
        st.text(max_size=6),
        st.binary(max_size=4),
        st.just(object()),
        st.sampled_from([_deep(300), _deep(40), np.float64("nan"), np.int64(7), np.zeros(3)]),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=9), st.dictionaries(st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=10,
    )


def paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path (tuple of keys / indices) inside a JSON-like document, containers included."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, (*prefix, i))


def _parent(doc: Any, path: tuple) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def mutate(doc: Any, draw: Draw, max_edits: int = 3) -> Any:
    """A deep copy of `doc` with 1..max_edits random edits: a value replaced by a hostile one,
    a key deleted, a list element duplicated or dropped, a key added."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, max_edits))):
        every = [p for p in paths(doc) if p]
        if not every:
            return draw(hostile_values())
        path = draw(st.sampled_from(every))
        parent = _parent(doc, path)
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "dup", "add"]))
        key = path[-1]
        if op == "replace":
            parent[key] = draw(hostile_values())
        elif op == "delete":
            del parent[key]
        elif op == "dup" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "x", "", "\ud800"]))] = draw(hostile_values())
        else:
            parent[key] = draw(hostile_values())
    return doc


# ----------------------------------------------------------------------------- memory
_SCENE: list[dict[str, Any]] = []


def scene() -> list[dict[str, Any]]:
    """FloorPlan1's real objects (ai2thor 5.0.0), loaded once."""
    if not _SCENE:
        _SCENE.extend(scene_objects("FloorPlan1").values())
    return _SCENE


def event_metadata(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """An event metadata dict around some real objects (agent at the shared FloorPlan1 start)."""
    cam = dict(START["position"], y=START["position"]["y"] + 0.675)
    return {
        "sceneName": "FloorPlan1",
        "lastAction": "MoveAhead",
        "agent": copy.deepcopy(START),
        "cameraPosition": cam,
        "objects": [dict(copy.deepcopy(o), visible=True) for o in objects],
    }


@st.composite
def hostile_metadata(draw: Draw) -> dict[str, Any]:
    """THOR event metadata of 1-4 real FloorPlan1 objects with a few hostile edits."""
    objs = draw(st.lists(st.sampled_from(scene()), min_size=1, max_size=4, unique_by=id))
    return mutate(event_metadata(objs), draw)


def new_memory() -> EmbodiedMemory:
    """A small memory (hashing embedder: no model load per case)."""
    return EmbodiedMemory(MemoryConfig(embedder="hashing"))


def seeded_memory() -> EmbodiedMemory:
    """A memory that has already seen a few real objects, so edits hit known nodes too."""
    from sim.thor import observation_from_metadata

    mem = new_memory()
    mem.integrate(observation_from_metadata(event_metadata(scene()[:12]), time_ns=10))
    return mem


def state_of(mem: EmbodiedMemory) -> bytes:
    """Canonical bytes of everything a memory holds (to prove nothing changed)."""
    return dumps(mem.to_dict())


def usable(mem: EmbodiedMemory, where: str) -> None:
    """A memory must save, load back the same, answer queries and take another observation."""
    from sim.thor import observation_from_metadata

    try:
        data = state_of(mem)
        back = EmbodiedMemory.from_dict(loads(data, "check"), embedder=mem.embedder)
        if state_of(back) != data:
            raise PropertyViolation(f"{where}: save/load round trip changed the memory")
        back.query(text="apple", k=3)
        back.query(near=(0.0, 0.0, 1.0), radius=2.0)
        back.context("put the apple in the fridge", budget_tokens=300)
        back.integrate(observation_from_metadata(event_metadata(scene()[:3]), time_ns=2**62))
        state_of(back)
    except PropertyViolation:
        raise
    except Exception as exc:
        raise PropertyViolation(f"{where}: memory unusable ({type(exc).__name__}: {exc})") from exc


def check_rejected_cleanly(mem: EmbodiedMemory, before: bytes, exc: Exception, where: str) -> str:
    if not isinstance(exc, EmbodmemError):
        raise PropertyViolation(f"{where}: raised {type(exc).__name__}: {exc}") from exc
    if state_of(mem) != before:
        raise PropertyViolation(f"{where}: rejected input ({exc}) changed the memory")
    return "rejected"


def check_integrate(meta: Any, time_ns: Any, visible_only: bool) -> str:
    """`integrate(observation_from_metadata(meta))` on a memory that has seen FloorPlan1."""
    from sim.thor import observation_from_metadata

    mem = seeded_memory()
    before = state_of(mem)
    try:
        mem.integrate(observation_from_metadata(meta, time_ns=time_ns, visible_only=visible_only))
    except Exception as exc:
        return check_rejected_cleanly(mem, before, exc, "integrate")
    usable(mem, "integrate")
    return "accepted"


@st.composite
def hostile_records(draw: Draw) -> dict[str, Any]:
    """Keyword arguments for ObjectObservation / BBox3D / Pose / Observation, some hostile."""
    good = {
        "label": "Apple",
        "position": [1.0, 0.5, 0.9],
        "center": [1.0, 0.5, 0.9],
        "size": [0.1, 0.1, 0.1],
        "rotation": [0.0, 0.0, 0.0, 1.0],
        "orientation": [0.0, 0.0, 0.38268343236508984, 0.9238795325112867],
        "states": {"isOpen": False, "temperature": "RoomTemp"},
        "attributes": {"pickupable": True, "mass": 0.2},
        "confidence": 0.9,
        "id_hint": "Apple|1",
        "embedding": [0.1, 0.2, 0.3],
        "time_ns": 5,
        "points": [[1.0, 0.5, 0.9], [1.05, 0.5, 0.9]],
        "point_object_index": [0, -1],
        "region": "kitchen",
        "action": "PickupObject",
        "corners": None,
    }
    return mutate(good, draw)


def check_records(kw: dict[str, Any]) -> str:
    """Build records from hostile keyword arguments and integrate them."""
    from embodmem import BBox3D, ObjectObservation, Observation, Pose

    mem = seeded_memory()
    before = state_of(mem)
    try:
        bbox = None
        if "center" in kw or "size" in kw:
            bbox = BBox3D(kw.get("center"), kw.get("size"), kw.get("rotation", (0, 0, 0, 1)))
        if kw.get("corners") is not None:
            bbox = BBox3D.from_corners(kw["corners"])
        obj = ObjectObservation(
            label=kw.get("label"),
            position=kw.get("position"),
            bbox=bbox,
            states=kw.get("states", {}),
            confidence=kw.get("confidence", 1.0),
            id_hint=kw.get("id_hint"),
            embedding=kw.get("embedding"),
            attributes=kw.get("attributes", {}),
        )
        pose = Pose(kw.get("position"), kw.get("orientation", (0, 0, 0, 1)))
        obs = Observation(
            time_ns=kw.get("time_ns"),
            objects=(obj,),
            agent_pose=pose,
            points=None if kw.get("points") is None else np.asarray(kw["points"], dtype=object),
            point_object_index=kw.get("point_object_index")
            if kw.get("points") is not None
            else None,
            region=kw.get("region"),
            action=kw.get("action"),
        )
        mem.integrate(obs)
    except Exception as exc:
        return check_rejected_cleanly(mem, before, exc, "records")
    usable(mem, "records")
    return "accepted"


# ------------------------------------------------------------------------ query / context
QUERY_GOOD = {
    "text": "apple",
    "near": [0.0, 0.0, 1.0],
    "radius": 1.5,
    "since": 0,
    "until": 100,
    "labels": ["Apple"],
    "k": 5,
}
CONTEXT_GOOD = {"task": "put the apple in the fridge", "budget_tokens": 300, "mode": "collapsed"}


@st.composite
def hostile_query(draw: Draw) -> dict[str, Any]:
    return mutate({k: v for k, v in QUERY_GOOD.items() if draw(st.booleans())} or {}, draw)


@st.composite
def hostile_context(draw: Draw) -> dict[str, Any]:
    kw = mutate(CONTEXT_GOOD, draw)
    if draw(st.booleans()):
        kw["expanded"] = draw(st.one_of(st.lists(st.sampled_from(["O1", "R1", "P1"])), st.just([])))
    return kw


def check_call(method: str, kw: Any) -> str:
    """`mem.query(**kw)` / `mem.context(**kw)`: EmbodmemError or a result; never a change other
    than the lookup statistics, and the memory stays usable."""
    mem = seeded_memory()
    if not isinstance(kw, dict) or not all(isinstance(k, str) for k in kw):
        kw = {"text": kw}
    kw = {k: v for k, v in kw.items() if k in QUERY_GOOD or k in CONTEXT_GOOD or k == "expanded"}
    if method == "context":
        kw.setdefault("task", "task")
    graph_before = dumps(mem.to_dict()["scene_graph"])
    try:
        getattr(mem, method)(**kw)
    except TypeError as exc:  # an argument the method does not take
        if "argument" not in str(exc):
            raise PropertyViolation(f"{method}: raised TypeError: {exc}") from exc
        return "rejected"
    except Exception as exc:
        if not isinstance(exc, EmbodmemError):
            raise PropertyViolation(f"{method}: raised {type(exc).__name__}: {exc}") from exc
        outcome = "rejected"
    else:
        outcome = "accepted"
    if dumps(mem.to_dict()["scene_graph"]) != graph_before:
        raise PropertyViolation(f"{method}: changed the scene graph")
    usable(mem, method)
    return outcome


# ------------------------------------------------------------------------------- snapshots
_BASE: dict[str, Any] = {}


def base_snapshot() -> dict[str, Any]:
    """A real snapshot (FloorPlan1 seen, a few changes, octree points), built once."""
    if not _BASE:
        from sim.thor import observation_from_metadata

        mem = seeded_memory()
        objs = copy.deepcopy(scene()[:12])
        objs[0]["isPickedUp"] = True
        pts = np.array([[0.5, 0.2, 1.0], [0.55, 0.2, 1.0], [0.6, -0.3, 0.9]])
        obs = observation_from_metadata(event_metadata(objs), time_ns=20)
        import dataclasses

        mem.integrate(dataclasses.replace(obs, points=pts, point_object_index=np.array([0, 1, -1])))
        mem.query(text="apple")
        _BASE.update(mem.to_dict())
    return copy.deepcopy(_BASE)


@st.composite
def hostile_snapshot_dict(draw: Draw) -> dict[str, Any]:
    """A real snapshot dict with a few hostile edits anywhere (headers, nodes, arrays...)."""
    return mutate(base_snapshot(), draw)


@st.composite
def corrupted_bytes(draw: Draw) -> bytes:
    """Snapshot bytes with flipped bytes, truncation or garbage appended."""
    data = bytearray(dumps(base_snapshot()))
    op = draw(st.sampled_from(["flip", "flip", "truncate", "append", "splice"]))
    if op == "flip":
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif op == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif op == "append":
        data += draw(st.binary(min_size=1, max_size=8))
    else:
        i = draw(st.integers(0, len(data) - 1))
        data[i : i + 4] = draw(st.binary(max_size=6))
    return bytes(data)


def check_load_dict(d: Any) -> str:
    """`EmbodiedMemory.from_dict` on a hostile snapshot dict: SnapshotError or a usable memory."""
    from embodmem.errors import SnapshotError

    try:
        mem = EmbodiedMemory.from_dict(d)
    except SnapshotError:
        return "rejected"
    except Exception as exc:
        raise PropertyViolation(f"load: raised {type(exc).__name__}: {exc}") from exc
    usable(mem, "load")
    return "accepted"


def check_load_file(path: Path, data: bytes, payload: dict[str, Any] | None = None) -> str:
    """Load a corrupted `.json` file or a `.sqlite` store whose latest row was tampered with:
    SnapshotError or a memory equal to what was saved; loading never writes."""
    from embodmem.errors import SnapshotError

    if path.suffix == ".json":
        path.write_bytes(data)
    before = listing(path.parent)
    try:
        mem = EmbodiedMemory.load(path)
    except SnapshotError:
        outcome = "rejected"
    except Exception as exc:
        raise PropertyViolation(f"load file: raised {type(exc).__name__}: {exc}") from exc
    else:
        outcome = "accepted"
        if payload is not None and dumps(mem.to_dict()) != dumps(payload):
            raise PropertyViolation("load file: loaded altered data without an error")
        usable(mem, "load file")
    if listing(path.parent) != before:
        raise PropertyViolation("load file: loading wrote to the folder")
    return outcome


def check_load_sqlite(data: bytes) -> str:
    """A store whose latest row's payload was replaced (raw or recompressed) behind the store's
    back: SnapshotError or exactly what was saved; loading writes nothing."""
    import sqlite3
    import zlib

    from embodmem.store import save_snapshot

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.sqlite"
        save_snapshot(path, base_snapshot())
        blob = zlib.compress(data) if len(data) % 2 else data
        db = sqlite3.connect(path)
        with db:
            db.execute(
                "UPDATE snapshots SET payload = ? WHERE id = (SELECT max(id) FROM snapshots)",
                (blob,),
            )
        db.close()
        return check_load_file(path, data, base_snapshot())


def in_temp(check: Callable[..., str], *args: Any) -> str:
    """Run `check(folder, *args)` in a fresh temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        return check(Path(tmp), *args)


def check_load_json(folder: Path, data: bytes) -> str:
    """`check_load_file` on a `.json` snapshot holding `data`."""
    return check_load_file(folder / "m.json", data, base_snapshot())


def listing(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Name -> (size, mtime_ns, mode) of every entry in a folder tree."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            st_ = p.lstat()
            out[str(p.relative_to(folder))] = (st_.st_size, st_.st_mtime_ns, st_.st_mode)
    return out


# ----------------------------------------------------------------------------- controller
def hostile_poses() -> st.SearchStrategy[list[dict[str, Any]]]:
    """SetObjectPoses lists: real names (some repeated), unknown and static names, real, edge
    and hostile positions."""
    names = [o["name"] for o in scene()[:30]] + ["Nope_123", ""]
    vector = st.one_of(
        st.fixed_dictionaries({k: st.floats(-3, 3) for k in "xyz"}),
        st.fixed_dictionaries({k: st.sampled_from(EDGE_NUMBERS) for k in "xyz"}),
        hostile_values(),
    )
    pose = st.fixed_dictionaries(
        {"objectName": st.one_of(st.sampled_from(names), hostile_values())},
        optional={"position": vector, "rotation": vector},
    )
    return st.lists(pose, max_size=6)


@st.composite
def hostile_steps(draw: Draw) -> list[dict[str, Any]]:
    """A few controller steps: real action names with real, edge and hostile arguments."""
    from sim.offline.controller import ACTIONS
    from sim.offline.schema import COMMON

    names = [*ACTIONS, "Bogus", ""]
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(names))
        params = list(ACTIONS[name][1].params) if name in ACTIONS else []
        hostile_name = draw(st.integers(0, 7)) == 0
        args: dict[str, Any] = {"action": draw(hostile_values()) if hostile_name else name}
        keys = st.sampled_from([*params, *COMMON, "bogus"]) if draw(st.booleans()) else None
        for key in draw(st.lists(keys, max_size=3)) if keys is not None else params:
            args[key] = draw(
                st.one_of(
                    hostile_values(),
                    st.sampled_from([0.25, 90, 30, True, 1, {"x": -1.0, "y": 0.9, "z": 1.0}]),
                    st.sampled_from(EDGE_NUMBERS),
                    st.floats(-1e40, 1e40),
                    st.just({"x": 1e300, "y": 0.0, "z": -1e300}),
                    st.fixed_dictionaries({k: st.sampled_from(EDGE_NUMBERS) for k in "xyz"}),
                    st.sampled_from([o["objectId"] for o in scene()[:40]]),
                    hostile_poses(),
                    st.lists(
                        st.fixed_dictionaries(
                            {
                                "objectType": st.sampled_from(["Faucet", "Apple", "Unicorn", ""]),
                                "isOn": st.one_of(st.booleans(), hostile_values()),
                            }
                        ),
                        max_size=3,
                    ),
                    st.sampled_from(["CanBeDirty", "CanBeFilled", "CanOpen", "CanFly"]),
                )
            )
        if name in ("MoveAhead", "RotateRight", "LookDown") and draw(st.booleans()):
            args.setdefault("moveMagnitude" if args["action"] == "MoveAhead" else "degrees", 1e30)
        steps.append(args)
    return steps


def check_steps(ctl: Any, steps: list[dict[str, Any]]) -> str:
    """Each step returns an Event or raises ValueError; the controller stays usable after."""
    outcome = "accepted"
    for args in steps:
        try:
            event = ctl.step(dict(args))
        except ValueError:
            outcome = "rejected"
            continue
        except Exception as exc:
            raise PropertyViolation(f"step {args!r:.200}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(event.metadata.get("lastActionSuccess"), bool):
            raise PropertyViolation(f"step {args!r:.200}: event without lastActionSuccess")
    try:
        ctl.step(action="RotateRight")
        ctl.reset()
        ctl.step(action="MoveAhead")
        dumps(ctl.last_event.metadata)
    except Exception as exc:
        raise PropertyViolation(f"controller unusable after {steps!r:.300}: {exc}") from exc
    return outcome


# ------------------------------------------------------------------------------------- CLI
@st.composite
def hostile_cli(draw: Draw) -> dict[str, Any]:
    """An argv for `embodmem` plus the input file contents and the state of the output path."""
    inputs = draw(
        st.sampled_from(["good", "empty_dir", "bad_utf8", "bad_json", "mutated", "empty", "none"])
    )
    out = draw(
        st.sampled_from(
            [
                "new.json",
                "new.sqlite",
                "sub/new.json",
                "dir",
                "device",
                "foreign.db",
                "random.db",
                "random.json",
                "ours.json",
                "ours.sqlite",
                "file/x.json",
                "in.json",
            ]
        )
    )
    command = draw(
        st.sampled_from(
            ["ingest-thor", "ingest-thor", "inspect", "export-graphml", "compact", "bogus"]
        )
    )
    extra = draw(
        st.lists(
            st.sampled_from(
                ["--quiet", "--visible-only", "--force", "--objects", "--keep", "3", "-1", "x"]
            ),
            max_size=2,
        )
    )
    return {
        "inputs": inputs,
        "out": out,
        "command": command,
        "extra": extra,
        "meta": draw(hostile_metadata()) if inputs == "mutated" else None,
    }


def prepare_cli(tmp: Path, case: dict[str, Any]) -> tuple[list[str], set[str]]:
    """Lay out a case's files under `tmp`; returns argv and the paths the command may write."""
    import orjson

    good = event_metadata(scene()[:5])
    inp = tmp / "in.json"
    if case["inputs"] == "good":
        inp.write_bytes(orjson.dumps(good))
    elif case["inputs"] == "empty_dir":
        inp = tmp / "inputs"
        inp.mkdir()
    elif case["inputs"] == "bad_utf8":
        inp.write_bytes(b'{"objects": ["\xff\xfe"]}')
    elif case["inputs"] == "bad_json":
        inp.write_bytes(b'{"objects": [')
    elif case["inputs"] == "mutated":
        inp.write_text(_json_text(case["meta"]), encoding="utf-8", errors="surrogatepass")
    elif case["inputs"] == "empty":
        inp.write_bytes(b"")
    out = tmp / case["out"]
    name = case["out"]
    if name == "dir":
        out.mkdir()
    elif name == "device":  # a special file of our own (never the machine's /dev/null): a
        import socket  # socket, which no open() blocks on

        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(out))
    elif name == "foreign.db":
        import sqlite3

        with sqlite3.connect(out) as db:
            db.execute("CREATE TABLE people (name TEXT)")
            db.execute("INSERT INTO people VALUES ('ada')")
        db.close()
    elif name.startswith("random."):
        out.write_bytes(os.urandom(64))
    elif name.startswith("ours."):
        mem = seeded_memory()
        mem.save(out)
    elif name.startswith("file/"):
        out.parent.write_bytes(b"a file, not a folder")
    cmd = case["command"]
    if cmd == "ingest-thor":
        argv = [cmd, str(inp), "--out", str(out)]
        own = {str(out.relative_to(tmp))} if out.is_relative_to(tmp) else set()
    elif cmd == "inspect":
        argv, own = [cmd, str(out)], set()
    elif cmd == "export-graphml":
        argv, own = [cmd, str(inp), str(out)], {name}
    elif cmd == "compact":
        argv, own = [cmd, str(out)], {name}
    else:
        argv, own = [cmd], set()
    return argv + list(case["extra"]), own


def _json_text(doc: Any) -> str:
    import json

    try:
        return json.dumps(doc, default=repr)
    except (ValueError, TypeError, RecursionError):
        return "[]"


def check_cli(tmp: Path, case: dict[str, Any]) -> str:
    """`embodmem ...` in-process: exit 0 or one clear message and a non-zero exit; no traceback;
    only the command's own output may appear or change, and only on success."""
    from embodmem.cli import main

    argv, own = prepare_cli(tmp, case)
    before = listing(tmp)
    err, out = io.StringIO(), io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(out):
            code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:
        raise PropertyViolation(f"cli {argv}: {type(exc).__name__}: {exc}") from exc
    text = err.getvalue()
    if "Traceback" in text or "internal error" in text:
        raise PropertyViolation(f"cli {argv}: {text[-400:]}")
    after = listing(tmp)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    changed -= {p for p in changed if any(p == o or p.startswith(o + "-") for o in own)}
    changed -= {"sub"} if "sub/new.json" in own and code == 0 else set()
    if changed:
        raise PropertyViolation(f"cli {argv} (exit {code}) touched {sorted(changed)}")
    if code != 0:
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise PropertyViolation(f"cli {argv}: exit {code} without a message")
        if any(before.get(o) != after.get(o) for o in own):
            raise PropertyViolation(f"cli {argv}: failed (exit {code}) but wrote its output")
        return "rejected"
    return "accepted"


# ------------------------------------------------------------------------- all of them
def entry_points() -> dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], str]]]:
    """Name -> (strategy of one case, check of one case), for every public entry point."""
    from sim.offline import OfflineController

    ctl: list[Any] = []

    def steps(case: Any) -> str:
        if not ctl:
            ctl.append(OfflineController())
        return check_steps(ctl[0], case)

    return {
        "integrate(observation_from_metadata)": (
            st.tuples(hostile_metadata(), st.one_of(st.just(5), hostile_values()), st.booleans()),
            lambda c: check_integrate(*c),
        ),
        "integrate(records)": (hostile_records(), check_records),
        "query": (hostile_query(), lambda c: check_call("query", c)),
        "context": (hostile_context(), lambda c: check_call("context", c)),
        "from_dict (edited snapshot)": (hostile_snapshot_dict(), check_load_dict),
        "load .json (corrupted bytes)": (corrupted_bytes(), lambda c: in_temp(check_load_json, c)),
        "load .sqlite (tampered row)": (corrupted_bytes(), check_load_sqlite),
        "OfflineController.step": (hostile_steps(), steps),
        "command line": (hostile_cli(), lambda c: in_temp(check_cli, c)),
    }
