"""A run's output folder: episodes.jsonl (appended one durable line per finished episode),
run.json (the configuration), summary.json / summary.md / summary.csv.

Re-running into the same folder skips the episodes it already holds for the same config hash;
a line that does not parse is reported with its line number, never overwritten.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from embodmem.errors import ValidationError
from embodmem.store import atomic_write
from sim.tasks.metrics import PERCENT_COLUMNS, EpisodeResult, aggregate, format_table

EPISODES = "episodes.jsonl"
REQUIRED = ("index", "task_id", "success", "steps", "goal_conditions_met", "goal_conditions_total")
PERCENT = PERCENT_COLUMNS | {"task_SR", "memory_hit_rate"}  # fractions shown as percentages
COLUMNS = (
    "episodes",
    "SR",
    "task_SR",
    "GC",
    "PLW_SR",
    "PLW_GC",
    "steps",
    "failed_actions",
    "llm_tokens",
    "memory_hit_rate",
    "wall_s",
)


class ResultsError(ValidationError):
    """A results folder holds something that is not a run's output."""


def read_episodes(out: Path) -> list[dict[str, Any]]:
    """The records of `out/episodes.jsonl` (none when it does not exist)."""
    path = out / EPISODES
    if not path.exists():
        return []
    records = []
    for n, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ResultsError(
                f"{path}:{n}",
                line[:60].decode(errors="replace"),
                f"not a JSON line ({exc}); move the file away to start over",
            ) from None
        if not isinstance(rec, dict) or any(k not in rec for k in REQUIRED):
            raise ResultsError(
                f"{path}:{n}", str(rec)[:60], f"not an episode record (needs {', '.join(REQUIRED)})"
            )
        records.append(rec)
    return records


class EpisodeLog:
    """Appends records to episodes.jsonl, each flushed and fsynced before the next."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / EPISODES
        self._fh = self.path.open("ab")

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(orjson.dumps(record) + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def summarize(
    records: Iterable[dict[str, Any]], key: str | None = None
) -> dict[str, dict[str, Any]]:
    """Aggregate rows per `key` value plus "all": ALFRED's SR, GC, PLW, the share of tasks
    done (`task_SR`: tasks of multi-task episodes counted one by one), and means of steps,
    failed actions, LLM tokens, memory hit rate and wall time. `key` defaults to the
    category, or the task type when every episode has the same category."""
    rows: dict[str, list[dict[str, Any]]] = {}
    recs = sorted(records, key=lambda r: r["index"])
    if not recs:
        raise ResultsError("episodes", [], "no finished episode to summarize")
    if key is None:
        key = "category" if len({r.get("category") for r in recs}) > 1 else "task_type"
    for r in recs:
        rows.setdefault(str(r.get(key, "")), []).append(r)
    groups = dict(sorted(rows.items()))
    if len(groups) > 1 or "all" not in groups:
        groups["all"] = recs
    table = {}
    for name, rs in groups.items():
        row: dict[str, Any] = aggregate(_result(r) for r in rs)
        n = len(rs)
        tasks = [bool(t["success"]) for r in rs for t in r.get("subtasks") or [r]]
        row["task_SR"] = sum(tasks) / len(tasks)
        row["llm_tokens"] = sum(r.get("llm_tokens", 0) for r in rs) / n
        row["memory_hit_rate"] = sum(r.get("memory_hit_rate", 0.0) for r in rs) / n
        row["wall_s"] = sum(r.get("wall_s", 0.0) for r in rs) / n
        table[name] = row
    return table


def _result(r: dict[str, Any]) -> EpisodeResult:
    return EpisodeResult(
        str(r["task_id"]),
        str(r.get("task_type", "")),
        bool(r["success"]),
        int(r["goal_conditions_met"]),
        max(1, int(r["goal_conditions_total"])),
        int(r["steps"]),
        int(r.get("expert_steps", 0)),
        int(r.get("failed_actions", 0)),
    )


def table_text(table: dict[str, dict[str, Any]]) -> str:
    """The summary as a text table (SR, GC, PLW as percentages)."""
    shown = {k: {c: v.get(c) for c in COLUMNS} for k, v in table.items()}
    return format_table(shown, COLUMNS, percent=PERCENT)


def write_summary(out: Path, config: dict[str, Any], table: dict[str, dict[str, Any]]) -> None:
    """summary.json (config + rows), summary.md and summary.csv, each written atomically."""
    doc = {"config": config, **table["all"], "rows": table}
    atomic_write(out / "summary.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    atomic_write(out / "summary.md", (table_text(table) + "\n").encode())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["row", *COLUMNS])
    for name, row in table.items():
        w.writerow([name, *(row.get(c) for c in COLUMNS)])
    atomic_write(out / "summary.csv", buf.getvalue().encode())
