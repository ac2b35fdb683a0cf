"""Run-history figures at the API level (issue: git-backed history, acceptance 4).

Measures, in a scratch directory:
  * recording one run of a 20-step pipeline (manifest JSON + commit + ref CAS,
    through ``flowyml.records.record_run``), median of many;
  * lineage of an artifact across 1,000 runs: ``Artifact.downstream()`` and
    ``Artifact.upstream()`` in a fresh process (index warm, as after any query),
    and the first query that builds the lineage index;
  * listing the newest 50 runs and loading one manifest in a fresh process.

Usage:  python benchmarks/bench_lineage.py [--runs 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PIPELINE = '''
from flowyml import Pipeline, context, step

def make_step(i):
    @step(name=f"s{i:02d}", inputs=[f"o{i-1:02d}"] if i else None, outputs=[f"o{i:02d}"])
    def s(x=None, seed: int = 0):
        # s00 loads the same data in every run; the rest depend on the run's seed
        return 1 if i == 0 else x * 7 + seed
    return s

pipeline = Pipeline("chain20", context=context(seed=0))
for i in range(20):
    pipeline.add_step(make_step(i))
'''

QUERY = '''
import sys, time
t0 = time.perf_counter()
import flowyml
from flowyml.runs import RunHistory
h = RunHistory(".")
t_open = time.perf_counter()
newest = h.runs("chain20", limit=50)
manifest = newest[0].manifest
t_list = time.perf_counter()
first = h.runs("chain20", limit=None)[-1]
art = first.artifact("o00")
down = art.downstream()
t_down = time.perf_counter()
up = newest[0].artifact("o19").upstream()
t_up = time.perf_counter()
print(len(newest), len(manifest.steps), len(down), len(up),
      t_list - t0, t_down - t_list, t_up - t_down)
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flowyml-bench-lineage-"))
    os.chdir(work)
    sys.path.insert(0, str(work))
    (work / "chain20.py").write_text(PIPELINE)
    import chain20  # noqa: E402

    from flowyml.records import record_run

    pipeline = chain20.pipeline
    # 1. recording cost, on real manifests of a 20-step run
    result = pipeline.run()
    manifest, root = result.manifest, pipeline.store_root()
    record_ms = []
    for _ in range(50):
        manifest.run_id = os.urandom(6).hex()
        t = time.perf_counter()
        record_run(pipeline, manifest, None, root)
        record_ms.append((time.perf_counter() - t) * 1000)

    # 2. history of N runs, each a different seed so the lineage fans out
    t = time.perf_counter()
    for i in range(args.runs):
        pipeline.run(context={"seed": i + 1})
    fill_s = time.perf_counter() - t

    # 3. fresh processes: the first builds the lineage index, the next ones use it
    figures = []
    for _ in range(4):
        out = subprocess.run([sys.executable, "-c", QUERY], capture_output=True, text=True, check=True).stdout
        figures.append([float(x) for x in out.split()])
    cold, warm = figures[0], figures[1:]
    report = {
        "record_run_ms_median": statistics.median(record_ms),
        "record_run_ms_p90": sorted(record_ms)[int(len(record_ms) * 0.9)],
        "runs": args.runs + 51,
        "fill_seconds": fill_s,
        "list50_and_manifest_fresh_process_s": statistics.median(f[4] for f in warm),
        "downstream_across_runs_s": {"first_query_builds_index": cold[5],
                                     "median_warm": statistics.median(f[5] for f in warm)},
        "downstream_artifacts": int(warm[0][2]),
        "upstream_s": statistics.median(f[6] for f in warm),
        "targets": {"record_run_ms": 5, "list50_s": 0.2, "lineage_s": 0.2},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"history: {report['runs']} runs of a 20-step pipeline in {work}")
        print(f"record one run (manifest+commit+ref): median {report['record_run_ms_median']:.2f} ms "
              f"(p90 {report['record_run_ms_p90']:.2f} ms)  target <= 5 ms")
        print(f"fresh process, import + newest 50 + one manifest: "
              f"{report['list50_and_manifest_fresh_process_s'] * 1000:.0f} ms  target <= 200 ms")
        d = report["downstream_across_runs_s"]
        print(f"downstream lineage across runs ({report['downstream_artifacts']} artifacts): "
              f"{d['median_warm'] * 1000:.0f} ms (first query, building the index: "
              f"{d['first_query_builds_index'] * 1000:.0f} ms)  target <= 200 ms")
        print(f"upstream lineage: {report['upstream_s'] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
