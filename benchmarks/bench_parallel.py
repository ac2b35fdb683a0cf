"""Benchmark the parallel and distributed executors and map tasks.

What it measures (issue 5, acceptance item 4):

a. 32 independent steps that each sleep 0.1 s, plus a final step summing their 32
   outputs: wall time of ``pipeline.run()`` with ``ThreadExecutor(max_workers=8)``
   (target <= 0.5 s), next to a plain ``concurrent.futures.ThreadPoolExecutor`` doing
   the same 32 sleeps with 8 threads (the floor, ~0.40 s); the same pipeline with
   ``ProcessExecutor(max_workers=8)`` and on a local Dask cluster
   (``LocalCluster(n_workers=2, threads_per_worker=4)``: 8 slots; its start-up is
   reported apart); optionally sequentially (``--sequential``, ~3.3 s).
b. a map task over 1,000 items doing almost nothing (``n + 1``), concurrency 8: the
   cost per item of a direct call (no cache), of the same map as a pipeline step on
   its first run (every item stored and given its own cache entry) and of a rerun
   where one item changed (999 per-item cache hits, one execution), each next to
   plain ``ThreadPoolExecutor.map`` over the same items.

Every pipeline run uses a fresh store (nothing comes from the step cache unless
stated) and includes recording the run in the history, as a user's run would.
Figures are medians of ``--reps`` repetitions.

Run::

    /work/venv/bin/python benchmarks/bench_parallel.py [--reps 5] [--items 1000] [--sequential] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flowyml import DaskExecutor, Pipeline, ProcessExecutor, ThreadExecutor, context, map_task, step

N_STEPS = 32
SLEEP = 0.1
WORKERS = 8
TARGET_THREADS_S = 0.5


def sleeper(i: int) -> Any:
    @step(name=f"sleep_{i:02d}", outputs=[f"v{i}"])
    def sleep_step(i: int = i) -> int:
        time.sleep(SLEEP)
        return i

    return sleep_step


def summing_step() -> Any:
    names = [f"v{i}" for i in range(N_STEPS)]
    namespace: dict[str, Any] = {}
    exec(f"def total({', '.join(names)}):\n    return {' + '.join(names)}\n", namespace)  # noqa: S102
    return step(outputs=["total"])(namespace["total"])


def sleep_pipeline(root: str) -> Pipeline:
    steps = [sleeper(i) for i in range(N_STEPS)] + [summing_step()]
    return Pipeline.from_steps(*steps, name="sleepers", enable_cache=False, cache_dir=root)


@map_task(concurrency=WORKERS, retries=0)
def increment(n: int) -> int:
    return n + 1


@step(outputs=["numbers"])
def numbers(count: int, changed: int) -> list[int]:
    values = list(range(count))
    values[0] = changed
    return values


def map_pipeline(root: str, count: int) -> Pipeline:
    mapped = step(inputs=["numbers"], outputs=["incremented"])(increment)
    return Pipeline.from_steps(numbers, mapped, name="mapping", cache_dir=root,
                               context=context(count=count, changed=0))


# -- measuring ---------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], reps: int) -> float:
    """Median wall seconds of ``fn()`` over ``reps`` calls."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fresh(base: str) -> str:
    return tempfile.mkdtemp(dir=base)


def plain_sleeps() -> None:
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda _: time.sleep(SLEEP), range(N_STEPS)))


def run_sleepers(base: str, executor: Any) -> None:
    result = sleep_pipeline(fresh(base)).run(executor=executor)
    assert result.success and result["total"] == sum(range(N_STEPS)), result.error


def measure_executors(base: str, reps: int, sequential: bool) -> list[tuple[str, float, str]]:
    rows = [("32 x sleep(0.1) + sum: plain ThreadPoolExecutor(8) (s)", timed(plain_sleeps, reps), "")]
    with ThreadExecutor(WORKERS) as ex:
        run_sleepers(base, ex)  # warm-up: imports, pool start
        rows.append(("32 x sleep(0.1) + sum: flowyml ThreadExecutor(8) (s)",
                     timed(lambda: run_sleepers(base, ex), reps), f"<= {TARGET_THREADS_S}"))
    with ProcessExecutor(WORKERS) as ex:
        t0 = time.perf_counter()
        run_sleepers(base, ex)
        start = time.perf_counter() - t0
        rows.append(("32 x sleep(0.1) + sum: ProcessExecutor(8), first run incl. start (s)", start, ""))
        rows.append(("32 x sleep(0.1) + sum: flowyml ProcessExecutor(8) (s)",
                     timed(lambda: run_sleepers(base, ex), reps), ""))
    t0 = time.perf_counter()
    with DaskExecutor(n_workers=2, threads_per_worker=WORKERS // 2) as ex:
        ex.client  # noqa: B018 - starts the cluster now, so its start-up is timed apart
        slots = ex.max_workers
        rows.append(("Dask LocalCluster(2 workers x 4 threads) start (s)", time.perf_counter() - t0, ""))
        run_sleepers(base, ex)
        rows.append((f"32 x sleep(0.1) + sum: flowyml on Dask, {slots} slots (s)",
                     timed(lambda: run_sleepers(base, ex), reps), ""))
    if sequential:
        rows.append(("32 x sleep(0.1) + sum: flowyml sequential (s)", timed(lambda: run_sleepers(base, None), 1), ""))
    return rows


def measure_map(base: str, reps: int, count: int) -> list[tuple[str, float, str]]:
    items = list(range(count))

    def plain() -> None:
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(lambda n: n + 1, items))

    def direct() -> None:
        result = increment(items)
        assert result.successes == count

    firsts, changed = [], []
    for _ in range(reps):
        pipeline = map_pipeline(fresh(base), count)
        t0 = time.perf_counter()
        first = pipeline.run()
        firsts.append(time.perf_counter() - t0)
        assert first.success and first["incremented"][-1] == count
        t0 = time.perf_counter()
        second = pipeline.run(context={"changed": -1})  # one item changed: 999 per-item hits
        changed.append(time.perf_counter() - t0)
        assert second["incremented"][0] == 0
    base_us = timed(plain, reps) / count * 1e6
    per = {
        "direct call, no cache": timed(direct, reps) / count * 1e6,
        "pipeline step, first run": statistics.median(firsts) / count * 1e6,
        "pipeline step, one item changed": statistics.median(changed) / count * 1e6,
    }
    rows = [(f"map {count} items: plain ThreadPoolExecutor.map (us/item)", base_us, "")]
    for label, us in per.items():
        rows.append((f"map {count} items: {label} (us/item)", us, ""))
        rows.append((f"map {count} items: {label}, overhead over plain (us/item)", us - base_us, ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--sequential", action="store_true", help="also time the sequential executor (~3.3 s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix="bench_parallel_")
    os.chdir(base)  # the run history goes to .flowyml/history.git here, not into a repository
    rows = measure_executors(base, args.reps, args.sequential) + measure_map(base, args.reps, args.items)
    if args.json:
        print(json.dumps([{"metric": m, "value": v, "target": t} for m, v, t in rows], indent=2))
        return 0
    width = max(len(m) for m, _, _ in rows)
    print(f"{'metric':<{width}}  {'value':>10}  target")
    for metric, value, target in rows:
        met = ""
        if target:
            met = "yes" if value <= float(target.split()[-1]) else "NO"
        print(f"{metric:<{width}}  {value:>10.3f}  {target} {met}".rstrip())
    print(f"(workload folders under {base}; python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
