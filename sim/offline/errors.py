"""Errors of the offline simulator: what ai2thor raises as `ValueError` (bad action, bad argument,
unknown scene) is a `ValidationError` here, which is both an `EmbodmemError` and a `ValueError`."""

from __future__ import annotations

from embodmem.errors import ValidationError


class InvalidActionError(ValidationError):
    """An unknown action name, an unknown or missing argument, or an argument of the wrong type."""


class UnknownSceneError(ValidationError):
    """A scene name that is not one of the vendored iTHOR scenes."""
