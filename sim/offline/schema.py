"""Argument checking for actions, as THOR's action dispatcher does it: an unknown action, an
unknown or missing argument, or a value of the wrong type raises `InvalidActionError` (a
`ValueError`, which is what ai2thor's controller raises for these error codes) whose reason is
THOR's errorMessage. The "Expected arguments" line lists this simulator's parameters with C#
type names, not THOR's full method signatures, and the "Valid ways to call" lines are left out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.offline import messages as msg
from sim.offline.errors import InvalidActionError

# Arguments every action accepts (THOR's generic ServerAction fields and ai2thor's bookkeeping).
COMMON = {
    "forceAction": "bool",
    "sequenceId": "int",
    "renderImage": "bool",
    "agentId": "int",
    "renderObjectImage": "bool",
    "renderInstanceSegmentation": "bool",
    "renderDepthImage": "bool",
    "renderClassImage": "bool",
    "renderSemanticSegmentation": "bool",
}


# C# type names THOR's dispatcher prints for an argument kind ("float"/"int" as it maps them).
CS_TYPES = {
    "bool": "Boolean",
    "int": "int",
    "number": "float",
    "str": "String",
    "vec3": "Vector3",
    "rotation": "Vector3",
    "strlist": "String[]",
    "numbers": "Single[]",
    "bools": "Boolean[]",
    "vec3s": "Vector3[]",
}


@dataclass(frozen=True)
class Spec:
    """Accepted arguments of one action: name -> kind, and the required ones."""

    params: Mapping[str, str] = field(default_factory=dict)
    required: frozenset[str] = frozenset()


FLOAT_MAX = 3.4028234663852886e38  # C# float (System.Single) range
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # C# int (System.Int32) range


def _number(v: Any) -> bool:
    """A value THOR converts to a C# float: finite and within the float32 range."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if isinstance(v, int):
        return -FLOAT_MAX <= v <= FLOAT_MAX
    return math.isfinite(v) and -FLOAT_MAX <= v <= FLOAT_MAX


def _integer(v: Any) -> bool:
    """A value THOR converts to a C# int: an integral number within the int32 range."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
        return False
    return INT_MIN <= v <= INT_MAX


def _xyz(v: Any, keys: tuple[str, ...]) -> bool:
    return (
        isinstance(v, Mapping)
        and set(v) <= {"x", "y", "z"}
        and all(k in v for k in keys)
        and all(_number(c) for c in v.values())
    )


def _convert(kind: str, v: Any) -> tuple[bool, Any]:
    """(ok, converted value) for one argument kind."""
    if kind == "bool":
        ok = isinstance(v, bool) or (type(v) is int and v in (0, 1))
        return ok, bool(v) if ok else v
    if kind == "int":
        ok = _integer(v)
        return ok, int(v) if ok else v
    if kind == "number":
        return _number(v), float(v) if _number(v) else v
    if kind == "str":
        return isinstance(v, str), v
    if kind == "vec3":
        return _xyz(v, ("x", "y", "z")), (
            {k: float(c) for k, c in v.items()} if _xyz(v, ("x", "y", "z")) else v
        )
    if kind == "rotation":
        if _number(v):
            return True, {"x": 0.0, "y": float(v), "z": 0.0}
        return _xyz(v, ("y",)), v
    if kind == "strlist":
        ok = isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v)
        return ok, list(v) if ok else v
    if kind in ("numbers", "bools", "vec3s"):  # lists, ranges, numpy arrays (ai2thor sends them)
        items = _items(v)
        each = {"numbers": "number", "bools": "bool", "vec3s": "vec3"}[kind]
        converted = [_convert(each, x) for x in items] if items is not None else None
        if converted is None or not all(ok for ok, _ in converted):
            return False, v
        return True, [x for _, x in converted]
    return True, v


def _items(v: Any) -> list[Any] | None:
    """The elements of a list-like argument (numpy scalars as Python numbers), else None."""
    if isinstance(v, (list, tuple, range)):
        return [x.item() if hasattr(x, "item") and not isinstance(x, Mapping) else x for x in v]
    if type(v).__module__ == "numpy" and getattr(v, "ndim", None) == 1:
        return v.tolist()
    return None


def parse(action: str, spec: Spec, args: Mapping[str, Any]) -> dict[str, Any]:
    """Checked and converted arguments of `action`; raises `InvalidActionError` with THOR's
    dispatcher messages (unknown arguments, then missing ones, then unconvertible values)."""
    unknown = [n for n in args if n not in spec.params and n not in COMMON]
    if unknown:
        raise InvalidActionError(
            unknown[0],
            args[unknown[0]],
            msg.INVALID_ARGUMENT.format(
                action=action,
                plural="s" if len(unknown) > 1 else "",
                names=", ".join(f"'{n}'" for n in unknown),
                expected=", ".join(
                    f"{CS_TYPES.get(k, 'Object')} {n}" for n, k in spec.params.items()
                ),
                given=", ".join(f"'{n}'" for n in args),
            ),
        )
    missing = sorted(spec.required - set(args))
    if missing:
        raise InvalidActionError(
            missing[0],
            None,
            msg.MISSING_ARGUMENTS.format(action=action, names=",".join(missing)),
            code="MissingArguments",
        )
    out: dict[str, Any] = {}
    for name, value in args.items():
        kind = spec.params.get(name) or COMMON[name]
        ok, converted = _convert(kind, value)
        if not ok:
            raise InvalidActionError(
                name,
                value,
                msg.CANNOT_CONVERT.format(
                    action=action, name=name, value=value, type=CS_TYPES.get(kind, "Object")
                ),
            )
        out[name] = converted
    return out
