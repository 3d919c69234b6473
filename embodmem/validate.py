"""Boundary checks shared by every room: each returns a clean value or raises a `ValidationError`
naming the field and the bad value."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from embodmem.errors import ValidationError

Vec3 = tuple[float, float, float]
JSON_SCALARS = (bool, int, float, str, type(None))


def finite_float(field: str, value: Any) -> float:
    """A finite real number (bools are rejected: they are almost always a mix-up)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(field, value, "expected a finite number")
    out = float(value)
    if not math.isfinite(out):
        raise ValidationError(field, value, "must be finite (no NaN or inf)")
    return out


def vec3(field: str, value: Any) -> Vec3:
    """Three finite floats, from any length-3 sequence or array."""
    if type(value) is np.ndarray and value.shape == (3,) and value.dtype.kind == "f":
        value = value.tolist()  # float rows become plain floats for the fast path below
    if type(value) in (tuple, list) and len(value) == 3:  # fast path: plain finite floats
        x, y, z = value
        if type(x) is float and type(y) is float and type(z) is float and math.isfinite(x + y + z):
            return (x, y, z)
    if isinstance(value, (str, bytes, Mapping)):
        raise ValidationError(field, value, "expected a sequence of 3 numbers")
    try:
        items = list(value)
    except TypeError:
        raise ValidationError(field, value, "expected a sequence of 3 numbers") from None
    if len(items) != 3:
        raise ValidationError(field, value, f"expected 3 numbers, got {len(items)}")
    x, y, z = (finite_float(f"{field}[{i}]", v) for i, v in enumerate(items))
    return (x, y, z)


def quaternion(field: str, value: Any) -> tuple[float, float, float, float]:
    """A unit quaternion (x, y, z, w); normalised, rejected when near zero."""
    if type(value) in (tuple, list) and len(value) == 4:  # fast path: already unit, finite
        x, y, z, w = value
        if (
            type(x) is float
            and type(y) is float
            and type(z) is float
            and type(w) is float
            and abs(x * x + y * y + z * z + w * w - 1.0) <= 1e-12
        ):
            return (x, y, z, w)
    if isinstance(value, (str, bytes, Mapping)):
        raise ValidationError(field, value, "expected a quaternion (x, y, z, w)")
    try:
        items = [finite_float(f"{field}[{i}]", v) for i, v in enumerate(value)]
    except TypeError:
        raise ValidationError(field, value, "expected a quaternion (x, y, z, w)") from None
    if len(items) != 4:
        raise ValidationError(field, value, f"expected 4 numbers (x, y, z, w), got {len(items)}")
    norm = math.sqrt(sum(v * v for v in items))
    if norm < 1e-9:
        raise ValidationError(field, value, "quaternion has zero length")
    if abs(norm - 1.0) > 1e-12:  # keep already-unit values bit-exact (snapshot round trips)
        items = [v / norm for v in items]
    x, y, z, w = items
    return (x, y, z, w)


def nonempty_str(field: str, value: Any) -> str:
    """A non-empty string without surrounding whitespace."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, value, "expected a non-empty string")
    return value


def time_ns(field: str, value: Any) -> int:
    """A non-negative integer time in nanoseconds."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(field, value, "expected an integer time in nanoseconds")
    if value < 0:
        raise ValidationError(field, value, "time must be >= 0")
    return int(value)


def json_value(field: str, value: Any) -> Any:
    """A JSON-compatible value (scalars, lists and string-keyed dicts of them); floats finite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(field, value, "must be finite (no NaN or inf)")
    if isinstance(value, JSON_SCALARS):
        return value
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return json_value(field, value.item())
    if isinstance(value, (list, tuple)):
        return [json_value(f"{field}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError(field, k, "mapping keys must be strings")
            out[k] = json_value(f"{field}.{k}", v)
        return out
    raise ValidationError(field, value, "expected a JSON-compatible value")


def json_mapping(field: str, value: Any) -> dict[str, Any]:
    """A string-keyed mapping of JSON-compatible values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(field, value, "expected a mapping of name -> value")
    return json_value(field, value)


def points_array(field: str, value: Any, drop_nonfinite: bool = False) -> tuple[np.ndarray, int]:
    """An (N, 3) float64 array; returns (array, number of dropped non-finite rows).

    With `drop_nonfinite` False any NaN/inf raises; with True such rows are removed and counted.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            field, type(value).__name__, "expected an (N, 3) numeric array"
        ) from None
    if arr.size == 0:
        return np.empty((0, 3), dtype=np.float64), 0
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValidationError(field, f"shape {arr.shape}", "expected an (N, 3) array")
    if np.isfinite(arr).all():  # fast path: one pass, no per-row mask
        return arr, 0
    finite = np.isfinite(arr).all(axis=1)
    dropped = int(arr.shape[0] - finite.sum())
    if dropped:
        if not drop_nonfinite:
            raise ValidationError(field, f"{dropped} non-finite rows", "points must be finite")
        arr = arr[finite]
    return arr, dropped
