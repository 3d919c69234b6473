"""`embodmem compare DIR_A DIR_B ...`: finished runs side by side, each column's ratio to the
first run (steps: first / other, so "3.5x" means 3.5 times fewer), and a comparison plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from embodmem.tables import format_table
from sim.runner.results import PERCENT, ResultsError, read_episodes, summarize

SHOWN = (
    "SR",
    "task_SR",
    "GC",
    "PLW_SR",
    "steps",
    "failed_actions",
    "llm_tokens",
    "memory_hit_rate",
    "wall_s",
)
FEWER_IS_BETTER = {"steps", "failed_actions", "llm_tokens", "wall_s"}


def load_run(out: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """(label, summary table) of a run folder, recomputed from its episodes."""
    if not out.is_dir():
        raise ResultsError("run", str(out), "no such run folder")
    records = read_episodes(out)
    if not records:
        raise ResultsError("run", str(out), "holds no episodes.jsonl records")
    label = out.name
    run = out / "run.json"
    if run.is_file():
        cfg = orjson.loads(run.read_bytes())
        label = f"{out.name} ({cfg.get('planner')}, memory={cfg.get('memory')})"
    return label, summarize(records)


def ratio(col: str, base: float, other: float) -> str:
    """How many times better `other` is than `base` on `col` (n/a on zeros)."""
    if col in FEWER_IS_BETTER:
        return f"{base / other:.2f}x" if other else "n/a"
    return f"{other / base:.2f}x" if base else "n/a"


def compare(dirs: list[Path]) -> tuple[str, dict[str, dict[str, dict[str, Any]]]]:
    """The side-by-side text table and the loaded runs."""
    if len(dirs) < 2:
        raise ResultsError("runs", [str(d) for d in dirs], "name at least two run folders")
    runs = dict(load_run(d) for d in dirs)
    labels = list(runs)
    base = runs[labels[0]]
    rows = []
    for cat in base:
        for label in labels:
            row = runs[label].get(cat)
            if row is None:
                continue
            cells = []
            for col in SHOWN:
                value = row.get(col, 0.0)
                text = f"{100 * value:.1f} %" if col in PERCENT else f"{value:.1f}"
                if label != labels[0]:
                    text += f" ({ratio(col, base[cat].get(col, 0.0), value)})"
                cells.append(text)
            rows.append([cat, label, *cells])
    return format_table(["category", "run", *SHOWN], rows), runs
