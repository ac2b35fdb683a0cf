"""Benchmark the git-backed run history (flowyml.store.history).

Targets (DESIGN invariant 4, the history brief):

* recording one run (a ~20-step manifest of a few KB: blob + tree + commit + ref
  compare-and-swap, fsynced) <= 5 ms;
* listing the newest 50 of 10,000 runs and loading one run's manifest <= 200 ms in a
  fresh process (wall time of ``python -c ...``, interpreter start and imports included);
* reading the manifests of 1,000 runs found through the index <= 200 ms.

Run: ``/work/venv/bin/python benchmarks/bench_history.py [--runs 10000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import msgpack

from flowyml.store.history import History
from flowyml.store.refnames import run_ref

TARGET_RECORD_MS = 5.0
TARGET_FRESH_LIST_MS = 200.0
TARGET_LINEAGE_MS = 200.0

FRESH_LIST = r"""
import sys
from flowyml.store.history import History
with History(sys.argv[1]) as h:
    runs = h.list_runs(limit=50)
    manifest = h.read(runs[0].sha, "manifest.msgpack")
assert len(runs) == 50 and manifest
"""


def manifest(pipeline: int, run: int) -> bytes:
    """A realistic ~20-step run manifest, canonical msgpack, a few KB."""
    steps = {
        f"step_{s:02d}": {
            "key": f"{(pipeline * 7919 + run * 104729 + s):064x}",
            "outputs": {"out": {"oid": f"{(run * 31 + s):064x}", "codec": "arrow-parquet", "codec_version": 1}},
            "status": "ok",
            "started": 1_700_000_000.0 + run,
            "seconds": 0.01 * s,
            "cached": s % 3 == 0,
        }
        for s in range(20)
    }
    return msgpack.packb({"pipeline": f"pipeline_{pipeline}", "run": run, "steps": steps, "context": {"lr": 0.01}})


def run_id(pipeline: int, run: int) -> str:
    return f"{pipeline:04x}{run:08x}"


def bench_record(folder: str, count: int = 300) -> dict[str, float]:
    """Per-record wall time into a fresh repository (fsync on)."""
    times = []
    with History(_bare(os.path.join(folder, "record.git"))) as h:
        ref = run_ref("record bench")
        for n in range(count):
            data = manifest(0, n)
            start = time.perf_counter()
            h.record(ref, {"manifest.msgpack": data}, f"run {n}: 20 steps ok", run_id=run_id(0, n))
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "bytes": len(manifest(0, 0)),
        "median_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95)],
        "mean_ms": statistics.fmean(times),
    }


def build_history(git_dir: str, runs: int, pipelines: int) -> float:
    """Record ``runs`` runs round-robin over ``pipelines`` refs; seconds taken."""
    start = time.perf_counter()
    with History(git_dir) as h:
        for n in range(runs):
            p = n % pipelines
            h.record(run_ref(f"pipeline {p}"), {"manifest.msgpack": manifest(p, n)}, f"run {n}", run_id=run_id(p, n))
    return time.perf_counter() - start


def fresh_process_ms(args: list[str], repeats: int = 7) -> list[float]:
    """Wall times of ``python args...`` in new processes, sorted."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True)
        out.append((time.perf_counter() - start) * 1000)
    return sorted(out)


def bench_lineage(git_dir: str, count: int = 1000) -> dict[str, float]:
    """Read ``count`` run manifests found through the index (index already built)."""
    with History(git_dir) as h:
        start = time.perf_counter()
        entries = h.list_runs(limit=count)
        listed = time.perf_counter()
        total = sum(len(h.read(e.sha, "manifest.msgpack")) for e in entries)
        read = time.perf_counter()
        files = [h.read_tree_files(e.sha) for e in entries]
        trees = time.perf_counter()
    assert len(entries) == count and total and len(files) == count
    return {
        "list_ms": (listed - start) * 1000,
        "read_ms": (read - listed) * 1000,
        "read_tree_files_ms": (trees - read) * 1000,
    }


def _bare(path: str) -> str:
    History.open(os.path.dirname(path), metadata_path=path).close()
    return path


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER TARGET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--pipelines", type=int, default=20)
    parser.add_argument("--keep", help="reuse/keep the 10,000-run repository in this folder")
    args = parser.parse_args()

    folder = args.keep or tempfile.mkdtemp(prefix="bench-history-")
    os.makedirs(folder, exist_ok=True)
    try:
        rec = bench_record(folder)
        print(f"record one run ({rec['bytes']} B manifest, fsync on): median {rec['median_ms']:.2f} ms, "
              f"p95 {rec['p95_ms']:.2f} ms, mean {rec['mean_ms']:.2f} ms "
              f"[target <= {TARGET_RECORD_MS} ms: {_verdict(rec['median_ms'], TARGET_RECORD_MS)}]")

        git_dir = os.path.join(folder, f"runs{args.runs}.git")
        if not os.path.isdir(git_dir):
            _bare(git_dir)
            took = build_history(git_dir, args.runs, args.pipelines)
            print(f"built {args.runs} runs over {args.pipelines} refs in {took:.1f} s "
                  f"({took / args.runs * 1000:.2f} ms/run)")
        index = os.path.join(git_dir, "flowyml", "runindex.msgpack")
        if os.path.exists(index):
            os.remove(index)
        with History(git_dir) as h:
            start = time.perf_counter()
            indexed = h.rebuild_index()
            print(f"index rebuilt from the refs: {indexed} commits in {time.perf_counter() - start:.2f} s "
                  f"({os.path.getsize(index) / 1e6:.1f} MB)")

        floor = fresh_process_ms(["-c", "pass"])
        imports = fresh_process_ms(["-c", "import flowyml.store.history, dulwich.repo, msgpack"])
        warm = fresh_process_ms(["-c", FRESH_LIST, git_dir])
        print(f"fresh process: python alone {floor[len(floor) // 2]:.0f} ms, "
              f"+imports {imports[len(imports) // 2]:.0f} ms")
        print(f"fresh process, list newest 50 of {args.runs} + load one manifest: "
              f"median {warm[len(warm) // 2]:.0f} ms, min {warm[0]:.0f} ms, max {warm[-1]:.0f} ms "
              f"[target <= {TARGET_FRESH_LIST_MS:.0f} ms: {_verdict(warm[len(warm) // 2], TARGET_FRESH_LIST_MS)}]")

        with History(git_dir) as h:  # one more run by another writer: the index catches up
            h.record(run_ref("pipeline 0"), {"manifest.msgpack": manifest(0, args.runs)}, "one more")
        stale = fresh_process_ms(["-c", FRESH_LIST, git_dir], repeats=1)
        print(f"fresh process after another writer added a run (index catch-up): {stale[0]:.0f} ms")
        os.remove(index)
        cold = fresh_process_ms(["-c", FRESH_LIST, git_dir], repeats=1)
        print(f"fresh process with no index (full rebuild): {cold[0]:.0f} ms")

        lin = bench_lineage(git_dir)
        print(f"lineage-style walk, 1,000 runs via the index: list {lin['list_ms']:.1f} ms, "
              f"read 1,000 manifests {lin['read_ms']:.1f} ms "
              f"[target <= {TARGET_LINEAGE_MS:.0f} ms: {_verdict(lin['list_ms'] + lin['read_ms'], TARGET_LINEAGE_MS)}], "
              f"read_tree_files x1,000 {lin['read_tree_files_ms']:.1f} ms")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
