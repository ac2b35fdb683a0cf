"""Benchmark the terminal UI on a history of 10,000 runs.

Targets (issue 6, acceptance 2):

* opening the app shows the first screen (the run list, filled) in <= 1 s —
  measured as wall time from spawning a fresh ``python`` process (interpreter
  start and imports included) to the first frame with the runs in it;
* scrolling stays responsive — the time for one key press (page down, end,
  home, a search keystroke that re-filters 10,000 rows) to be handled and the
  screen redrawn, median and worst, in process.

The history is made of real manifests: one real pipeline run per pipeline
shape, then committed again under new run ids (different pipelines, statuses,
contexts and times) through the same helpers ``Pipeline.run`` uses, since
running 10,000 pipelines would only measure the engine.

Run: ``/work/venv/bin/python benchmarks/bench_tui.py [--runs 10000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TARGET_FIRST_SCREEN_S = 1.0
PIPELINES = 20

FIRST_SCREEN = r"""
import asyncio, sys, time
from flowyml_tui.app import FlowymlApp
from flowyml_tui.run_table import RunTable

async def main():
    app = FlowymlApp(sys.argv[1])
    async with app.run_test(size=(160, 50)) as pilot:
        while True:
            await pilot.pause(0.005)
            tables = app.screen.query(RunTable)
            if tables and tables.first().rows:
                break
        await pilot.pause()  # one more frame: the rows are on screen
        print(time.time(), len(tables.first().rows), flush=True)

asyncio.run(main())
"""

DEMO = '''
import sys
from flowyml import Pipeline, step, Metrics, Model

@step(outputs=["raw"])
def load(n_rows: int = 100):
    return [{"x": i, "y": i * 2.0} for i in range(n_rows)]

@step(inputs=["raw"], outputs=["clean"])
def clean(raw):
    return [r for r in raw if r["x"] % 7]

@step(inputs=["clean"], outputs=["features"])
def featurize(clean):
    return [[r["x"], r["y"], r["x"] * r["y"]] for r in clean]

@step(inputs=["features"], outputs=["model"])
def train(features, lr: float = 0.1) -> Model:
    return Model({"w": [lr, lr * 2]}, name="reg")

@step(inputs=["model", "features"], outputs=["metrics"])
def evaluate(model, features) -> Metrics:
    return Metrics(accuracy=0.9, rows=len(features))

p = Pipeline("demo", context={"lr": 0.1, "n_rows": 100})
for s in (load, clean, featurize, train, evaluate):
    p.add_step(s)
p.run()
'''


def build_history(folder: Path, runs: int) -> float:
    """A project at ``folder`` with ``runs`` recorded runs; returns seconds taken."""
    from flowyml.manifest import RunManifest
    from flowyml.records import MANIFEST_FILE, commit_message, manifest_bytes, ref_of
    from flowyml.store.history import History

    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "demo.py").write_text(textwrap.dedent(DEMO))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    subprocess.run([sys.executable, "demo.py"], cwd=folder, check=True, env=env)
    with History.open(folder, durable=False) as history:
        template = history.list_runs(limit=1)[0]
        manifest = RunManifest.from_dict(__import__("json").loads(history.read(template.sha, MANIFEST_FILE)))
        base = time.time() - runs * 60
        for n in range(runs):
            m = RunManifest.from_dict(manifest.to_dict())
            m.run_id = f"{n:012x}"
            m.pipeline = f"pipeline_{n % PIPELINES:02d}"
            m.started = base + n * 60
            m.context = {"lr": 0.1 + (n % 7) / 100, "n_rows": 100}
            m.status = "failed" if n % 13 == 0 else "success"
            trailers = {"Flowyml-Pipeline": m.pipeline, "Flowyml-Status": m.status}
            history.record(ref_of("runs", m.pipeline), {MANIFEST_FILE: manifest_bytes(m)}, commit_message(m),
                           run_id=m.run_id, trailers=trailers, author_time=m.started)
    return time.perf_counter() - start


def first_screen(folder: Path) -> float:
    """Seconds from spawning a fresh process to its first frame showing the runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", FIRST_SCREEN, str(folder)], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    return float(out[0]) - t0


async def scrolling(folder: Path) -> dict[str, list[tuple[float, float]]]:
    """Per-key ``(wall, cpu)`` milliseconds to handle a key and redraw, by key.

    Wall time includes the test harness's own wait for the app to go idle;
    CPU time (all threads of the process) is what the app spent.
    """
    from flowyml_tui.app import FlowymlApp
    from flowyml_tui.run_table import RunTable

    app = FlowymlApp(folder)
    times: dict[str, list[tuple[float, float]]] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        while not (app.screen.query(RunTable) and app.screen.query_one(RunTable).rows):
            await pilot.pause(0.01)
        keys = ["pagedown"] * 40 + ["end", "home"] * 5 + ["down"] * 40 + ["pageup"] * 10

        async def timed(key: str, label: str) -> None:
            t, cpu = time.perf_counter(), time.process_time()
            await pilot.press(key)
            await pilot.pause()  # the key is handled and the screen refreshed
            times.setdefault(label, []).append(((time.perf_counter() - t) * 1000, (time.process_time() - cpu) * 1000))

        for key in keys:
            await timed(key, key)
        await pilot.press("slash")
        for char in "pipeline_07":
            await timed(char, "search keystroke")
        if not app.screen.query_one(RunTable).rows:
            raise AssertionError("the search matched no run")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="build the history here (reused when it exists)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="flowyml-bench-tui-"))
    try:
        if not (folder / ".flowyml" / "history.git").is_dir():
            took = build_history(folder, args.runs)
            print(f"history: {args.runs:,} runs written in {took:.1f} s")
        from flowyml.runs import RunHistory

        index = folder / ".flowyml" / "history.git" / "flowyml" / "runindex.msgpack"
        if index.exists():
            index.unlink()
        cold = first_screen(folder)  # builds the run index (a reader's job, never a writer's)
        warm = sorted(first_screen(folder) for _ in range(5))
        with RunHistory(folder) as repo:
            count = len(repo.runs(limit=None))
        print(f"first screen, fresh process, {count:,} runs: cold index {cold:.2f} s; "
              f"warm index median {statistics.median(warm):.2f} s, worst {warm[-1]:.2f} s "
              f"(target <= {TARGET_FIRST_SCREEN_S:.1f} s)")
        small = folder.parent / (folder.name + "-small")
        if not (small / ".flowyml" / "history.git").is_dir():
            build_history(small, 20)
        print("per key press, 10,000 runs vs 20 runs (same keys; the difference is what history size costs):")
        for name, where in (("10k", folder), ("20", small)):
            for key, samples in asyncio.run(scrolling(where)).items():
                wall = sorted(w for w, _ in samples)
                cpu = sorted(c for _, c in samples)
                print(f"  {name:>3} runs  {key:17} wall median {statistics.median(wall):6.1f} ms, "
                      f"worst {wall[-1]:6.1f} ms; cpu median {statistics.median(cpu):5.1f} ms  (n={len(samples)})")
        ok = statistics.median(warm) <= TARGET_FIRST_SCREEN_S
        print("PASS" if ok else "FAIL")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(folder.parent / (folder.name + "-small"), ignore_errors=True)


if __name__ == "__main__":
    main()
