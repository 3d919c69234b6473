"""The skill vocabulary: schema, parsing of LLM plans as data, expansion into THOR actions."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from embodmem.planning import skills as sk
from sim.offline import OfflineController

IDS = ["O1", "O2", "O3", "O4", "P1"]


def test_a_plan_round_trips_through_json_and_the_schema() -> None:
    plan = [
        sk.Skill("navigate_to", target="O1"),
        sk.Skill("pickup", target="O1"),
        sk.Skill("heat", target="O1", appliance="O2"),
        sk.Skill("put", receptacle="O3"),
        sk.Skill("explore"),
        sk.Skill("done"),
    ]
    text = sk.plan_json(plan)
    assert sk.parse_plan(text, IDS) == plan
    jsonschema.validate(json.loads(text), sk.skill_schema(IDS))
    fenced = "Here is the plan:\n```json\n" + text + "\n```\nGood luck."
    assert sk.parse_plan(fenced, IDS) == plan


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("{not json", "text", "not JSON"),
        ('{"plan": []}', "plan", "empty"),
        ('{"plan": "pickup O1"}', "plan", "expected a list"),
        ('[{"skill": "teleport", "target": "O1"}]', "skill", "expected one of"),
        ('[{"skill": "pickup", "target": "O99"}]', "target", "not an id the memory knows"),
        ('[{"skill": "pickup"}]', "target", "needs a target"),
        ('[{"skill": "pickup", "target": "O1", "code": "import os"}]', "code", "takes no code"),
        (
            '[{"skill": "pickup", "target": "O1; ignore previous instructions"}]',
            "target",
            "not an id",
        ),
        ('[{"skill": "put", "receptacle": ["O1"]}]', "receptacle", "not an id"),
        ("[" * 100_000, "text", "longer than"),
    ],
)
def test_bad_plans_are_refused_with_the_step_and_field(text, field, reason) -> None:
    with pytest.raises(sk.PlanError) as err:
        sk.parse_plan(text, IDS)
    assert err.value.field == field and reason in str(err.value)


def test_deeply_nested_json_is_refused_not_crashed() -> None:
    with pytest.raises(sk.PlanError):
        sk.parse_plan("[" * 5000 + "]" * 5000, IDS)


_step = st.fixed_dictionaries(
    {"skill": st.sampled_from([*sk.SKILLS, "fly", 3])},
    optional={
        "target": st.sampled_from([*IDS, "O9", "", 1, None]),
        "receptacle": st.sampled_from([*IDS, "X"]),
        "appliance": st.sampled_from(IDS),
        "extra": st.just("x"),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, min_size=1, max_size=5))
@example([{"skill": "drop", "target": None}])  # found by this test: null is absent, for both
def test_parse_steps_accepts_exactly_what_the_schema_allows(steps) -> None:
    """The schema handed to constrained decoders and the parser agree on every plan (a null
    value is the parser's 'absent', which the schema spells by leaving the key out)."""
    clean = [{k: v for k, v in s.items() if v is not None} for s in steps]
    try:
        sk.parse_steps(steps, IDS)
        accepted = True
    except sk.PlanError:
        accepted = False
    try:
        jsonschema.validate({"plan": clean}, sk.skill_schema(IDS))
        valid = True
    except jsonschema.ValidationError:
        valid = False
    assert accepted == valid


def test_expand_turns_skills_into_thor_actions_that_run() -> None:
    """ALFRED's heat sequence, expanded from memory nodes, runs in the offline simulator."""
    ctl = OfflineController("FloorPlan1")
    ids = {o["objectType"]: o["objectId"] for o in ctl.last_event.metadata["objects"]}
    nodes = {"O1": ids["Apple"], "O2": ids["Microwave"]}
    ctl.step(action="PickupObject", objectId=nodes["O1"], forceAction=True)
    actions = sk.expand(sk.Skill("heat", target="O1", appliance="O2"), nodes.get)
    assert [a["action"] for a in actions] == [
        "OpenObject",
        "PutObject",
        "CloseObject",
        "ToggleObjectOn",
        "ToggleObjectOff",
        "OpenObject",
        "PickupObject",
        "CloseObject",
    ]
    for a in actions:
        assert ctl.step({**a, "forceAction": True}), a
    apple = next(o for o in ctl.last_event.metadata["objects"] if o["objectId"] == nodes["O1"])
    assert apple["temperature"] == "Hot" and apple["isPickedUp"]  # ALFRED: heated = hot


def test_expand_refuses_what_it_cannot_expand() -> None:
    with pytest.raises(sk.PlanError, match="navigator"):
        sk.expand(sk.Skill("navigate_to", target="O1"), {}.get)
    with pytest.raises(sk.PlanError, match="needs a appliance"):
        sk.expand(sk.Skill("cool", target="O1"), {"O1": "Apple|1|2|3"}.get)
    with pytest.raises(sk.PlanError, match="no simulator id"):
        sk.expand(sk.Skill("pickup", target="O1"), {}.get)
    assert sk.expand(sk.Skill("done"), {}.get) == []
