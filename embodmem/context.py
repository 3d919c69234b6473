"""The planner's view of memory: prompt text under a token budget.

Every mode writes one line per node in the same format: a room line ("R1 kitchen (77
objects)"), then objects nested under their support or container ("  on O1 Apple (sliced)").
Modes:
- `full`: the whole scene graph (for ablations): the building and what it contains, every room
  with its `connected_to` rooms, every place with its position, `connected_to` places and the
  objects it `contains`, every object with its states, position and `near` objects, nested by
  `on` / `in`; each symmetric edge is written once;
- `hierarchy`: every object with its states nested by `on` / `in` under its room (no positions,
  places or `near` edges): the plain listing;
- `retrieved`: the objects most relevant to the task (movable ones with their whole support
  chain, e.g. fork in drawer on drawer) under their rooms;
- `collapsed` (SayPlan): as `retrieved`, plus each room's remaining receptacles folded into a
  count per label; `MemoryContext.expand(node_id)` opens a room (its furniture) or an object
  (what is on/in it).

Relevant objects: the task is split into clauses; each clause brings in every label it names
outright (by any everyday name, `embodmem.lexicon`) and its most similar other objects (see
`ContextBuilder.relevant`). Recent short-term changes of the shown objects come first ("- Apple
O23: moved from CounterTop O5 to Fridge O12 (PutObject, 3.0 s ago)"). Blocks are kept in
priority order (changes, relevant objects by rank, expanded nodes, the rest) up to the first
block that does not fit, so a larger budget only adds lines and no line appears without its
parent. A budget that cannot even hold the room lines raises `QueryError`; `budget_tokens=None`
means no limit. Only the relevant objects count as short-term lookups (hits/misses), not the
surrounding lines.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodmem import validate as v
from embodmem.errors import QueryError, ValidationError
from embodmem.nodes import Layer, ObjectNode, RoomNode
from embodmem.retrieval import Retriever, state_words
from embodmem.scene_graph import SceneGraph
from embodmem.short_term import PRESENCE, ShortTermMemory
from embodmem.tokens import TokenCounter
from embodmem.types import StateChange

MODES = ("full", "hierarchy", "retrieved", "collapsed")
_CLAUSE = re.compile(r"[.;:!?\n]+|,\s+(?:then|and)\s+|\s+then\s+")
_NO_ROOM = "(no room)"
_PLAIN_LABEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ .\-]{0,79}")
# State flag -> phrase when it became true / false.
_CHANGE_WORDS = {
    "isOpen": ("opened", "closed"),
    "isToggled": ("turned on", "turned off"),
    "isSliced": ("sliced", "made whole"),
    "isCooked": ("cooked", "uncooked"),
    "isDirty": ("made dirty", "cleaned"),
    "isFilledWithLiquid": ("filled", "emptied"),
    "isPickedUp": ("picked up", "put down"),
    "isBroken": ("broken", "repaired"),
    "isUsedUp": ("used up", "refilled"),
}


def quote_label(label: str) -> str:
    """A label as prompt text: plain names as they are, anything else JSON-quoted on one line
    (a label is data from perception; a newline or quote in it must not forge a prompt line)."""
    if _PLAIN_LABEL.fullmatch(label):
        return label
    return json.dumps(label[:80])


@dataclass(frozen=True)
class MemoryContext:
    """Prompt text for a planner, its token count, and the node ids it mentions."""

    text: str
    token_count: int
    node_ids: tuple[str, ...]
    mode: str
    task: str
    budget_tokens: int | None
    expanded: frozenset[str] = frozenset()
    dropped: int = 0  # blocks left out to fit the budget
    _rebuild: Callable[..., MemoryContext] | None = field(default=None, repr=False, compare=False)

    def expand(self, node_id: str) -> MemoryContext:
        """The same context with one more node opened (a room's furniture, an object's contents)."""
        assert self._rebuild is not None
        return self._rebuild(self.task, self.budget_tokens, self.mode, self.expanded | {node_id})


@dataclass(slots=True)
class _Block:
    """Lines that are kept or dropped together; lower priority values are kept first."""

    priority: float
    order: tuple[int, ...]  # position in the document
    lines: list[str]
    node_ids: list[str]
    required: bool = False


def _id_order(text: str) -> tuple[str, int]:
    """Sort key of "O12 ..." texts by node id in numeric order (O4 before O12)."""
    head = text.split(maxsplit=1)[0]
    return head[:1], int(head[1:]) if head[1:].isdigit() else -1


def clauses(task: str) -> list[str]:
    """The task split into clauses (sentences, "... then ...", "..., and ..."), each non-empty."""
    parts = [p.strip() for p in _CLAUSE.split(task)]
    return [p for p in parts if p] or [task.strip()]


class ContextBuilder:
    """Builds `MemoryContext`s from the scene graph, the short-term memory and the retriever."""

    def __init__(
        self,
        graph: SceneGraph,
        short_term: ShortTermMemory,
        retriever: Retriever,
        counter: Callable[[], TokenCounter],
        per_clause: int = 2,
        min_similarity: float = 0.4,
        relative: float = 0.9,
        max_changes: int = 8,
    ) -> None:
        self.graph = graph
        self.short_term = short_term
        self.retriever = retriever
        self._counter = counter
        self.per_clause = per_clause
        self.min_similarity = min_similarity
        self.relative = relative
        self.max_changes = max_changes

    # ------------------------------------------------------------- selection
    def relevant(self, task: str) -> list[str]:
        """Object ids relevant to the task, best first.

        Each clause brings in, one object per label: every label it names outright (any of the
        label's everyday names, see `Retriever.mentions`; the object of that label most similar
        to the clause), and its `per_clause` most similar other objects within `relative` of
        the clause's best score and above `min_similarity` (so clauses that name nothing, like
        "turn around", add nothing). Objects rank by their summed similarity over the clauses
        that picked them, plus one per clause that named them: what the task names and keeps
        naming comes first.
        """
        if not self.graph.objects():
            return []
        parts = clauses(task)
        rows, sims = self.retriever.similarity(parts)
        if not len(rows):
            return []
        code = self.retriever.label_codes(rows)
        picked: dict[int, float] = {}
        for text, sim in zip(parts, sims, strict=True):
            named = {self.retriever.label_code(lab) for lab in self.retriever.mentions(text)}
            for c in named:
                j = int(np.argmax(np.where(code == c, sim, -np.inf)))
                if code[j] == c:  # the label may have no live object
                    picked[j] = picked.get(j, 0.0) + 1.0 + float(sim[j])
            floor = max(self.min_similarity, float(sim.max()) * self.relative)
            labels: set[int] = set()
            for j in np.argsort(-sim, kind="stable").tolist():
                if sim[j] < floor or len(labels) == self.per_clause:
                    break
                if code[j] in labels or code[j] in named:
                    continue
                labels.add(int(code[j]))
                picked[j] = picked.get(j, 0.0) + float(sim[j])
        ids = self.short_term.timeline.ids
        ranked = sorted(picked, key=lambda j: (-picked[j], int(rows[j])))
        return [ids[int(rows[j])] for j in ranked]

    def _room_of(self, node_id: str) -> str | None:
        current = self.graph.container(node_id)
        seen = set()
        while current is not None and current not in seen:
            if isinstance(self.graph.node(current), RoomNode):
                return current
            seen.add(current)
            current = self.graph.container(current)
        return None

    # --------------------------------------------------------------- writing
    def _states(self, node_id: str) -> dict[str, Any]:
        entry = self.short_term.entry(node_id)
        return entry.states if entry is not None else self.graph.object(node_id).states

    def _line(self, node_id: str, depth: int, kind: str | None, note: str = "") -> str:
        """ "[on|in ]O12 Label (states)" indented by depth; `note` is appended (full mode)."""
        node = self.graph.object(node_id)
        words = state_words(self._states(node_id), node.attributes)
        text = (
            f"{node_id} {quote_label(node.label)}"
            + (f" ({', '.join(words)})" if words else "")
            + note
        )
        return " " * depth + (f"{kind} {text}" if kind else text)

    def _notes(self) -> dict[str, str]:
        """Full mode: each node's position and its near / connected_to / contains edges, each
        symmetric edge written once (on the line of its first node, as `SceneGraph.relations`
        lists it); a room's contents are shown by indentation instead."""
        g = self.graph
        edges: dict[str, dict[str, list[str]]] = {}
        for a, kind, b in g.relations():
            if kind == "connected_to":
                kind, b = "connected to", f"{b} ({g.connections(a)[b]:.2f} m)"
            elif kind != "near" and (kind != "contains" or isinstance(g.node(a), RoomNode)):
                continue  # on / in: by nesting
            edges.setdefault(a, {}).setdefault(kind, []).append(b)
        out = {}
        for node in g.nodes():
            pos = getattr(node, "position", None)
            parts = [f" at ({pos[0]:.2f}, {pos[1]:.2f}, {pos[2]:.2f})"] if pos is not None else []
            for kind, others in edges.get(node.node_id, {}).items():
                parts.append(f"; {kind} {', '.join(sorted(others, key=_id_order))}")
            out[node.node_id] = "".join(parts)
        return out

    def _change_lines(self, shown: set[str], now_ns: int) -> list[tuple[str, str]]:
        """(node id, summary) of the shown objects' logged changes, newest first, one per object."""
        per: dict[str, list[StateChange]] = {}
        for c in reversed(self.short_term.changes()):
            if c.node_id in shown and c.node_id in self.graph:
                per.setdefault(c.node_id, []).append(c)
        out = []
        for node_id, changes in list(per.items())[: self.max_changes]:
            label = quote_label(self.graph.object(node_id).label)
            ago = (now_ns - changes[0].time_ns) / 1e9
            causes = sorted({c.cause for c in changes if c.cause})
            what = "; ".join(self._summaries(changes))
            why = f"{', '.join(causes)}, " if causes else ""
            out.append((node_id, f"- {label} {node_id}: {what} ({why}{ago:.1f} s ago)"))
        return out

    def _summaries(self, newest_first: list[StateChange]) -> list[str]:
        """One phrase per changed field, from its earliest 'before' to its latest 'after'."""
        first: dict[str, StateChange] = {}
        last: dict[str, StateChange] = {}
        for c in newest_first:
            first[c.field] = c
            last.setdefault(c.field, c)
        out = []
        for key in sorted(last, key=lambda k: k != "parentReceptacles"):
            before, after = first[key].before, last[key].after
            if before == after or (key == "position" and "parentReceptacles" in last):
                continue
            if key == "parentReceptacles":
                out.append(f"moved from {self._names(before)} to {self._names(after)}")
            elif key == "position":
                dist = float(np.linalg.norm(np.subtract(after, before)))
                out.append(f"moved {dist:.2f} m")
            elif key == PRESENCE:
                out.append("appeared" if after else "disappeared (not seen where expected)")
            elif key in _CHANGE_WORDS and isinstance(after, bool):
                out.append(_CHANGE_WORDS[key][0 if after else 1])
            else:
                out.append(f"{key} {before} -> {after}")
        return out or [f"changed back ({', '.join(sorted(last))})"]

    def _names(self, source_ids: Any) -> str:
        """Receptacle names of THOR `parentReceptacles` (source ids -> "Fridge O12")."""
        if not source_ids:
            return "nothing (held)"
        names = []
        for sid in source_ids if isinstance(source_ids, list) else [source_ids]:
            node = self.graph.object_by_source(sid) if isinstance(sid, str) else None
            names.append(
                f"{quote_label(node.label)} {node.node_id}"
                if node
                else quote_label(str(sid).split("|")[0])
            )
        return ", ".join(names)

    # ---------------------------------------------------------------- build
    def build(
        self,
        task: str,
        budget_tokens: int | None = 1500,
        mode: str = "collapsed",
        expanded: Iterable[str] = (),
    ) -> MemoryContext:
        """A `MemoryContext` for `task`; see the module docstring for modes and budget rules."""
        if not isinstance(task, str) or not task.strip():
            raise ValidationError("task", task, "expected a non-empty task description")
        v.utf8_str("task", task)
        if not isinstance(mode, str) or mode not in MODES:
            raise ValidationError("mode", mode, f"expected one of {MODES}")
        if budget_tokens is not None and (
            isinstance(budget_tokens, bool)
            or not isinstance(budget_tokens, int)
            or budget_tokens <= 0
        ):
            raise ValidationError("budget_tokens", budget_tokens, "expected an integer > 0 or None")
        opened = frozenset(v.str_list("expanded", expanded))
        for node_id in opened:
            self.graph.node(node_id)
        self.short_term.set_goal(task)
        relevant = self.relevant(task) if mode != "full" else []
        blocks = self._blocks(relevant, mode, opened)
        text, ids, dropped = self._fit(blocks, budget_tokens)
        self.short_term.access(r for r in relevant if r in ids)
        return MemoryContext(
            text=text,
            token_count=self._counter().count(text),
            node_ids=tuple(ids),
            mode=mode,
            task=task,
            budget_tokens=budget_tokens,
            expanded=opened,
            dropped=dropped,
            _rebuild=self.build,
        )

    def _blocks(self, relevant: list[str], mode: str, opened: frozenset[str]) -> list[_Block]:
        g = self.graph
        objects = [n.node_id for n in g.objects()]
        rank = {node_id: i for i, node_id in enumerate(relevant)}
        # Shown objects and the priority that brings each in.
        prio: dict[str, float] = {}
        if mode in ("full", "hierarchy"):
            prio = dict.fromkeys(objects, 2.0)
        for node_id in relevant:  # movable things come with the support/container they are at
            fixed = g.object(node_id).attributes.get("pickupable") is False
            for n in [node_id, *([] if fixed else g.support_chain(node_id))]:
                prio[n] = min(prio.get(n, np.inf), 1.0 + 0.5 * rank[node_id] / len(rank))
        whole = mode == "full"
        rooms: dict[str | None, list[str]] = {r.node_id: [] for r in g.rooms()} if whole else {}
        for node_id in objects:
            rooms.setdefault(self._room_of(node_id), []).append(node_id)
        for node_id in sorted(opened):
            if node_id in rooms:  # a room opens to its furniture (objects on nothing)
                opened_ids = [n for n in rooms[node_id] if g.parent(n) is None]
            elif isinstance(g.node(node_id), ObjectNode):
                for n in [node_id, *g.support_chain(node_id)]:
                    prio.setdefault(n, 2.5)
                opened_ids = g.children(node_id)
            else:
                continue
            for n in opened_ids:
                prio.setdefault(n, 3.0)
        blocks: list[_Block] = []
        changes = self._change_lines(set(prio), self.short_term.now_ns)
        for i, (n, line) in enumerate(changes):
            lines = ["Recent changes (newest first):", line] if i == 0 else [line]
            blocks.append(_Block(i / 100, (0, i), lines, [n]))
        notes = self._notes() if whole else {}
        if whole:
            for b_index, b in enumerate(g.nodes(Layer.BUILDING)):
                line = f"{b.node_id} {quote_label(b.label)}{notes[b.node_id]}"
                blocks.append(_Block(0.0, (1, -1, b_index), [line], [b.node_id]))
        places: dict[str | None, list[str]] = {}
        for p in g.places() if whole else ():
            places.setdefault(self._room_of(p.node_id), []).append(p.node_id)
        ordered = sorted(rooms.items(), key=lambda kv: _id_order(kv[0] or "~"))
        for r_index, (room, members) in enumerate(ordered):
            label = quote_label(self.graph.node(room).label) if room else _NO_ROOM
            hidden = [n for n in members if n not in prio]
            more = f", {len(hidden)} not shown" if hidden else ""
            head = f"{room} {label}" if room else label
            line = f"{head} ({len(members)} objects{more}){notes.get(room or '', '')}"
            blocks.append(_Block(0.0, (1, r_index, 0), [line], [room] if room else [], True))
            if mode == "collapsed" and hidden:
                folded = self._folded(hidden, room)
                blocks.append(_Block(1.75, (1, r_index, 0, 1), [folded], []))
            for p_index, p in enumerate(places.get(room, [])):
                line = f" {p} place{notes[p]}"
                blocks.append(_Block(2.0, (1, r_index, 0, 2, p_index), [line], [p]))
            shown = [n for n in members if n in prio]
            blocks += self._tree_blocks(shown, prio, (1, r_index), notes)
        if not objects:
            blocks.append(
                _Block(0.0, (1, 0, 0), ["Memory is empty: no objects seen yet."], [], True)
            )
        return blocks

    def _folded(self, hidden: list[str], room: str | None) -> str:
        """The hidden receptacles of a room as counts per label (SayPlan's collapsed nodes)."""
        g = self.graph
        folded = Counter(
            quote_label(g.object(n).label)
            for n in hidden
            if g.object(n).attributes.get("receptacle") or g.children(n)
        )
        rest = len(hidden) - sum(folded.values())
        parts = [f"{lab}x{c}" if c > 1 else lab for lab, c in sorted(folded.items())]
        if rest:
            parts.append(f"{rest} small objects")
        where = f"; expand {room} for ids" if room else ""
        return f" collapsed: {', '.join(parts)}{where}"

    def _tree_blocks(
        self,
        shown: list[str],
        prio: dict[str, float],
        where: tuple[int, ...],
        notes: dict[str, str],
    ) -> list[_Block]:
        """One block per shown object, nested under its nearest shown support/container."""
        g = self.graph
        shown_set = set(shown)
        kids: dict[str | None, list[str]] = {}
        for n in shown:
            link = g.parent(n)
            parent = link[1] if link is not None and link[1] in shown_set else None
            kids.setdefault(parent, []).append(n)
        out: list[_Block] = []
        stack = [(n, 1) for n in reversed(kids.get(None, []))]
        i = 0
        while stack:
            node_id, depth = stack.pop()
            link = g.parent(node_id)
            kind = link[0] if link is not None and depth > 1 else None
            i += 1
            line = self._line(node_id, depth, kind, notes.get(node_id, ""))
            out.append(_Block(prio[node_id], (*where, i), [line], [node_id]))
            stack += [(c, depth + 1) for c in reversed(kids.get(node_id, []))]
        return out

    def _fit(self, blocks: list[_Block], budget: int | None) -> tuple[str, list[str], int]:
        """Keep blocks by priority while the text fits the budget; returns text, ids, dropped."""
        counter = self._counter()
        cost = [counter.count("\n".join(b.lines)) + 1 for b in blocks]
        keep = np.array([b.required for b in blocks], bool)
        used = sum(c for c, k in zip(cost, keep, strict=True) if k)
        if budget is not None and used > budget:
            raise QueryError(
                "budget_tokens", budget, f"too small: the room lines alone need {used} tokens"
            )
        for i in sorted(range(len(blocks)), key=lambda j: (blocks[j].priority, blocks[j].order)):
            if keep[i]:
                continue
            if budget is not None and used + cost[i] > budget:
                break  # a prefix of the priority order: parents stay before their children
            keep[i] = True
            used += cost[i]
        kept = sorted((b for b, k in zip(blocks, keep, strict=True) if k), key=lambda b: b.order)
        ids = list(dict.fromkeys(n for b in kept for n in b.node_ids))
        text = "\n".join(line for b in kept for line in b.lines)
        return text, ids, int((~keep).sum())
