"""Incremental scene-graph updates (Hydra style): what subscribers were last told, and the
difference between that and the memory now, as one `SceneGraphUpdate`.

Nodes are compared by their `embodmem.graph_io` record, edges by (source, target, kind) and
attributes, short-term records by content; the change log is append-only with the oldest entries
falling off, so new changes are those not published before (as a multiset). Every
`full_every`-th tick (and the first, and the first after `reset`) is a full update, so a late
subscriber is whole again within `full_every` ticks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from embodmem_interfaces.msg import SceneGraphUpdate
from std_msgs.msg import Header

from embodmem import graph_io
from embodmem.memory import EmbodiedMemory
from embodmem_ros.convert import change_to_msg, dumps, edge_to_msg, state_to_msg

EdgeKey = tuple[str, str, str]


def _unpublished(keys: list[str], unseen: Counter[str]) -> list[int]:
    """Indices of the change-log entries not published before: the log only appends, so of
    entries that read the same the newest ones are the new ones."""
    out = []
    for i in range(len(keys) - 1, -1, -1):
        if unseen[keys[i]] > 0:
            unseen[keys[i]] -= 1
            out.append(i)
    return out[::-1]


class UpdateTracker:
    """Builds the next `SceneGraphUpdate` of one memory from what the previous ones said."""

    def __init__(self, full_every: int) -> None:
        self.full_every = max(1, full_every)
        self.sequence = 0
        self.reset()

    def reset(self) -> None:
        """Forget what was published: the next update is a full one (the memory was replaced)."""
        self._nodes: dict[str, str] = {}
        self._edges: dict[EdgeKey, dict[str, Any]] = {}
        self._states: dict[str, str] = {}
        self._changes: Counter[str] = Counter()
        self._ticks = 0

    def skip(self) -> bool:
        """Pass a tick at which the memory is known unchanged; False (not passed) when a full
        update is due at it."""
        if self._ticks % self.full_every == 0:
            return False
        self._ticks += 1
        return True

    def update(self, memory: EmbodiedMemory, header: Header) -> SceneGraphUpdate | None:
        """The update to publish now, or None when nothing changed and no full update is due."""
        full = self._ticks % self.full_every == 0
        self._ticks += 1
        graph = graph_io.to_dict(memory.scene_graph)
        nodes = {n["id"]: dumps(n) for n in graph["nodes"]}
        edges = {
            (e["source"], e["target"], e["kind"]): {
                k: value for k, value in e.items() if k not in ("source", "target", "kind")
            }
            for e in graph["links"]
        }
        entries = {s.node_id: s for s in memory.short_term.entries()}
        states = {node_id: dumps(s) for node_id, s in entries.items()}
        log = memory.short_term.changes()
        keys = [dumps(c) for c in log]
        counts = Counter(keys)
        fresh = range(len(log)) if full else _unpublished(keys, counts - self._changes)
        msg = SceneGraphUpdate(header=header, full_update=full)
        msg.nodes_json = [t for n, t in nodes.items() if full or self._nodes.get(n) != t]
        msg.edges = [
            edge_to_msg(*key, attrs)
            for key, attrs in edges.items()
            if full or self._edges.get(key) != attrs
        ]
        msg.object_states = [
            state_to_msg(entries[n]) for n, t in states.items() if full or self._states.get(n) != t
        ]
        msg.changes = [change_to_msg(log[i]) for i in fresh]
        if not full:
            msg.deleted_node_ids = [n for n in self._nodes if n not in nodes]
            msg.deleted_edges = [
                edge_to_msg(*key, attrs) for key, attrs in self._edges.items() if key not in edges
            ]
            msg.evicted_node_ids = [n for n in self._states if n not in states]
            if not (
                msg.nodes_json
                or msg.edges
                or msg.object_states
                or msg.changes
                or msg.deleted_node_ids
                or msg.deleted_edges
                or msg.evicted_node_ids
            ):
                return None
        self._nodes, self._edges, self._states, self._changes = nodes, edges, states, counts
        self.sequence += 1
        msg.sequence_number = self.sequence
        return msg
