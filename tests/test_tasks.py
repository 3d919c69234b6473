"""sim.tasks: ALFRED loading, typed goals on THOR metadata, and ALFRED's metrics."""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embodmem.errors import DuplicateIdError, EmbodmemError, UnknownLabelError
from sim.scenes import scene_objects
from sim.tasks import (
    TASK_TYPES,
    AlfredFormatError,
    EpisodeResult,
    GoalError,
    StateHistory,
    aggregate,
    aggregate_by,
    format_table,
    goal_from_pddl,
    load_alfred,
    load_alfred_default,
)
from sim.tasks.metrics import MetricsError

# --- hand-made metadata -------------------------------------------------------------------------

PICKUP = {"pickupable": True}
RECEP = {"receptacle": True}


def obj(oid: str, parents: list[str] | None = None, pos=(0.0, 0.0, 0.0), **flags: Any) -> dict:
    """A THOR object dict; the type is the id's prefix unless `objectType` is given (slices:
    "Apple|...|AppleSliced_0" has type AppleSliced)."""
    return {
        "objectId": oid,
        "objectType": oid.split("|")[0],
        "parentReceptacles": parents,
        "position": dict(zip("xyz", pos, strict=True)),
        "temperature": flags.pop("temperature", "RoomTemp"),
        **flags,
    }


def meta(*objects: dict, held: str | None = None) -> dict:
    inventory = [{"objectId": held, "objectType": held.split("|")[0]}] if held else []
    return {"objects": list(objects), "inventoryObjects": inventory}


def goal(task_type: str, **params: Any):
    return goal_from_pddl(task_type, params)


COUNTER = obj("CounterTop|1", **RECEP)
TABLE = obj("DiningTable|1", **RECEP)


# --- one success and one failure case per task type --------------------------------------------


def test_pick_and_place_simple():
    g = goal("pick_and_place_simple", object_target="Apple", parent_target="CounterTop")
    on_counter = meta(COUNTER, TABLE, obj("Apple|1", ["CounterTop|1"], **PICKUP))
    on_table = meta(COUNTER, TABLE, obj("Apple|1", ["DiningTable|1"], **PICKUP))
    assert g.check(on_counter).success and (g.check(on_counter).met, g.check(on_counter).total) == (
        1,
        1,
    )
    r = g.check(on_table)
    assert not r.success and r.met == 0 and r.unmet == ("a Apple in/on one CounterTop",)


def test_sliced_goal_needs_a_slice_placed_not_the_whole_object():
    g = goal(
        "pick_and_place_simple",
        object_target="Apple",
        parent_target="CounterTop",
        object_sliced=True,
    )
    assert g.targets["object"] == "AppleSliced" and g.check(meta(COUNTER)).total == 2
    whole = meta(COUNTER, obj("Apple|1", ["CounterTop|1"], sliceable=True, **PICKUP))
    assert g.check(whole).met == 0
    sliced_elsewhere = meta(
        COUNTER,
        TABLE,
        obj("Apple|1|AppleSliced_0", ["DiningTable|1"], objectType="AppleSliced", **PICKUP),
    )
    assert (g.check(sliced_elsewhere).met, g.check(sliced_elsewhere).success) == (1, False)
    placed = meta(
        COUNTER, obj("Apple|1|AppleSliced_0", ["CounterTop|1"], objectType="AppleSliced", **PICKUP)
    )
    assert g.check(placed).success


def test_look_at_obj_in_light():
    g = goal("look_at_obj_in_light", object_target="AlarmClock", toggle_target="DeskLamp")
    clock = obj("AlarmClock|1", None, isPickedUp=True, **PICKUP)
    lamp_on = obj("DeskLamp|1", toggleable=True, isToggled=True, visible=True)
    assert g.check(meta(clock, lamp_on, held="AlarmClock|1")).success
    lamp_unseen = dict(lamp_on, visible=False)
    r = g.check(meta(clock, lamp_unseen, held="AlarmClock|1"))
    assert (r.met, r.total, r.unmet) == (1, 2, ("a DeskLamp is on and visible",))
    book = obj("Book|1", None, isPickedUp=True, **PICKUP)
    clock_down = obj("AlarmClock|1", ["DiningTable|1"], **PICKUP)
    r = g.check(meta(book, clock_down, TABLE, lamp_on, held="Book|1"))
    assert (r.met, r.unmet) == (1, ("holding a AlarmClock",))


def test_pick_heat_is_per_object():
    g = goal("pick_heat_then_place_in_recep", object_target="Potato", parent_target="CounterTop")
    microwave = obj("Microwave|1", **RECEP, isHeatSource=True)
    cooked_in_microwave = obj("Potato|1", ["Microwave|1"], isCooked=True, **PICKUP)
    raw_on_counter = obj("Potato|2", ["CounterTop|1"], **PICKUP)
    r = g.check(meta(COUNTER, microwave, cooked_in_microwave, raw_on_counter))
    assert (r.met, r.total, r.success) == (2, 3, False)
    assert r.unmet == ("a Potato that is hot in/on one CounterTop",)
    hot_on_counter = obj("Potato|1", ["CounterTop|1"], temperature="Hot", **PICKUP)
    assert g.check(meta(COUNTER, microwave, hot_on_counter)).success


def test_pick_cool_uses_history_for_decayed_temperature():
    g = goal("pick_cool_then_place_in_recep", object_target="Apple", parent_target="DiningTable")
    fridge = obj("Fridge|1", **RECEP, isColdSource=True)
    in_fridge = meta(TABLE, fridge, obj("Apple|1", ["Fridge|1"], temperature="Cold", **PICKUP))
    warm_on_table = meta(TABLE, fridge, obj("Apple|1", ["DiningTable|1"], **PICKUP))
    assert g.check(warm_on_table).met == 1
    history = StateHistory()
    history.update(in_fridge)
    history.update(warm_on_table)
    assert history.seen("cold") == {"Apple|1"}
    assert g.check(warm_on_table, history).success
    cold_on_table = meta(
        TABLE, fridge, obj("Apple|1", ["DiningTable|1"], temperature="Cold", **PICKUP)
    )
    assert g.check(cold_on_table).success


def test_pick_clean_needs_a_wash_under_running_water():
    g = goal("pick_clean_then_place_in_recep", object_target="Mug", parent_target="Cabinet")
    cabinet = obj("Cabinet|1", **RECEP)
    basin = obj("Sink|1|SinkBasin", objectType="SinkBasin", **RECEP)
    tap_on = obj("Faucet|1", isToggled=True, toggleable=True)
    tap_off = dict(tap_on, isToggled=False)
    mug = {"dirtyable": True, **PICKUP, **RECEP}
    washing = meta(cabinet, basin, tap_on, obj("Mug|1", ["Sink|1|SinkBasin"], isDirty=False, **mug))
    in_sink_dry = meta(cabinet, basin, tap_off, obj("Mug|1", ["Sink|1|SinkBasin"], **mug))
    stored = meta(cabinet, basin, tap_off, obj("Mug|1", ["Cabinet|1"], isDirty=False, **mug))
    assert g.check(in_sink_dry).met == 0
    assert g.check(washing).met == 1  # washed, but not yet in the cabinet
    assert g.check(stored).met == 1  # in the cabinet, never seen washed
    history = StateHistory()
    for step in (in_sink_dry, washing, stored):
        history.update(step)
    assert g.check(stored, history).success
    dirty_again = meta(cabinet, basin, tap_off, obj("Mug|1", ["Cabinet|1"], isDirty=True, **mug))
    assert g.check(dirty_again, history).met == 1


def test_running_faucet_washes_only_its_nearest_basin():
    g = goal("pick_clean_then_place_in_recep", object_target="Cloth", parent_target="BathtubBasin")
    sink = obj("Sink|1|SinkBasin", pos=(0.0, 1.0, 0.0), objectType="SinkBasin", **RECEP)
    tub = obj("Bathtub|1|BathtubBasin", pos=(3.0, 0.3, 0.0), objectType="BathtubBasin", **RECEP)
    tub_tap = obj("Faucet|2", pos=(3.2, 0.6, 0.0), isToggled=True)
    cloth_in_tub = obj("Cloth|1", ["Bathtub|1|BathtubBasin"], **PICKUP)
    cloth_in_sink = obj("Cloth|1", ["Sink|1|SinkBasin"], **PICKUP)
    assert g.check(meta(sink, tub, tub_tap, cloth_in_tub)).success
    assert g.check(meta(sink, tub, tub_tap, cloth_in_sink)).met == 0


def test_pick_two_obj_needs_two_in_the_same_receptacle():
    g = goal("pick_two_obj_and_place", object_target="CD", parent_target="Box")
    boxes = [obj("Box|1", **RECEP, **PICKUP), obj("Box|2", **RECEP, **PICKUP)]
    same = meta(*boxes, obj("CD|1", ["Box|1"], **PICKUP), obj("CD|2", ["Box|1"], **PICKUP))
    split = meta(*boxes, obj("CD|1", ["Box|1"], **PICKUP), obj("CD|2", ["Box|2"], **PICKUP))
    one = meta(*boxes, obj("CD|1", ["Box|1"], **PICKUP), obj("CD|2", None, **PICKUP))
    assert g.check(same).success and g.check(same).total == 2
    assert (g.check(split).met, g.check(one).met) == (1, 1)
    assert g.check(meta(*boxes)).met == 0


def test_pick_two_sliced_counts_each_slice():
    g = goal(
        "pick_two_obj_and_place", object_target="Bread", parent_target="Plate", object_sliced=True
    )
    plate = obj("Plate|1", **RECEP, **PICKUP)
    slices = [
        obj(f"Bread|1|BreadSliced_{i}", ["Plate|1"], objectType="BreadSliced", **PICKUP)
        for i in range(3)
    ]
    assert g.check(meta(plate, *slices)).success and g.check(meta(plate)).total == 4
    assert g.check(meta(plate, slices[0])).met == 2  # one slice exists, one is on the plate


def test_movable_receptacle_nesting_is_per_object():
    g = goal(
        "pick_and_place_with_movable_recep",
        object_target="Pen",
        mrecep_target="Mug",
        parent_target="Desk",
    )
    desk, bed = obj("Desk|1", **RECEP), obj("Bed|1", **RECEP)
    mug1 = obj("Mug|1", ["Desk|1"], **RECEP, **PICKUP)
    nested = meta(desk, bed, mug1, obj("Pen|1", ["Mug|1", "Desk|1"], **PICKUP))
    assert g.check(nested).success and g.check(nested).total == 3
    mug_on_bed = obj("Mug|1", ["Bed|1"], **RECEP, **PICKUP)
    r = g.check(meta(desk, bed, mug_on_bed, obj("Pen|1", ["Mug|1", "Bed|1"], **PICKUP)))
    assert (r.met, r.unmet[0]) == (1, "a Mug in/on one Desk")
    mug2 = obj("Mug|2", ["Desk|1"], **RECEP, **PICKUP)
    r = g.check(meta(desk, bed, mug_on_bed, mug2, obj("Pen|1", ["Mug|1", "Bed|1"], **PICKUP)))
    assert (r.met, r.unmet) == (2, ("a Pen in a Mug that is in/on a Desk",))


# --- exact type matching ----------------------------------------------------------------------


def test_potato_is_not_a_pot():
    """ALFRED matches `"Pot" in objectId`, so a Potato on the counter passes its check."""
    g = goal("pick_and_place_simple", object_target="Pot", parent_target="CounterTop")
    burner = obj("StoveBurner|1", **RECEP)
    potato = obj("Potato|+01.00|+00.90|-00.50", ["CounterTop|1"], **PICKUP)
    pot = obj("Pot|+00.20|+00.90|-01.00", ["StoveBurner|1"], **PICKUP, **RECEP)
    state = meta(COUNTER, burner, potato, pot)
    alfred_says = any(
        "Pot" in o["objectId"] and "CounterTop|1" in (o["parentReceptacles"] or [])
        for o in state["objects"]
    )
    assert alfred_says  # the substring bug would report success here
    assert not g.check(state).success
    g2 = goal("pick_and_place_simple", object_target="Apple", parent_target="Pot")
    apple_in_potato_spot = obj("Apple|1", ["Potato|+01.00|+00.90|-00.50"], **PICKUP)
    fake_recep = dict(potato, receptacle=True)
    assert not g2.check(meta(fake_recep, pot, apple_in_potato_spot)).success


TYPES = ["Pot", "Potato", "PotatoSliced", "Apple", "CounterTop", "Pan", "Plate"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(TYPES[1:]), st.sampled_from([None, "CounterTop|1"])), max_size=8
    ),
    st.booleans(),
)
def test_distractors_of_other_types_never_change_the_result(distractors, pot_on_counter):
    g = goal("pick_and_place_simple", object_target="Pot", parent_target="CounterTop")
    pot = obj("Pot|1", ["CounterTop|1"] if pot_on_counter else None, **PICKUP, **RECEP)
    base = g.check(meta(COUNTER, pot))
    extra = [
        obj(f"{t}|d{i}", [p] if p else None, **PICKUP, **RECEP)
        for i, (t, p) in enumerate(distractors)
    ]
    assert g.check(meta(COUNTER, pot, *extra)) == base
    assert base.success == pot_on_counter


# --- satisfiability --------------------------------------------------------------------------


def test_absent_types_are_unsatisfiable_not_errors():
    g = goal("pick_heat_then_place_in_recep", object_target="Egg", parent_target="Fridge")
    state = meta(COUNTER)
    r = g.check(state)
    assert not r.success and not g.is_satisfiable(state)
    assert "no pickupable Egg in the scene" in r.unsatisfiable
    assert "no receptacle Fridge in the scene" in r.unsatisfiable
    assert "no heat source in the scene" in r.unsatisfiable


def test_sliced_target_satisfiable_from_the_whole_object_and_a_knife():
    g = goal(
        "pick_and_place_simple",
        object_target="Tomato",
        parent_target="CounterTop",
        object_sliced=True,
    )
    tomato = obj("Tomato|1", ["CounterTop|1"], sliceable=True, **PICKUP)
    assert g.is_satisfiable(meta(COUNTER, tomato, obj("ButterKnife|1", **PICKUP)))
    assert g.unsatisfiable_reasons(meta(COUNTER, tomato)) == (
        "no Knife or ButterKnife to slice the Tomato",
    )


def test_two_object_goal_needs_two_instances():
    g = goal("pick_two_obj_and_place", object_target="KeyChain", parent_target="Sofa")
    one = meta(obj("Sofa|1", **RECEP), obj("KeyChain|1", **PICKUP))
    assert g.unsatisfiable_reasons(one) == ("fewer than 2 pickupable KeyChain in the scene",)


def test_every_real_goal_can_be_posed_in_its_real_scene():
    """All vendored valid_seen goals check cleanly against the ai2thor 5.0.0 initial scene."""
    for task in load_alfred_default()[::25]:
        state = {"objects": list(scene_objects(task.scene).values())}
        r = task.goal.check(state)
        assert r.total == len(task.goal.conditions) >= 1
        assert 0 <= r.met <= r.total
        assert r.success == (r.met == r.total and not r.unsatisfiable)


# --- building goals --------------------------------------------------------------------------


def test_goal_builder_covers_every_task_type_and_renames():
    params = dict(
        object_target="Glassbottle",
        parent_target="Shelf",
        mrecep_target="Bowl",
        toggle_target="FloorLamp",
    )
    sizes = {t: len(goal_from_pddl(t, params).conditions) for t in TASK_TYPES}
    assert sizes == {
        "pick_and_place_simple": 1,
        "look_at_obj_in_light": 2,
        "pick_two_obj_and_place": 2,
        "pick_clean_then_place_in_recep": 3,
        "pick_heat_then_place_in_recep": 3,
        "pick_cool_then_place_in_recep": 3,
        "pick_and_place_with_movable_recep": 3,
    }
    assert goal_from_pddl("pick_and_place_simple", params).targets["object"] == "Bottle"


@pytest.mark.parametrize(
    ("task_type", "params", "error", "field"),
    [
        ("make_coffee", {"object_target": "Mug"}, GoalError, "task_type"),
        ("pick_and_place_simple", {"object_target": "Mug"}, GoalError, "pddl_params.parent_target"),
        (
            "pick_and_place_simple",
            {"object_target": "Mugg", "parent_target": "Desk"},
            UnknownLabelError,
            "pddl_params.object_target",
        ),
        (
            "pick_and_place_simple",
            {"object_target": "Mug", "parent_target": "Desk", "object_sliced": "yes"},
            GoalError,
            "pddl_params.object_sliced",
        ),
        (
            "pick_and_place_simple",
            {"object_target": "Mug", "parent_target": "Desk", "object_sliced": True},
            UnknownLabelError,
            "pddl_params.object_target",
        ),
    ],
)
def test_goal_builder_rejects_bad_params(task_type, params, error, field):
    with pytest.raises(error) as info:
        goal_from_pddl(task_type, params)
    assert info.value.field == field and field in str(info.value)


def test_bad_metadata_raises_and_history_is_unchanged():
    g = goal("pick_and_place_simple", object_target="Apple", parent_target="CounterTop")
    history = StateHistory()
    history.update(meta(obj("Apple|1", temperature="Cold", **PICKUP)))
    bad = meta(obj("Apple|2", temperature="Hot"), {"objectType": "Mug"})
    with pytest.raises(GoalError, match=r"metadata.objects\[1\].objectId"):
        history.update(bad)
    assert history.seen("hot") == frozenset() and history.seen("cold") == {"Apple|1"}
    with pytest.raises(GoalError, match="metadata"):
        g.check([])
    with pytest.raises(DuplicateIdError, match=r"objects\[1\]"):
        g.check(meta(obj("Apple|1"), obj("Apple|1")))
    with pytest.raises(GoalError, match="parentReceptacles"):
        g.check(meta(obj("Apple|1", "CounterTop|1")))


# --- real recorded ai2thor 5.0.0 episodes ----------------------------------------------------


def _trace(steps: list[dict], g) -> list[bool]:
    history = StateHistory()
    out = []
    for s in steps:
        history.update(s["metadata"])
        out.append(g.check(s["metadata"], history).success)
    return out


def test_goals_on_real_recorded_episodes(episodes):
    cool = goal("pick_cool_then_place_in_recep", object_target="Apple", parent_target="CounterTop")
    # open fridge, pick apple, put in fridge, pick, put on counter, close fridge, pick up again
    assert _trace(episodes["place_cooled_in_apple_counter_top"], cool) == [False] * 5 + [
        True,
        True,
        False,
    ]
    light = goal("look_at_obj_in_light", object_target="Book", toggle_target="DeskLamp")
    trace = _trace(episodes["look_in_light_book"], light)
    assert trace.index(True) == 11 and trace[12] is False  # lamp on at 11, off again at 12
    wash = goal("pick_clean_then_place_in_recep", object_target="Fork", parent_target="SinkBasin")
    assert _trace(episodes["WashCutleryTask"], wash)[-2:] == [False, True]  # faucet turned on


# --- loading ---------------------------------------------------------------------------------


def test_vendored_valid_seen_loads_completely():
    tasks = load_alfred_default()
    with gzip.open(Path(tasks[0].source.rsplit(":", 1)[0]), "rt") as fh:
        raw = [json.loads(line) for line in fh]
    assert len(tasks) == len(raw) == 251
    assert len({t.task_id for t in tasks}) == 251
    assert Counter(t.task_type for t in tasks) == Counter(r["task_type"] for r in raw)
    assert set(Counter(t.task_type for t in tasks)) == set(TASK_TYPES)
    for t, r in zip(tasks, raw, strict=True):
        assert t.scene == f"FloorPlan{r['scene']['scene_num']}" == r["scene"]["floor_plan"]
        assert t.expert_plan_length == len(r["low_actions"]) > 0
        assert t.instruction == r["annotations"][0]["task_desc"].strip()
        assert len(t.step_instructions) == len(r["annotations"][0]["high_descs"])
        assert t.goal.task_type == t.task_type


def test_shared_jsonl_files_load(shared_data):
    valid = load_alfred(shared_data / "alfred" / "valid_seen.jsonl")
    assert [t.task_id for t in valid] == [t.task_id for t in load_alfred_default()]
    train = load_alfred(shared_data / "alfred" / "train_sample.jsonl")
    assert len(train) == 1200 and {t.task_type for t in train} == set(TASK_TYPES)


def _original_layout(record: dict) -> dict:
    """A JSONL record rewritten in the json_2.1.0 traj_data.json layout."""
    traj = {k: v for k, v in record.items() if k not in ("annotations", "high_pddl", "low_actions")}
    traj["plan"] = {"high_pddl": record["high_pddl"], "low_actions": record["low_actions"]}
    traj["turk_annotations"] = {"anns": [dict(a, votes=[1, 1, 1]) for a in record["annotations"]]}
    return traj


def test_original_traj_data_layout_and_directory_search(tmp_path):
    jsonl = tmp_path / "two.jsonl"
    with gzip.open(load_alfred_default()[0].source.rsplit(":", 1)[0], "rt") as fh:
        records = [json.loads(next(fh)) for _ in range(2)]
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    for r in records:
        trial = tmp_path / "json_2.1.0" / "valid_seen" / r["path"].split("/")[-3] / r["task_id"]
        trial.mkdir(parents=True)
        (trial / "traj_data.json").write_text(json.dumps(_original_layout(r)))
    from_jsonl = {t.task_id: t for t in load_alfred(jsonl)}
    from_dirs = load_alfred(tmp_path / "json_2.1.0")
    assert len(from_dirs) == 2
    for t in from_dirs:
        assert t.source.endswith("traj_data.json")
        ref = from_jsonl[t.task_id]
        fields = (
            "scene",
            "instruction",
            "step_instructions",
            "goal",
            "expert_plan_length",
            "annotations",
            "init_action",
        )
        assert all(getattr(t, f) == getattr(ref, f) for f in fields)
    single = load_alfred(next((tmp_path / "json_2.1.0").rglob("traj_data.json")))
    assert len(single) == 1
    gz = tmp_path / "two.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl.read_bytes()))
    assert [t.goal for t in load_alfred(gz)] == [t.goal for t in load_alfred(jsonl)]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r["scene"].pop("floor_plan"), "scene.floor_plan"),
        (lambda r: r["scene"].update(floor_plan="Kitchen7"), "scene.floor_plan"),
        (lambda r: r.pop("low_actions"), "plan.low_actions"),
        (lambda r: r.update(task_type="make_tea"), "task_type"),
        (lambda r: r["pddl_params"].update(parent_target=""), "pddl_params.parent_target"),
        (lambda r: r.update(annotations=[]), "annotations"),
        (lambda r: r["annotations"][0].update(task_desc=" "), "annotations[0].task_desc"),
    ],
)
def test_malformed_trajectories_name_file_and_field(tmp_path, mutate, field):
    with gzip.open(load_alfred_default()[0].source.rsplit(":", 1)[0], "rt") as fh:
        good, bad = json.loads(next(fh)), json.loads(next(fh))
    if bad["task_type"] == "look_at_obj_in_light" and "parent" in field:
        bad["task_type"] = "pick_and_place_simple"
    mutate(bad)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(AlfredFormatError) as info:
        load_alfred(path)
    assert f"{path}:2" in str(info.value) and field in str(info.value)


def test_unreadable_inputs(tmp_path):
    (tmp_path / "broken.jsonl").write_text('{"task_id": 1}\n{not json\n')
    with pytest.raises(AlfredFormatError, match=r"broken.jsonl:1 scene.floor_plan"):
        load_alfred(tmp_path / "broken.jsonl")
    (tmp_path / "broken2.jsonl").write_text("{not json\n")
    with pytest.raises(AlfredFormatError, match=r"broken2.jsonl:1=.*invalid JSON"):
        load_alfred(tmp_path / "broken2.jsonl")
    with pytest.raises(AlfredFormatError, match="no such file"):
        load_alfred(tmp_path / "missing.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AlfredFormatError, match="no traj_data.json"):
        load_alfred(tmp_path / "empty")
    (tmp_path / "t.json").write_text("[1, 2]")
    with pytest.raises(EmbodmemError, match="t.json"):
        load_alfred(tmp_path / "t.json")


# --- metrics ---------------------------------------------------------------------------------


def ep(success=False, met=0, total=1, steps=10, expert=10, fails=0, task_type="t") -> EpisodeResult:
    return EpisodeResult("id", task_type, success, met, total, steps, expert, fails)


def test_metrics_on_known_numbers():
    a = ep(True, 2, 2, steps=10, expert=5, fails=1, task_type="x")  # weight 0.5
    b = ep(False, 1, 4, steps=4, expert=8, fails=3, task_type="y")  # weight 1
    m = aggregate([a, b])
    assert m["episodes"] == 2 and m["SR"] == 0.5
    assert m["GC"] == 3 / 6  # pooled, not the mean of 1.0 and 0.25
    assert math.isclose(m["PLW_SR"], (1 * 0.5 * 5) / 13)
    assert math.isclose(m["PLW_GC"], (1 * 0.5 * 5 + 0.25 * 1 * 8) / 13)
    assert (m["steps"], m["failed_actions"]) == (7, 2)
    table = aggregate_by([a, b])
    assert list(table) == ["x", "y", "all"] and table["x"]["SR"] == 1.0
    text = format_table(table)
    assert "SR %" in text and "| x " in text and "50.0" in text


def test_episode_from_goal_result():
    g = goal("pick_and_place_simple", object_target="Apple", parent_target="CounterTop")
    r = g.check(meta(COUNTER, obj("Apple|1", ["CounterTop|1"], **PICKUP)))
    e = EpisodeResult.from_goal("t1", g.task_type, r, steps=0, expert_steps=7)
    assert e.success and e.path_weight == 1.0 and e.goal_condition == 1.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"met": 3, "total": 2}, "episode.goal_met"),
        ({"total": 0}, "episode.goal_met"),
        ({"success": True, "met": 0}, "episode.success"),
        ({"steps": -1}, "episode.steps"),
        ({"fails": 11}, "episode.failed_actions"),
    ],
)
def test_inconsistent_episodes_are_rejected(kwargs, field):
    with pytest.raises(MetricsError, match=field):
        ep(**kwargs)


def test_metrics_reject_empty_and_foreign_input():
    with pytest.raises(MetricsError, match="results"):
        aggregate([])
    with pytest.raises(MetricsError, match=r"results\[0\]"):
        aggregate([{"success": True}])
    with pytest.raises(MetricsError, match="key"):
        aggregate_by([ep()], key="colour")


episodes_st = st.builds(
    lambda total, met_frac, steps, expert, fails_frac: ep(
        success=round(met_frac * total) == total,
        met=round(met_frac * total),
        total=total,
        steps=steps,
        expert=expert,
        fails=int(fails_frac * steps),
    ),
    st.integers(1, 6),
    st.floats(0, 1),
    st.integers(0, 300),
    st.integers(0, 200),
    st.floats(0, 1),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(episodes_st, min_size=1, max_size=12))
def test_metric_bounds_and_orderings(results):
    m = aggregate(results)
    for k in ("SR", "GC", "PLW_SR", "PLW_GC"):
        assert 0.0 <= m[k] <= 1.0
    assert m["PLW_SR"] <= m["PLW_GC"] + 1e-12  # success implies GC = 1 per episode
    if all(r.goal_total == 1 for r in results):
        assert m["GC"] == m["SR"]
    if all(r.steps <= r.expert_steps for r in results):  # never slower than the expert
        w = [r.expert_steps for r in results] if any(r.expert_steps for r in results) else None
        expected = (
            sum(r.success * x for r, x in zip(results, w, strict=True)) / sum(w) if w else m["SR"]
        )
        assert math.isclose(m["PLW_SR"], expected)
