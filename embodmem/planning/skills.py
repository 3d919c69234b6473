"""The skill vocabulary planners speak, its JSON schema, parsing of plans, and the expansion of
manipulation skills into AI2-THOR actions.

A skill names memory nodes (`O12`, `P3`), never simulator ids: the planner sees the memory, not
the simulator. A plan from an LLM is data: `parse_plan` reads JSON (no code is ever run), checks
each step against the schema and against the ids the memory knows, and raises `PlanError`
naming the step, the field and the value otherwise. `expand` turns one manipulation skill into
THOR action dicts (ALFRED's sequences for clean / heat / cool); navigation skills are expanded by
the navigator, which searches the memory's free space.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from embodmem.errors import EmbodmemError

MAX_PLAN_STEPS = 64  # a plan longer than this is refused (an LLM that rambles)
MAX_PLAN_CHARS = 65_536

# skill -> (required arguments, optional arguments); every argument names a memory node
SKILLS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "navigate_to": (("target",), ()),
    "pickup": (("target",), ()),
    "put": (("receptacle",), ()),
    "open": (("target",), ()),
    "close": (("target",), ()),
    "toggle_on": (("target",), ()),
    "toggle_off": (("target",), ()),
    "slice": (("target",), ()),
    "clean": (("target",), ("receptacle", "appliance")),  # sink basin, faucet
    "heat": (("target",), ("appliance",)),  # microwave
    "cool": (("target",), ("appliance",)),  # fridge
    "drop": ((), ()),
    "explore": ((), ("target",)),  # a place to go and look (any unvisited one when absent)
    "done": ((), ()),
}
NAVIGATION = frozenset({"navigate_to", "explore"})
ARGUMENTS = ("target", "receptacle", "appliance")
_NODE_ID = re.compile(r"^[A-Z][0-9]{1,9}$")


class PlanError(EmbodmemError, ValueError):
    """A plan (or one step of it) is malformed, names an unknown skill or an id the memory does
    not know, or cannot be expanded; `step` is its index (None for the plan as a whole)."""

    def __init__(self, step: int | None, field: str, value: Any, reason: str) -> None:
        self.step, self.field, self.value, self.reason = step, field, value, reason
        where = "plan" if step is None else f"plan[{step}]"
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"{where}.{field}={shown}: {reason}")


@dataclass(frozen=True, slots=True)
class Skill:
    """One plan step: a skill and the memory nodes it acts on."""

    name: str
    target: str | None = None
    receptacle: str | None = None
    appliance: str | None = None

    def args(self) -> dict[str, str]:
        """The arguments that are set."""
        return {a: getattr(self, a) for a in ARGUMENTS if getattr(self, a) is not None}

    def call(self) -> str:
        """The skill as a call, for people: `pickup(O12)`."""
        return f"{self.name}({', '.join(self.args().values())})"

    def to_json(self) -> dict[str, str]:
        """The JSON form `parse_plan` reads back."""
        return {"skill": self.name, **self.args()}


def skill_schema(known_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """JSON schema of a plan: {"plan": [ {"skill": ..., "target": ..., ...}, ... ]}. With
    `known_ids`, ids are enums of the nodes the memory knows (for endpoints that constrain
    their output with a schema)."""
    ids = sorted(set(known_ids)) if known_ids is not None else None
    node: dict[str, Any] = {"type": "string"}
    node.update({"enum": ids} if ids else {"pattern": _NODE_ID.pattern})
    variants = []
    for name, (required, optional) in SKILLS.items():
        variants.append(
            {
                "type": "object",
                "properties": {"skill": {"const": name}, **{a: node for a in required + optional}},
                "required": ["skill", *required],
                "additionalProperties": False,
            }
        )
    return {
        "type": "object",
        "properties": {
            "plan": {"type": "array", "items": {"oneOf": variants}, "maxItems": MAX_PLAN_STEPS}
        },
        "required": ["plan"],
        "additionalProperties": False,
    }


def parse_plan(text: str | bytes, known_ids: Iterable[str]) -> list[Skill]:
    """The skills of a plan given as JSON text (an object with "plan", or a bare list); a code
    fence around it is tolerated. Every id must be one `known_ids` holds."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise PlanError(None, "text", text[:40], "not UTF-8") from None
    if not isinstance(text, str):
        raise PlanError(None, "text", type(text).__name__, "expected JSON text")
    if len(text) > MAX_PLAN_CHARS:
        raise PlanError(None, "text", len(text), f"longer than {MAX_PLAN_CHARS} characters")
    body = _unfence(text)
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PlanError(None, "text", body[:40], f"not JSON ({exc.__class__.__name__})") from None
    return parse_steps(doc.get("plan") if isinstance(doc, dict) else doc, known_ids)


def parse_steps(steps: Any, known_ids: Iterable[str]) -> list[Skill]:
    """Skills from already-decoded JSON steps (a list of objects); see `parse_plan`."""
    if not isinstance(steps, list):
        raise PlanError(None, "plan", type(steps).__name__, "expected a list of steps")
    if not steps:
        raise PlanError(None, "plan", steps, "empty")
    if len(steps) > MAX_PLAN_STEPS:
        raise PlanError(None, "plan", len(steps), f"more than {MAX_PLAN_STEPS} steps")
    known = set(known_ids)
    return [_skill(i, step, known) for i, step in enumerate(steps)]


def _skill(i: int, step: Any, known: set[str]) -> Skill:
    if not isinstance(step, dict):
        raise PlanError(i, "step", step, "expected an object")
    name = step.get("skill")
    if not isinstance(name, str) or name not in SKILLS:
        raise PlanError(i, "skill", name, f"expected one of {', '.join(SKILLS)}")
    required, optional = SKILLS[name]
    # a null value is an absent one (what JSON encoders write for unset fields)
    extra = {k for k, v in step.items() if v is not None} - {"skill", *required, *optional}
    if extra:
        field = sorted(extra, key=str)[0]
        raise PlanError(i, str(field), step[field], f"{name} takes no {field}")
    args: dict[str, str] = {}
    for arg in required + optional:
        value = step.get(arg)
        if value is None:
            if arg in required:
                raise PlanError(i, arg, None, f"{name} needs a {arg}")
            continue
        if not isinstance(value, str) or value not in known:
            raise PlanError(i, arg, value, "not an id the memory knows")
        args[arg] = value
    return Skill(name, **args)


def _unfence(text: str) -> str:
    """The JSON inside a ``` fence, or the text itself."""
    m = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    return (m.group(1) if m else text).strip()


def expand(skill: Skill, thor_id: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """THOR action dicts for one manipulation skill; `thor_id` maps a memory node to the
    simulator's objectId (None when the node has none). Compound skills need their appliance
    (and for clean, the sink basin) resolved: the planner fills them from memory."""
    if skill.name in NAVIGATION:
        raise PlanError(None, "skill", skill.name, "navigation is expanded by the navigator")
    if skill.name == "done":
        return []
    if skill.name == "drop":
        return [{"action": "DropHandObject", "forceAction": True}]

    def oid(arg: str) -> str:
        node = getattr(skill, arg)
        if node is None:
            raise PlanError(None, arg, None, f"{skill.name} needs a {arg} to be expanded")
        found = thor_id(node)
        if found is None:
            raise PlanError(None, arg, node, "the memory node has no simulator id")
        return found

    simple = {
        "pickup": "PickupObject",
        "open": "OpenObject",
        "close": "CloseObject",
        "toggle_on": "ToggleObjectOn",
        "toggle_off": "ToggleObjectOff",
        "slice": "SliceObject",
    }
    if skill.name in simple:
        return [{"action": simple[skill.name], "objectId": oid("target")}]
    if skill.name == "put":  # forceAction as ALFRED's agent puts: past the type whitelist
        return [{"action": "PutObject", "objectId": oid("receptacle"), "forceAction": True}]
    target = oid("target")
    if skill.name == "clean":
        basin, faucet = oid("receptacle"), oid("appliance")
        return _actions(
            ("PutObject", basin),
            ("ToggleObjectOn", faucet),
            ("ToggleObjectOff", faucet),
            ("PickupObject", target),
        )
    box = oid("appliance")
    if skill.name == "heat":  # ALFRED's microwave sequence
        return _actions(
            ("OpenObject", box),
            ("PutObject", box),
            ("CloseObject", box),
            ("ToggleObjectOn", box),
            ("ToggleObjectOff", box),
            ("OpenObject", box),
            ("PickupObject", target),
            ("CloseObject", box),
        )
    return _actions(  # cool: ALFRED's fridge sequence
        ("OpenObject", box),
        ("PutObject", box),
        ("CloseObject", box),
        ("OpenObject", box),
        ("PickupObject", target),
        ("CloseObject", box),
    )


def _actions(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {"action": a, "objectId": o, **({"forceAction": True} if a == "PutObject" else {})}
        for a, o in pairs
    ]


def plan_json(skills: Sequence[Skill]) -> str:
    """A plan as the JSON text `parse_plan` reads (for prompts, logs and cassettes)."""
    return json.dumps({"plan": [s.to_json() for s in skills]})
