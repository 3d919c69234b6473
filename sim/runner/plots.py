"""PNG plots of suite runs: SR and mean steps per category, one bar per run (matplotlib,
headless Agg backend; imported only when a plot is written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embodmem.store import atomic_write


def plot_runs(runs: dict[str, dict[str, dict[str, Any]]], path: Path) -> Path:
    """Bars of SR and steps per category for each run (`{run label: summary table}`)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = sorted({c for table in runs.values() for c in table}, key=lambda c: (c == "all", c))
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.6 * len(cats) * len(runs) ** 0.5 + 3), 3.6))
    width = 0.8 / max(1, len(runs))
    for k, (label, table) in enumerate(runs.items()):
        xs = [i + (k - (len(runs) - 1) / 2) * width for i in range(len(cats))]
        sr = [100 * table.get(c, {}).get("SR", 0.0) for c in cats]
        steps = [table.get(c, {}).get("steps", 0.0) for c in cats]
        axes[0].bar(xs, sr, width, label=label)
        axes[1].bar(xs, steps, width, label=label)
    for ax, title in zip(axes, ("success rate (%)", "THOR actions per episode"), strict=True):
        ax.set_xticks(range(len(cats)), cats, rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylim(0, 100)
    axes[1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path
