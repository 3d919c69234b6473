"""ALFRED episode metrics: SR, GC, path-length-weighted SR / GC, steps and failed actions.

Definitions follow ALFRED's evaluation (`models/eval/eval_task.py`):

* SR = successful episodes / episodes.
* GC = sum of goal conditions met / sum of goal conditions (pooled over episodes, not a mean
  of per-episode ratios).
* PLW: an episode's score x is weighted by w = min(1, L* / L) (L* expert low-level plan length,
  L steps taken; no steps count as w = 1), then PLW-x = sum(x * w * L*) / sum(L*), so longer
  expert tasks weigh more. PLW-SR uses x = success, PLW-GC uses x = met / total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from embodmem import tables
from embodmem.errors import ValidationError
from sim.tasks.goals import GoalResult


class MetricsError(ValidationError):
    """An episode record or a metrics request is inconsistent."""


def _count(field_name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MetricsError(field_name, value, "expected an integer >= 0")
    return value


@dataclass(frozen=True, slots=True)
class EpisodeResult:
    """The outcome of one episode of one task."""

    task_id: str
    task_type: str
    success: bool
    goal_met: int
    goal_total: int
    steps: int
    expert_steps: int
    failed_actions: int = 0

    def __post_init__(self) -> None:
        for name in ("goal_met", "goal_total", "steps", "expert_steps", "failed_actions"):
            _count(f"episode.{name}", getattr(self, name))
        if self.goal_total < 1 or self.goal_met > self.goal_total:
            raise MetricsError(
                "episode.goal_met", (self.goal_met, self.goal_total), "need 0 <= met <= total >= 1"
            )
        if not isinstance(self.success, bool) or (self.success and self.goal_met < self.goal_total):
            raise MetricsError("episode.success", self.success, "success needs every condition met")
        if self.failed_actions > self.steps:
            raise MetricsError("episode.failed_actions", self.failed_actions, "more than steps")

    @classmethod
    def from_goal(
        cls,
        task_id: str,
        task_type: str,
        result: GoalResult,
        steps: int,
        expert_steps: int,
        failed_actions: int = 0,
    ) -> EpisodeResult:
        """Record an episode from the final `Goal.check` result."""
        return cls(
            task_id,
            task_type,
            result.success,
            result.met,
            result.total,
            steps,
            expert_steps,
            failed_actions,
        )

    @property
    def goal_condition(self) -> float:
        """Fraction of goal conditions met."""
        return self.goal_met / self.goal_total

    @property
    def path_weight(self) -> float:
        """min(1, expert_steps / steps); 1 when no steps were taken."""
        return 1.0 if self.steps == 0 else min(1.0, self.expert_steps / self.steps)


def aggregate(results: Iterable[EpisodeResult]) -> dict[str, float]:
    """ALFRED's aggregate metrics over episodes (fractions in [0, 1], means of counts)."""
    rs = list(results)
    if not rs:
        raise MetricsError("results", [], "need at least one episode")
    for i, r in enumerate(rs):
        if not isinstance(r, EpisodeResult):
            raise MetricsError(f"results[{i}]", type(r).__name__, "expected an EpisodeResult")
    n = len(rs)
    # Episodes weigh by expert plan length; with no expert steps at all, equally.
    weights = [r.expert_steps for r in rs] if any(r.expert_steps for r in rs) else [1] * n
    norm = sum(weights)
    return {
        "episodes": n,
        "SR": sum(r.success for r in rs) / n,
        "GC": sum(r.goal_met for r in rs) / sum(r.goal_total for r in rs),
        "PLW_SR": sum(r.success * r.path_weight * w for r, w in zip(rs, weights, strict=True))
        / norm,
        "PLW_GC": sum(
            r.goal_condition * r.path_weight * w for r, w in zip(rs, weights, strict=True)
        )
        / norm,
        "steps": sum(r.steps for r in rs) / n,
        "failed_actions": sum(r.failed_actions for r in rs) / n,
    }


def aggregate_by(results: Iterable[EpisodeResult], key: str = "task_type") -> dict[str, dict]:
    """`aggregate` per value of an EpisodeResult field, plus an "all" row."""
    rs = list(results)
    if key not in EpisodeResult.__dataclass_fields__:
        raise MetricsError("key", key, "not an EpisodeResult field")
    groups: dict[str, list[EpisodeResult]] = {}
    for r in rs:
        groups.setdefault(str(getattr(r, key)), []).append(r)
    table = {name: aggregate(groups[name]) for name in sorted(groups)}
    table["all"] = aggregate(rs)
    return table


PERCENT_COLUMNS = frozenset({"SR", "GC", "PLW_SR", "PLW_GC"})


def format_table(
    rows: Mapping[str, Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    percent: Iterable[str] = PERCENT_COLUMNS,
) -> str:
    """Text table of named rows (e.g. `aggregate_by` output); `percent` columns hold fractions
    and are shown as percentages with one decimal."""
    if not rows:
        raise MetricsError("rows", {}, "nothing to format")
    cols = list(columns) if columns is not None else list(next(iter(rows.values())))
    pct = set(percent)

    def cell(col: str, value: Any) -> Any:
        return f"{100 * value:.1f}" if col in pct and isinstance(value, float) else value

    body = [[name, *(cell(c, row.get(c, "")) for c in cols)] for name, row in rows.items()]
    return tables.format_table(["", *(f"{c} %" if c in pct else c for c in cols)], body)
