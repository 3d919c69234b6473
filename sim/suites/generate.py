"""Write the shipped suite files: `python -m sim.suites.generate` (deterministic; `--seed`).

`alfred-valid-seen` and `alfred-train-sample` run every task of the vendored split once, in
the split's order, one task per episode.
"""

from __future__ import annotations

import argparse

import orjson

from embodmem.store import atomic_write
from sim.suites import FORMAT, SOURCES, SUITE_DIR, VERSION
from sim.tasks.alfred import load_alfred

SPLIT_SUITES = {
    "alfred-valid-seen": "alfred/valid_seen",
    "alfred-train-sample": "alfred/train_sample",
}


def split_suite(name: str, source: str, seed: int) -> dict:
    """One episode per task of an ALFRED split, in its order."""
    tasks = load_alfred(SOURCES[source])
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "source": source,
        "seed": seed,
        "generator": "python -m sim.suites.generate",
        "episodes": [
            {"episode_id": t.task_id, "category": "simple", "tasks": [t.task_id]} for t in tasks
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for name, source in SPLIT_SUITES.items():
        doc = split_suite(name, source, args.seed)
        path = SUITE_DIR / f"{name}.json"
        atomic_write(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"wrote {path} ({len(doc['episodes'])} episodes)")


if __name__ == "__main__":
    main()
