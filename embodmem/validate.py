"""Boundary checks shared by every room: each returns a clean value or raises a `ValidationError`
naming the field and the bad value.

The accepted domain is exactly what a snapshot can hold and what the geometry can compute with:
coordinates within +-`MAX_COORDINATE` metres, integers within int64 (times in ns), strings that
encode as UTF-8 (no lone surrogates), JSON values nested at most `MAX_DEPTH` deep. So an input
that passes these checks never makes the memory unsavable or overflows a computation later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from embodmem.errors import ValidationError

Vec3 = tuple[float, float, float]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# m: bound of every coordinate and box edge (a local map frame; 100 km covers any building or
# campus, and squared distances stay far from float overflow).
MAX_COORDINATE = 1e5
MAX_DEPTH = 32  # nesting of JSON values in states / attributes (orjson writes up to 254)
MAX_EMBEDDING = 65536  # components of an embedding vector


def finite_float(field: str, value: Any, limit: float | None = None) -> float:
    """A finite real number, |value| <= `limit` when given (bools are rejected: they are almost
    always a mix-up)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(field, value, "expected a finite number")
    try:
        out = float(value)
    except OverflowError:
        raise ValidationError(field, value, "must be finite (too large for a float)") from None
    if not math.isfinite(out):
        raise ValidationError(field, value, "must be finite (no NaN or inf)")
    if limit is not None and not -limit <= out <= limit:
        raise ValidationError(field, value, f"must be within +-{limit:g}")
    return out


def coordinate(field: str, value: Any) -> float:
    """A coordinate or length in metres, within +-MAX_COORDINATE."""
    return finite_float(field, value, MAX_COORDINATE)


def int64(field: str, value: Any, minimum: int = INT64_MIN) -> int:
    """An integer (not a bool) in [minimum, INT64_MAX]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(field, value, "expected an integer")
    out = int(value)
    if not minimum <= out <= INT64_MAX:
        raise ValidationError(field, value, f"must be in [{minimum}, {INT64_MAX}] (int64)")
    return out


def utf8_str(field: str, value: Any) -> str:
    """A string that encodes as UTF-8 (lone surrogates cannot be saved)."""
    if not isinstance(value, str):
        raise ValidationError(field, value, "expected a string")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(field, value, "not valid Unicode (lone surrogate)") from None
    return value


def vec3(field: str, value: Any, limit: float = MAX_COORDINATE) -> Vec3:
    """Three finite floats within +-`limit`, from any length-3 sequence or array."""
    if type(value) is np.ndarray and value.shape == (3,) and value.dtype.kind == "f":
        value = value.tolist()  # float rows become plain floats for the fast path below
    if type(value) in (tuple, list) and len(value) == 3:  # fast path: plain finite floats
        x, y, z = value
        if (
            type(x) is float
            and type(y) is float
            and type(z) is float
            and -limit <= x <= limit
            and -limit <= y <= limit
            and -limit <= z <= limit
        ):
            return (x, y, z)
    if isinstance(value, (str, bytes, Mapping)):
        raise ValidationError(field, value, "expected a sequence of 3 numbers")
    try:
        items = list(value)
    except TypeError:
        raise ValidationError(field, value, "expected a sequence of 3 numbers") from None
    if len(items) != 3:
        raise ValidationError(field, value, f"expected 3 numbers, got {len(items)}")
    x, y, z = (finite_float(f"{field}[{i}]", v, limit) for i, v in enumerate(items))
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
        items = [finite_float(f"{field}[{i}]", v, 1e6) for i, v in enumerate(value)]
    except TypeError:
        raise ValidationError(field, value, "expected a quaternion (x, y, z, w)") from None
    if len(items) != 4:
        raise ValidationError(field, value, f"expected 4 numbers (x, y, z, w), got {len(items)}")
    norm = math.hypot(*items)
    if norm < 1e-9:
        raise ValidationError(field, value, "quaternion has zero length")
    if abs(norm - 1.0) > 1e-12:  # keep already-unit values bit-exact (snapshot round trips)
        items = [v / norm for v in items]
    x, y, z, w = items
    return (x, y, z, w)


def nonempty_str(field: str, value: Any) -> str:
    """A non-empty, saveable string that is not only whitespace."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, value, "expected a non-empty string")
    return utf8_str(field, value)


def str_list(field: str, value: Any) -> list[str]:
    """Non-empty strings from an iterable of them (one string counts as a list of one)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (bytes, Mapping)):
        raise ValidationError(field, value, "expected a list of strings")
    try:
        items = list(value)
    except TypeError:
        raise ValidationError(field, value, "expected a list of strings") from None
    return [nonempty_str(f"{field}[{i}]", s) for i, s in enumerate(items)]


def time_ns(field: str, value: Any) -> int:
    """A non-negative integer time in nanoseconds that fits int64."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(field, value, "expected an integer time in nanoseconds")
    if value < 0:
        raise ValidationError(field, value, "time must be >= 0")
    if value > INT64_MAX:
        raise ValidationError(field, value, f"time must be <= {INT64_MAX} ns (int64)")
    return int(value)


def optional_time_ns(field: str, value: Any) -> int | None:
    """`time_ns` or None."""
    return None if value is None else time_ns(field, value)


def json_value(field: str, value: Any, depth: int = 0) -> Any:
    """A saveable JSON value: scalars (finite floats, int64 integers, UTF-8 strings), lists and
    string-keyed dicts of them, nested at most MAX_DEPTH deep. Containers are copied."""
    kind = type(value)
    if kind is dict or kind is list:  # the common case, checked without a call per scalar
        if depth >= MAX_DEPTH:
            raise ValidationError(field, value, f"nested deeper than {MAX_DEPTH} levels")
        if kind is dict:
            out_d = {}
            for k, item in value.items():
                if type(k) is not str or not k.isascii():
                    if not isinstance(k, str):
                        raise ValidationError(field, k, "mapping keys must be strings")
                    utf8_str(f"{field} key", k)
                out_d[k] = item if _plain(item) else json_value(f"{field}.{k}", item, depth + 1)
            return out_d
        return [
            item if _plain(item) else json_value(f"{field}[{i}]", item, depth + 1)
            for i, item in enumerate(value)
        ]
    if value is None or kind is bool:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ValidationError(field, value, "must be finite (no NaN or inf)")
        return value
    if kind is str:
        return utf8_str(field, value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int64(field, value)
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return json_value(field, value.item(), depth)
    if isinstance(value, float):  # float subclasses
        return json_value(field, float(value), depth)
    if isinstance(value, (tuple, list)):
        return json_value(field, list(value), depth)
    if isinstance(value, Mapping):
        return json_value(field, dict(value), depth)
    raise ValidationError(field, value, "expected a JSON-compatible value")


def _plain(item: Any) -> bool:
    """A scalar that is valid as it is (the fast path of `json_value`)."""
    kind = type(item)
    if kind is str:
        return item.isascii()
    if kind is float:
        return item - item == 0.0  # false for NaN and +-inf
    if kind is int:
        return INT64_MIN <= item <= INT64_MAX
    return kind is bool or item is None


def json_mapping(field: str, value: Any) -> dict[str, Any]:
    """A string-keyed mapping of JSON-compatible values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(field, value, "expected a mapping of name -> value")
    return json_value(field, value)


def vector(field: str, value: Any) -> tuple[float, ...]:
    """A non-empty 1-D vector of finite floats within +-1e6 (embeddings), at most
    MAX_EMBEDDING long."""
    if isinstance(value, (str, bytes, Mapping)):
        raise ValidationError(field, value, "expected a 1-D numeric vector")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(field, value, "expected a 1-D numeric vector") from None
    if arr.ndim != 1 or not 0 < arr.size <= MAX_EMBEDDING:
        raise ValidationError(field, f"shape {arr.shape}", f"expected 1..{MAX_EMBEDDING} numbers")
    if not (np.isfinite(arr).all() and np.abs(arr).max() <= 1e6):
        raise ValidationError(field, "vector", "components must be finite and within +-1e6")
    return tuple(arr.tolist())


def points_array(field: str, value: Any, drop_nonfinite: bool = False) -> tuple[np.ndarray, int]:
    """An (N, 3) float64 array; returns (array, number of dropped non-finite rows).

    With `drop_nonfinite` False any NaN/inf raises; with True such rows are removed and counted.
    """
    if isinstance(value, (str, bytes, Mapping)):
        raise ValidationError(field, type(value).__name__, "expected an (N, 3) numeric array")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
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
