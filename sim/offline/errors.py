"""Errors of the offline simulator: what ai2thor raises as `ValueError` (bad action, bad argument,
unknown scene) is a `ValidationError` here, which is both an `EmbodmemError` and a `ValueError`."""

from __future__ import annotations

from typing import Any

from embodmem.errors import ValidationError


class InvalidActionError(ValidationError):
    """An unknown action name, an unknown or missing argument, or an argument of the wrong type;
    `code` is the errorCode THOR reports (InvalidAction, MissingArguments or InvalidArgument)."""

    def __init__(self, field: str, value: Any, reason: str, code: str = "InvalidArgument") -> None:
        super().__init__(field, value, reason)
        self.code = code


class UnknownSceneError(ValidationError):
    """A scene name that is not one of the vendored iTHOR scenes."""
