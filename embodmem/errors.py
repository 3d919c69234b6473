"""Error types of embodmem: every rejected input raises a subclass of `EmbodmemError`.

Each error names the offending field and value so a caller can fix the input; the memory is left
exactly as it was before the call that raised.
"""

from __future__ import annotations

from typing import Any


class EmbodmemError(Exception):
    """Base class of all errors raised by embodmem."""


class ValidationError(EmbodmemError, ValueError):
    """An input value is malformed: wrong type, shape, NaN/inf, negative size, bad range."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={_short_repr(value)}: {reason}")


class UnknownLabelError(ValidationError):
    """A label is not in the memory's configured label vocabulary."""


class DuplicateIdError(ValidationError):
    """The same id appears twice where ids must be unique (e.g. within one observation)."""


class UnknownNodeError(EmbodmemError, LookupError):
    """A node id does not exist in the memory."""

    def __init__(self, node_id: Any, where: str = "scene graph") -> None:
        self.node_id = node_id
        super().__init__(f"node_id={node_id!r}: no such node in the {where}")


class SnapshotError(EmbodmemError):
    """A snapshot file is truncated, corrupt, of an unknown format or an unsupported version."""


class OutputError(EmbodmemError):
    """An output path cannot be written safely (a directory, a device, someone else's file)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class OutOfBoundsError(ValidationError):
    """A coordinate lies outside the representable range of a spatial index."""


class QueryError(ValidationError):
    """A query's arguments are inconsistent (k <= 0, inverted time range, nothing to match)."""


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
