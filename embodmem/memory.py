"""`EmbodiedMemory`: the facade that wires the memory rooms together; no algorithms live here.

mem = EmbodiedMemory()
mem.integrate(observation)      # scene graph + places + octree + short-term buffer
mem.query(text="knife")         # -> [MemoryHit]; mem.short_term.changes(since_ns=t)
mem.context("put the apple in the fridge")  # -> MemoryContext for a planner prompt
mem.save("kitchen.json")        # or "run.sqlite" for a crash-safe snapshot store
mem = EmbodiedMemory.load("kitchen.json")
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from embodmem import graph_io, store, validate
from embodmem.config import MemoryConfig
from embodmem.context import ContextBuilder, MemoryContext
from embodmem.embedders import Embedder, make_embedder
from embodmem.errors import EmbodmemError, SnapshotError, ValidationError
from embodmem.experience import ExperienceMemory
from embodmem.octree import Octree
from embodmem.policies import make_policy
from embodmem.retrieval import MemoryHit, Retriever
from embodmem.scene_graph import IntegrateReport, SceneGraph
from embodmem.short_term import Flush, ShortTermMemory
from embodmem.tokens import TokenCounter
from embodmem.topology import Topology
from embodmem.types import Observation
from embodmem.visibility import octree_sight

FORMAT = "embodmem.memory"
VERSION = 2  # 2: JSON snapshot files carry a checksum (the layout is that of 1)
COMPATIBLE: dict[int, Any] = {1: None, 2: None}
SECTIONS = {
    "format",
    "version",
    "config",
    "observations",
    "last_time_ns",
    "scene_graph",
    "topology",
    "octree",
    "short_term",
    "experience",
}


def object_number(node_id: str) -> int:
    """Integer id of an object node ("O12" -> 12), as stored in the octree's voxels."""
    return int(node_id[1:])


class EmbodiedMemory:
    """Long-term scene graph, spatial octree, places graph and short-term object-state memory
    behind one object, with retrieval (`query`) and planner context (`context`)."""

    def __init__(
        self,
        config: MemoryConfig | None = None,
        labels: Iterable[str] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.config = config or MemoryConfig()
        if not isinstance(self.config, MemoryConfig):
            raise ValidationError("config", type(config).__name__, "expected a MemoryConfig")
        self.embedder = embedder or make_embedder(self.config.embedder)
        self.scene_graph = SceneGraph(
            labels=labels,
            association_distance=self.config.association_distance,
            move_threshold=self.config.move_threshold,
        )
        self.octree = Octree(resolution=self.config.octree_resolution)
        self.topology = Topology(
            self.scene_graph, self.config.place_distance, self.config.place_novelty_similarity
        )
        self._wire()
        self.experience = ExperienceMemory(embedder=self.embedder)
        self.observations = 0
        self.last_time_ns: int | None = None

    def _wire(self) -> None:
        """(Re)build the rooms that read the scene graph: short-term, retrieval, context."""
        cfg = self.config
        self.short_term = ShortTermMemory(
            self.scene_graph,
            capacity=cfg.short_term_capacity,
            policy=make_policy(cfg.short_term_policy, self.embedder),
            move_threshold=cfg.move_threshold,
            stable_after=cfg.stable_observations,
            change_log=cfg.change_log_length,
            view_fov_deg=cfg.view_fov_deg,
            view_range=cfg.view_range,
            view_coverage=cfg.view_coverage,
            consolidate=cfg.write_policy == "consolidate",
            on_flush=self._write_back,
            line_of_sight=octree_sight(self.octree),
        )
        self.retriever = Retriever(
            self.scene_graph, self.short_term, self.octree, self.embedder, cfg.query_radius
        )
        self._contexts = ContextBuilder(
            self.scene_graph,
            self.short_term,
            self.retriever,
            self._token_counter,
            per_clause=cfg.context_per_clause,
            min_similarity=cfg.context_min_similarity,
            relative=cfg.context_relative,
        )
        self._tokens: TokenCounter | None = None

    def _token_counter(self) -> TokenCounter:
        if self._tokens is None:
            self._tokens = TokenCounter(self.config.token_encoding)
        return self._tokens

    def integrate(self, obs: Observation) -> IntegrateReport:
        """Merge one observation into every memory; rejects bad input before changing anything.

        With `write_policy="consolidate"` updates of known objects wait in the short-term
        buffer (their node ids are still reported) and reach the scene graph when stable or
        evicted; new objects enter it at once.
        """
        if not isinstance(obs, Observation):
            raise ValidationError("observation", type(obs).__name__, "expected an Observation")
        if obs.points is not None and len(obs.points):
            self.octree.check_points(obs.points, "observation.points")
        st = self.short_term
        matches = self.scene_graph.match(obs)
        before = st.before(matches)
        held = [st.holds_back(det, m) for det, m in zip(obs.objects, matches, strict=True)]
        if any(held):
            sent = tuple(det for det, h in zip(obs.objects, held, strict=True) if not h)
            report = self.scene_graph.integrate(
                dataclasses.replace(obs, objects=sent, points=None, point_object_index=None),
                [m for m, h in zip(matches, held, strict=True) if not h],
            )
            sent_ids = iter(report.node_ids)
            report.node_ids = [
                m if h else next(sent_ids) for m, h in zip(matches, held, strict=True)
            ]
            moved = report.moved + [
                m
                for det, m, b, h in zip(obs.objects, matches, before, held, strict=True)
                if h and math.dist(b[0], det.position) > self.config.move_threshold
            ]
        else:
            report = self.scene_graph.integrate(obs, matches)
            moved = report.moved
        if obs.agent_pose is not None:
            self.topology.update(
                obs.agent_pose.position, obs.time_ns, report.node_ids, room_id=report.room_id
            )
            self.topology.attach_landmarks(report.new + report.moved)
        if obs.points is not None and len(obs.points):
            ids = None
            if obs.point_object_index is not None:
                numbers = np.array([object_number(n) for n in report.node_ids] + [-1], np.int64)
                ids = numbers[obs.point_object_index]  # -1 indexes the trailing "no object"
            for node_id in moved:
                self.octree.remove_object(object_number(node_id))
            self.octree.insert_points(obs.points, time_ns=obs.time_ns, object_ids=ids)
        self.observations += 1
        self.last_time_ns = max(self.last_time_ns or 0, obs.time_ns)
        self._touch(report.node_ids, moved)
        st.observe(obs, report.node_ids, before)
        if self.config.forget_tau_s is not None:
            self._forget()
        return report

    def _touch(self, node_ids: list[str], moved: list[str]) -> None:
        """Tell retrieval which descriptions may have changed (objects seen, children of moved)."""
        self.retriever.touch(node_ids)
        for node_id in moved:
            self.retriever.touch(self.scene_graph.children(node_id))

    def _write_back(self, flushes: list[Flush]) -> None:
        """Consolidate short-term updates into the scene graph (places and retrieval follow)."""
        for f in flushes:
            report = self.scene_graph.integrate(Observation(f.time_ns, tuple(f.detections)))
            self.topology.attach_landmarks(report.moved)
            self._touch(report.node_ids, report.moved)

    def _forget(self) -> None:
        """Drop long-term objects whose retention decayed below the threshold (never buffered
        ones), from every room."""
        assert self.config.forget_tau_s is not None
        self.forget(self.short_term.fading(self.config.forget_tau_s, self.config.forget_threshold))

    def forget(self, node_ids: Iterable[str]) -> None:
        """Drop objects from every room (graph, octree, places, short-term); ids must name
        remembered objects, checked before anything is dropped."""
        ids = list(dict.fromkeys(node_ids))
        for node_id in ids:
            self.scene_graph.object(node_id)  # raises UnknownNodeError before any change
        for node_id in ids:
            self.scene_graph.remove_object(node_id)
            self.octree.remove_object(object_number(node_id))
            self.topology.forget_object(node_id)
        self.short_term.forget(ids)

    def consolidate(self) -> None:
        """Write every pending short-term update into the long-term graph now."""
        self.short_term.flush()

    # ------------------------------------------------------------- retrieval
    def query(
        self,
        text: str | None = None,
        near: Any = None,
        radius: float | None = None,
        since: int | None = None,
        until: int | None = None,
        labels: Iterable[str] | None = None,
        k: int = 10,
    ) -> list[MemoryHit]:
        """Remembered objects matching text (semantic), place (`near` point or node id within
        `radius` m), time window [since, until] ns and labels; best first. Each hit counts as a
        short-term lookup. See `embodmem.retrieval` for the rules on bad input."""
        return self.retriever.query(text, near, radius, since, until, labels, k)

    def context(
        self,
        task: str,
        budget_tokens: int | None = 1500,
        mode: str = "collapsed",
        expanded: Iterable[str] = (),
    ) -> MemoryContext:
        """Prompt text about memory for a planner working on `task`, within `budget_tokens`
        (modes: collapsed, retrieved, full, hierarchy; see `embodmem.context`)."""
        return self._contexts.build(task, budget_tokens, mode, expanded)

    def stats(self) -> dict[str, Any]:
        """Sizes of each memory (for tables and logs)."""
        g = self.scene_graph
        return {
            "observations": self.observations,
            "objects": len(g.objects()),
            "rooms": len(g.rooms()),
            "places": len(g.places()),
            "relations": {
                k: len(g.relations(k)) for k in ("on", "in", "near", "contains", "connected_to")
            },
            "voxels": len(self.octree),
            "short_term": self.short_term.stats(),
        }

    # ------------------------------------------------------------ persistence
    @store.paused_gc()
    def to_dict(self) -> dict[str, Any]:
        """Versioned snapshot of the whole memory (JSON-ready)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": self.config.to_dict(),
            "observations": self.observations,
            "last_time_ns": self.last_time_ns,
            "scene_graph": graph_io.to_dict(self.scene_graph),
            "topology": self.topology.to_dict(),
            "octree": {
                k: store.encode_array(v) if isinstance(v, np.ndarray) else v
                for k, v in self.octree.state_dict().items()
            },
            "short_term": self.short_term.to_dict(),
            "experience": self.experience.to_dict(),
        }

    @classmethod
    @store.paused_gc()
    def from_dict(cls, d: dict[str, Any], embedder: Embedder | None = None) -> EmbodiedMemory:
        """Memory from `to_dict` output; raises `SnapshotError` on any defect."""
        graph_io.check_header(d, FORMAT, COMPATIBLE, "memory")
        unknown = set(d) - SECTIONS
        if unknown:
            raise SnapshotError(f"memory: unknown sections {sorted(map(str, unknown))}")
        try:
            mem = cls(MemoryConfig.from_dict(d["config"]), embedder=embedder)
            mem.scene_graph = graph_io.from_dict(d["scene_graph"])
            mem.topology = Topology.from_dict(mem.scene_graph, d["topology"])
            octree_state = {
                k: store.decode_array(v, f"memory.octree.{k}") if isinstance(v, dict) else v
                for k, v in d["octree"].items()
            }
            if octree_state.get("resolution") != mem.config.octree_resolution:
                raise SnapshotError("memory.octree.resolution: differs from config")
            mem.octree = Octree.from_state_dict(octree_state)
            mem._wire()
            if "short_term" in d:
                mem.short_term.load_dict(d["short_term"])
            else:  # snapshots written before the short-term memory existed
                mem.short_term.sync()
            if "experience" in d:  # snapshots written before it existed have none
                mem.experience = ExperienceMemory.from_dict(d["experience"], mem.embedder)
            mem.observations = validate.int64("memory.observations", d["observations"], 0)
            mem.last_time_ns = validate.optional_time_ns("memory.last_time_ns", d["last_time_ns"])
        except SnapshotError:
            raise
        except (
            EmbodmemError,
            LookupError,
            TypeError,
            ValueError,
            AttributeError,
            ArithmeticError,
        ) as exc:
            raise SnapshotError(
                f"memory: malformed snapshot ({type(exc).__name__}: {exc})"
            ) from None
        return mem

    @store.paused_gc()
    def save(
        self, path: str | Path, force: bool = False, keep_last: int | None = store.DEFAULT_KEEP
    ) -> Path:
        """Save atomically: a `.json` file (replaced whole, with a checksum) or a `.sqlite`
        store (appended; the last `keep_last` snapshots are kept). A file that is not an
        embodmem snapshot is replaced only with `force`; see `embodmem.store`."""
        return store.save_snapshot(path, self.to_dict(), force=force, keep_last=keep_last)

    @classmethod
    @store.paused_gc()
    def load(
        cls, path: str | Path, snapshot_id: int | None = None, embedder: Embedder | None = None
    ) -> EmbodiedMemory:
        """Load a memory saved with `save` (the latest snapshot of a SQLite store by default)."""
        return cls.from_dict(store.load_snapshot(path, snapshot_id), embedder)
