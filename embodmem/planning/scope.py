"""What the planner may remember: the memory ablations of `embodmem run-suite --memory`.

- `full`: everything the memory holds, carried across episodes (the default).
- `ltm`: the long-term graph as it stood when the episode began, plus what is in view; objects
  first seen during the episode are dropped once out of view and written to long-term memory
  only when the episode ends (KARMA's long-term memory without its short-term half).
- `stm`: only this episode, and only what the short-term buffer holds (its capacity and
  replacement policy decide what stays), plus what is in view; experience of this episode's
  earlier tasks only.
- `none`: only the current observation (and the object in the hand); no experience.

The scope forgets for real (`EmbodiedMemory.forget`), so no planner, prompt or retrieval can
read what the mode hides. The executor's own floor map (where the agent walked and looked this
episode) is kept in every mode: without it an agent cannot walk, let alone explore.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from embodmem.errors import ValidationError
from embodmem.memory import EmbodiedMemory
from embodmem.types import ObjectObservation, Observation

SCOPES = ("none", "stm", "ltm", "full")


@dataclass
class MemoryScope:
    """Applies one memory mode to an episode: `begin`, `after` each observation, `end`."""

    mode: str = "full"
    start_ids: frozenset[str] = frozenset()
    pending: dict[str, ObjectObservation] = field(default_factory=dict)  # ltm write-back
    last_ns: int = 0

    def __post_init__(self) -> None:
        if self.mode not in SCOPES:
            raise ValidationError("memory", self.mode, f"expected one of {', '.join(SCOPES)}")

    def begin(self, memory: EmbodiedMemory, resume: bool = False) -> None:
        """A new episode: `none` and `stm` start without objects and experience (unless it
        `resume`s the previous one, a later task of a composite episode: then `stm` keeps
        what it had, `none` still no experience); `ltm` notes what it knew."""
        self.pending.clear()
        if self.mode in ("none", "stm") and not resume:
            memory.forget([n.node_id for n in memory.scene_graph.objects()])
        if self.mode == "none" or (self.mode == "stm" and not resume):
            memory.experience.clear()
        self.start_ids = frozenset(n.node_id for n in memory.scene_graph.objects())

    def after(
        self, memory: EmbodiedMemory, obs: Observation, seen: list[str], held: str | None
    ) -> None:
        """Forget what the mode does not keep, given the node ids `seen` in `obs`."""
        if self.mode == "full":
            return
        keep = set(seen) | ({held} if held else set())
        if self.mode == "stm":
            keep |= {s.node_id for s in memory.short_term.entries()}
        elif self.mode == "ltm":
            keep |= self.start_ids
            for node_id, det in zip(seen, obs.objects, strict=True):
                if node_id not in self.start_ids:
                    self.pending[det.id_hint or node_id] = det
            self.last_ns = obs.time_ns
        memory.forget([n.node_id for n in memory.scene_graph.objects() if n.node_id not in keep])

    def end(self, memory: EmbodiedMemory) -> None:
        """The episode is over: `ltm` writes what it saw last of each new object."""
        if self.mode == "ltm" and self.pending:
            time_ns = max(self.last_ns, memory.last_time_ns or 0) + 1
            memory.integrate(Observation(time_ns, tuple(self.pending.values())))
            self.pending.clear()
