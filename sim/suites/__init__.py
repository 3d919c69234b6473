"""Task suites: versioned JSON files naming the episodes of a benchmark (`load_suite`).

A suite file (`sim/suites/<name>.json`, written by `python -m sim.suites.generate`) holds a
format header, the source the tasks come from (a vendored ALFRED split), the generator's seed,
and one entry per episode: its id, category and the tasks it runs, in order. A task is an
ALFRED task id, or a reference task (`sim.tasks.references`) as a dict: `{"reference":
"return_object" | "place_referenced", "source": index of the earlier task it refers to,
"state": "hot" | "cold" | "clean" | "moved", "types": [object types], "instruction": "...",
"parent": receptacle type (place_referenced)}`. A task stream's entry may name `shuffle`, the
share of pickupable objects the seeded randomizer moves before each later task. `alfred:PATH`
makes a suite on the fly from any ALFRED JSONL file or json_2.1.0 checkout (one task each).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from embodmem.errors import EmbodmemError, ValidationError
from embodmem.planning.protocol import Reference
from sim.tasks.alfred import ALFRED_VALID_SEEN, Task, load_alfred
from sim.tasks.references import ReferenceTask

FORMAT = "embodmem.suite"
VERSION = 1
SUITE_DIR = Path(__file__).resolve().parent
SOURCES = {
    "alfred/valid_seen": ALFRED_VALID_SEEN,
    "alfred/train_sample": ALFRED_VALID_SEEN.with_name("train_sample.jsonl.gz"),
}


class SuiteError(ValidationError):
    """A suite name, file or entry is wrong."""


@dataclass(frozen=True, slots=True)
class SuiteEpisode:
    """One episode of a suite: its id, the scene, and the tasks it runs in order."""

    episode_id: str
    scene: str
    tasks: tuple[Task | ReferenceTask, ...]
    category: str = "simple"
    shuffle: float = 0.0  # share of objects moved between tasks (task streams)
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Suite:
    """A named, versioned list of episodes."""

    name: str
    version: int
    episodes: tuple[SuiteEpisode, ...]


def suite_names() -> list[str]:
    """The suites shipped in `sim/suites/`."""
    return sorted(p.stem for p in SUITE_DIR.glob("*.json"))


def load_suite(name: str) -> Suite:
    """The suite called `name` (a shipped one or `alfred:PATH`); unknown names list the valid."""
    if not isinstance(name, str) or not name:
        raise SuiteError("suite", name, "expected a suite name")
    if name.startswith("alfred:"):
        path = Path(name.split(":", 1)[1]).expanduser()
        if not path.exists():
            raise SuiteError("suite", name, f"no such ALFRED file or folder: {path}")
        tasks = load_alfred(path)
        return Suite(name, VERSION, tuple(_single(t) for t in tasks))
    file = SUITE_DIR / f"{name}.json"
    if not file.is_file():
        valid = ", ".join([*suite_names(), "alfred:PATH"])
        raise SuiteError("suite", name, f"unknown suite; expected one of {valid}")
    return _read(file)


def _single(task: Task) -> SuiteEpisode:
    return SuiteEpisode(task.task_id, task.scene, (task,))


def _read(file: Path) -> Suite:
    try:
        doc = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise SuiteError(str(file), "", f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SuiteError(
            f"{file.name}.format",
            doc.get("format") if isinstance(doc, dict) else doc,
            f"expected {FORMAT!r}",
        )
    if doc.get("version") != VERSION:
        raise SuiteError(f"{file.name}.version", doc.get("version"), f"expected {VERSION}")
    sources = doc.get("source")
    sources = [sources] if isinstance(sources, str) else sources
    if not isinstance(sources, list) or not sources or not set(sources) <= set(SOURCES):
        raise SuiteError(f"{file.name}.source", sources, f"expected some of {sorted(SOURCES)}")
    by_id = {t.task_id: t for source in sources for t in load_alfred(SOURCES[source])}
    episodes = []
    for i, entry in enumerate(doc.get("episodes") or []):
        where = f"{file.name}.episodes[{i}]"
        ids = entry.get("tasks") if isinstance(entry, dict) else None
        if not isinstance(ids, list) or not ids or not isinstance(ids[0], str):
            raise SuiteError(f"{where}.tasks", ids, "expected a list of task ids, ALFRED first")
        missing = [t for t in ids if isinstance(t, str) and t not in by_id]
        if missing:
            raise SuiteError(f"{where}.tasks", missing, f"not in {sources}")
        head = by_id[ids[0]]
        tasks = tuple(
            by_id[t] if isinstance(t, str) else _reference(f"{where}.tasks[{k}]", t, head)
            for k, t in enumerate(ids)
        )
        shuffle = entry.get("shuffle", 0.0)
        if (
            isinstance(shuffle, bool)
            or not isinstance(shuffle, (int, float))
            or not (0.0 <= shuffle <= 1.0)
        ):
            raise SuiteError(f"{where}.shuffle", shuffle, "expected a share in [0, 1]")
        episodes.append(
            SuiteEpisode(
                str(entry.get("episode_id") or ids[0]),
                head.scene,
                tasks,
                str(entry.get("category", "simple")),
                float(shuffle),
                int(doc.get("seed", 0)) + i,
            )
        )
    if not episodes:
        raise SuiteError(f"{file.name}.episodes", [], "the suite has no episodes")
    return Suite(str(doc.get("name", file.stem)), VERSION, tuple(episodes))


def _reference(where: str, entry: object, head: Task) -> ReferenceTask:
    """A reference task from its suite entry (see the module docstring)."""
    if not isinstance(entry, dict):
        raise SuiteError(where, entry, "expected an ALFRED task id or a reference task dict")
    try:
        ref = Reference("changed", entry.get("state"), tuple(entry.get("types") or ()))
        return ReferenceTask(
            task_id=str(entry.get("task_id") or f"{head.task_id}-{entry.get('reference')}"),
            scene=head.scene,
            instruction=str(entry.get("instruction") or ""),
            task_type=str(entry.get("reference")),
            reference=ref,
            source=int(entry.get("source", 0)),
            parent=entry.get("parent"),
        )
    except EmbodmemError as exc:
        raise SuiteError(where, entry, str(exc)) from None
