"""The ALFRED splits the experiments read: the vendored valid-seen tasks and ALFRED's vendored
train sample (valid-unseen is the held-out test set and
is never read)."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable

from sim.tasks import ALFRED_VALID_SEEN, Task, load_alfred, load_alfred_default

TRAIN_SAMPLE = ALFRED_VALID_SEEN.with_name("train_sample.jsonl.gz")  # vendored
SPLITS = ("valid_seen", "train_sample")


def chosen_splits(description: str) -> list[tuple[str, list[Task]]]:
    """(name, tasks) of the splits named by `--split` (default: both that are present)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--split", nargs="*", choices=SPLITS, default=list(SPLITS))
    names = ap.parse_args().split
    out = []
    if "valid_seen" in names:
        out.append(("valid_seen", load_alfred_default()))
    if "train_sample" in names:
        if TRAIN_SAMPLE.is_file():
            out.append(("train_sample", load_alfred(TRAIN_SAMPLE)))
        else:
            print(f"(train sample not found at {TRAIN_SAMPLE}; skipped)")
    return out


def run(report: Callable[[str, list[Task]], None], description: str) -> None:
    """Call `report(name, tasks)` for each chosen split (the experiments' `main`)."""
    for name, tasks in chosen_splits(description):
        report(name, tasks)


def print_counts(title: str, counts: Counter[str], limit: int | None = None) -> None:
    """A title line and the most common entries, one a line."""
    if counts:
        print(title)
        for key, n in counts.most_common(limit):
            print(f"  {n:3d}  {key}")
