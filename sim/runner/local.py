"""Run a suite's episodes: in this process, in local worker processes, or as Ray tasks
(`run_suite`). Results stream into the output folder as episodes finish, so a crash or Ctrl-C
loses no finished episode, and a re-run with the same folder does only what is left.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from embodmem.store import atomic_write
from sim.runner.config import RunConfig
from sim.runner.episode import TRACE, run_episode, suite_of
from sim.runner.results import (
    EpisodeLog,
    ResultsError,
    read_episodes,
    summarize,
    write_summary,
)

RETRIES = 1  # a crashed episode is run once more before it is reported


def pending(config: RunConfig, out: Path) -> tuple[list[int], list[dict[str, Any]]]:
    """Episode indexes still to run, and the records already in `out` for this config (of
    the chosen episodes)."""
    done = read_episodes(out)
    other = {r.get("config_hash") for r in done} - {config.config_hash}
    if other:
        raise ResultsError(
            "out",
            str(out),
            f"holds results of another configuration ({', '.join(sorted(map(str, other)))}); "
            "use a new --out folder",
        )
    n = len(suite_of(config.suite).episodes)
    chosen = range(min(n, config.episodes or n))
    done = [r for r in done if int(r["index"]) in chosen]  # a shorter re-run reports its own
    have = {int(r["index"]) for r in done}
    return [i for i in chosen if i not in have], done


def run_suite(config: RunConfig, out: Path, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Run what is left of the suite into `out`; returns the summary table of all its episodes."""
    todo, done = pending(config, out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(
        out / "run.json",
        orjson.dumps(
            {**config.to_dict(), "config_hash": config.config_hash}, option=orjson.OPT_INDENT_2
        ),
    )
    log = EpisodeLog(out)
    records = list(done)
    errors: list[str] = []
    bar = tqdm(
        total=len(todo) + len(done),
        initial=len(done),
        desc=config.suite,
        unit="ep",
        disable=not progress,
    )

    def finished(record: dict[str, Any]) -> None:
        trace = record.pop(TRACE, None)
        if trace is not None:
            write_trace(out, record, trace)
        log.append(record)
        records.append(record)
        bar.update(1)
        bar.set_postfix(SR=f"{sum(r['success'] for r in records) / len(records):.1%}")

    try:
        runner = _BACKENDS[config.backend]
        runner(config, todo, finished, errors)
    finally:
        log.close()
        bar.close()
    for e in errors:
        print(f"episode failed twice and is left out: {e}")
    if not records:
        raise ResultsError("episodes", [], "no episode finished; " + "; ".join(errors[:3]))
    table = summarize(records)
    write_summary(
        out,
        {**config.to_dict(), "config_hash": config.config_hash, "failed_episodes": errors},
        table,
    )
    return table


def write_trace(out: Path, record: dict[str, Any], trace: dict[str, Any]) -> None:
    """An episode's memory trace as out/states/<index>.json and its page out/viz/<index>.html."""
    from embodmem.trace import save_trace
    from embodmem.viz.episode import render_episode

    name = f"{record['index']:05d}"
    save_trace(trace, out / "states" / f"{name}.json")
    render_episode(trace, out / "viz" / f"{name}.html")


def _serial(config: RunConfig, todo: list[int], finished: Callable, errors: list[str]) -> None:
    for i in todo:
        for attempt in range(RETRIES + 1):
            try:
                finished(run_episode(config, i))
                break
            except Exception as exc:
                if attempt == RETRIES:
                    errors.append(f"#{i}: {type(exc).__name__}: {exc}")


def _local(config: RunConfig, todo: list[int], finished: Callable, errors: list[str]) -> None:
    """Worker processes. An episode that raises is retried once. When a worker process dies,
    the pool breaks and every episode in flight is re-run alone, so only the one that kills
    its worker is charged a retry."""
    if config.workers == 1:
        _serial(config, todo, finished, errors)
        return
    tries = dict.fromkeys(todo, 0)
    queue = list(todo)
    ctx = multiprocessing.get_context("fork")
    while queue:
        suspects: list[int] = []
        with ProcessPoolExecutor(max_workers=config.workers, mp_context=ctx) as pool:
            futures: dict[Future, int] = {}
            _fill(pool, config, queue, futures)
            while futures and not suspects:
                ready, _ = wait(futures, return_when=FIRST_COMPLETED)
                for fut in ready:
                    i = futures.pop(fut)
                    try:
                        finished(fut.result())
                    except BrokenProcessPool:
                        suspects.append(i)
                    except Exception as exc:
                        tries[i] += 1
                        if tries[i] > RETRIES:
                            errors.append(f"#{i}: {type(exc).__name__}: {exc}")
                        else:
                            queue.append(i)
                if suspects:
                    suspects.extend(futures.values())
                else:
                    _fill(pool, config, queue, futures)
        for i in suspects:
            _alone(config, i, ctx, finished, errors)


def _fill(
    pool: ProcessPoolExecutor, config: RunConfig, queue: list[int], futures: dict[Future, int]
) -> None:
    """Keep two episodes per worker in flight."""
    while queue and len(futures) < 2 * config.workers:
        i = queue.pop(0)
        futures[pool.submit(run_episode, config, i)] = i


def _alone(config: RunConfig, i: int, ctx: Any, finished: Callable, errors: list[str]) -> None:
    """Run one episode in a worker of its own, retried once."""
    why = ""
    for _ in range(RETRIES + 1):
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            try:
                finished(pool.submit(run_episode, config, i).result())
                return
            except BrokenProcessPool:
                why = "its worker process died"
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
    errors.append(f"#{i}: {why}")


def _ray(config: RunConfig, todo: list[int], finished: Callable, errors: list[str]) -> None:
    from sim.runner.ray_backend import run_on_ray

    run_on_ray(config, todo, finished, errors)


_BACKENDS = {"local": _local, "ray": _ray}
