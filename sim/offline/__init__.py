"""THOR-compatible offline simulator on the vendored iTHOR scenes (see `controller`)."""

from sim.offline.controller import OfflineController
from sim.offline.event import Event
from sim.offline.randomizer import random_spawn

__all__ = ["Event", "OfflineController", "random_spawn"]
